package influx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRedirectDoesNotCarryToken: an InfluxDB endpoint (or whatever answers at its address) redirecting the
// write to another port of the same host. Go's client keeps Authorization there (it only drops it for another
// domain) and follows a 307 whenever it can replay the body (uncompressed writes), so the token and the
// samples would leave for a service nobody configured. The writer does not follow the redirect: the other
// server gets nothing, and the samples stay queued with the reason in the status.
func TestRedirectDoesNotCarryToken(t *testing.T) {
	t.Parallel()
	for _, gzip := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "gzip"}[gzip], func(t *testing.T) {
			var mu sync.Mutex
			var stolen []string
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				stolen = append(stolen, r.Header.Get("Authorization"))
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(other.Close)
			f := &fakeInflux{respond: func(_ int, _ []string, w http.ResponseWriter) bool {
				w.Header().Set("Location", other.URL+"/api/v2/write")
				w.WriteHeader(http.StatusTemporaryRedirect)
				return true
			}}
			w, _, _ := fakeWriter(t, f, func(c *Config) { c.Gzip = gzip })
			require.NoError(t, w.Append(context.Background(), seq("m", 0, 3, 1700000000000)))
			require.Eventually(t, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(stolen) > 0 || len(f.requestTimes()) >= 2
			}, eventually, poll)

			mu.Lock()
			for _, auth := range stolen {
				require.NotContains(t, auth, secretToken, "the token went to the redirect target")
			}
			require.Empty(t, stolen, "the samples went to the redirect target")
			mu.Unlock()
			require.Eventually(t, func() bool { return !w.Status().Up && w.Status().LastError != "" }, eventually, poll)
			// Refused by the writer's redirect policy (the body, compressed or not, is one buffer Go could
			// replay). The reason is in the status.
			require.Regexp(t, `redirect|307`, w.Status().LastError)
			require.EqualValues(t, 3, w.Status().QueueSamples, "the samples stay queued")
		})
	}
}
