package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"citywatch/dashboards/audit"
)

// TestConcurrentLogins logs in from many clients at once: SQLite writers (sessions, audit) must wait for each
// other, never fail with "database is locked".
func TestConcurrentLogins(t *testing.T) {
	e := newEnv(t, nil)
	const n = 16
	body, _ := json.Marshal(map[string]string{"username": "admin", "password": e.adminPW})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.Post(e.srv.URL+"/api/login", "application/json", strings.NewReader(string(body)))
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Errorf("login: %d %s", res.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	recs, err := e.audit.Query(context.Background(), audit.Filter{Action: audit.LoginSuccess, Limit: 100})
	assert.NoError(t, err)
	assert.Len(t, recs, n)
}
