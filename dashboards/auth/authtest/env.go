package authtest

import (
	"database/sql"
	"path/filepath"
	"testing"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
)

// NewAuth is an Auth over a fresh metadata database with its audit log, all closed when the test ends, for
// tests of what sits behind access control. cfg.DataDir defaults to a temporary directory.
func NewAuth(t testing.TB, cfg auth.Config) (*auth.Auth, *audit.Log, *sql.DB) {
	t.Helper()
	db, err := auth.OpenDB(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	lg, err := audit.New(db, audit.Config{}, audit.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	a, err := auth.New(cfg, auth.Deps{DB: db, Audit: lg, OnInitialAdmin: func(string, string) {}})
	if err != nil {
		t.Fatal(err)
	}
	return a, lg, db
}
