package jsonhttp

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, http.StatusConflict, map[string]any{"error": "<a> & b", "detail": nil})
	if rec.Code != http.StatusConflict {
		t.Errorf("status %d, want 409", rec.Code)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got, want := rec.Body.String(), "{\"detail\":null,\"error\":\"<a> & b\"}\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
}
