package auth_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
)

// burstCases are parallel bursts of wrong-password logins from one fresh address: the limit is what a
// sequence of attempts would be allowed (the free attempts plus the one whose failure starts the lockout).
var burstCases = []struct {
	name    string
	cfg     func(*auth.Config)
	user    func(i int) string
	maxChks int
}{
	{"one user", func(c *auth.Config) { c.LoginFreeAttempts, c.LoginFreeAttemptsPerIP = 5, 1000 },
		func(int) string { return "admin" }, 6},
	{"one address, many users", func(c *auth.Config) { c.LoginFreeAttempts, c.LoginFreeAttemptsPerIP = 1000, 20 },
		func(i int) string { return fmt.Sprintf("user%d", i) }, 21},
}

// TestLoginParallelBurstIsLimited sends 60 wrong-password logins at once. Password checks are held until every
// request has reached the server, so none can see another's recorded failure first: only reserving attempts
// before hashing keeps the number of checks at the limit.
func TestLoginParallelBurstIsLimited(t *testing.T) {
	const n = 60
	for _, tc := range burstCases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			var arrived, checks atomic.Int64
			gate := make(chan struct{})
			auth.SetCheckHook(e.a, func() {
				checks.Add(1)
				select {
				case <-gate:
				case <-time.After(30 * time.Second):
				}
			})
			inner := e.srv.Config.Handler
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived.Add(1)
				inner.ServeHTTP(w, r)
			}))
			defer srv.Close()
			go func() {
				// Open the gate once every request is in (each check waits at most 30 s for it anyway); a
				// request that failed before arriving must not leave this goroutine polling forever.
				deadline := time.Now().Add(time.Minute)
				for arrived.Load() < n && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				close(gate)
			}()
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body, _ := json.Marshal(map[string]string{"username": tc.user(i), "password": "wrong-password-123"})
					res, err := http.Post(srv.URL+"/api/login", "application/json", strings.NewReader(string(body)))
					if err != nil {
						t.Error(err)
						return
					}
					_ = res.Body.Close()
					codes[i] = res.StatusCode
				}()
			}
			wg.Wait()
			got := map[int]int{}
			for _, c := range codes {
				got[c]++
			}
			require.LessOrEqual(t, checks.Load(), int64(tc.maxChks), "password checks in a burst of %d (codes %v)", n, got)
			assert.Equal(t, int(checks.Load()), got[http.StatusUnauthorized], "every checked attempt failed")
			assert.Equal(t, n-int(checks.Load()), got[http.StatusTooManyRequests], "the rest were throttled")
			assert.Equal(t, float64(checks.Load()), counter(t, e.reg, "citywatch_auth_logins_total", map[string]string{"result": "failure"}))
		})
	}
}
