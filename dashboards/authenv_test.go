package dashboards

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
)

// newTestAuth is an Auth over a fresh metadata database with its audit log, all closed when the test ends.
// cfg.DataDir defaults to a temporary directory.
func newTestAuth(t *testing.T, cfg auth.Config) (*auth.Auth, *audit.Log, *sql.DB) {
	t.Helper()
	db, err := auth.OpenDB(filepath.Join(t.TempDir(), "meta.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	lg, err := audit.New(db, audit.Config{}, audit.Deps{})
	require.NoError(t, err)
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	a, err := auth.New(cfg, auth.Deps{DB: db, Audit: lg, OnInitialAdmin: func(string, string) {}})
	require.NoError(t, err)
	return a, lg, db
}
