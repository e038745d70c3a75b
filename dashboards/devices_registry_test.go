package dashboards

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
	"citywatch/ingest"
)

// TestDevicesRegistryStatusAllSitesOnly: /api/devices reports the registry's bound, policy and evictions to
// callers who see every site; they count every site's devices, so a site-limited caller gets its devices only.
func TestDevicesRegistryStatusAllSitesOnly(t *testing.T) {
	s, a, _ := newAccessServer(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		sites  []string
		wantN  int
		wantOK bool
	}{
		{"every site", []string{"*"}, 2, true},
		{"one site", []string{"site-a"}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := a.IssueToken(ctx, "reg-"+tc.sites[0], auth.RoleViewer, tc.sites, false, time.Hour)
			require.NoError(t, err)
			req := httptest.NewRequest("GET", "/api/devices", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, req)
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			var body struct {
				Devices  []ingest.Device        `json:"devices"`
				Registry *ingest.RegistryStatus `json:"registry"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			require.Len(t, body.Devices, tc.wantN)
			if !tc.wantOK {
				require.Nil(t, body.Registry)
				return
			}
			require.NotNil(t, body.Registry)
			require.Equal(t, uint64(5), body.Registry.Evicted)
			require.Equal(t, ingest.RegistryPolicy, body.Registry.Policy)
		})
	}
}
