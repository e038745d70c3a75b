package sqlitedb

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOpenOddPath: a data directory whose name holds URI characters still opens the file it names.
func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "edge #1?x=%41")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "citywatch.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not where the path says: %v", err)
	}
}
