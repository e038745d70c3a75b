package dashboards

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// limitParamCases are ?limit= values of the alert and delivery lists and what they mean.
var limitParamCases = []struct {
	query    string
	limit    int
	ok       bool
	wantCode int
}{
	{"", 0, true, http.StatusOK},
	{"limit=25", 25, true, http.StatusOK},
	{"limit=0", 0, false, http.StatusBadRequest},
	{"limit=-3", 0, false, http.StatusBadRequest},
	{"limit=ten", 0, false, http.StatusBadRequest},
	{"limit=99999999999999999999", 0, false, http.StatusBadRequest},
}

func TestLimitParam(t *testing.T) {
	for _, tc := range limitParamCases {
		w := httptest.NewRecorder()
		limit, ok := limitParam(w, httptest.NewRequest(http.MethodGet, "/api/alerts?"+tc.query, nil))
		if limit != tc.limit || ok != tc.ok || w.Code != tc.wantCode {
			t.Errorf("%q: got %d, %v, status %d; want %d, %v, status %d", tc.query, limit, ok, w.Code, tc.limit, tc.ok, tc.wantCode)
		}
	}
}
