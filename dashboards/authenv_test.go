package dashboards

import (
	"database/sql"
	"testing"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
	"citywatch/dashboards/auth/authtest"
)

// newTestAuth is an Auth over a fresh metadata database with its audit log, all closed when the test ends.
// cfg.DataDir defaults to a temporary directory.
func newTestAuth(t *testing.T, cfg auth.Config) (*auth.Auth, *audit.Log, *sql.DB) {
	t.Helper()
	return authtest.NewAuth(t, cfg)
}
