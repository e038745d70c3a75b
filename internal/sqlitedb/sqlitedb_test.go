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

// TestFilePermissions: the database and its -wal and -shm files hold users, sessions and the audit trail, so
// they are FileMode whether Open creates them or finds them wider (citywatch created them 0644 before).
func TestFilePermissions(t *testing.T) {
	for _, existing := range []bool{false, true} {
		t.Run(map[bool]string{false: "created", true: "existing 0644"}[existing], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "citywatch.db")
			if existing {
				db, err := Open(path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(`CREATE TABLE t (x INTEGER)`); err != nil {
					t.Fatal(err)
				}
				// Keep the -wal and -shm files: a process that died without a checkpoint leaves them.
				for _, p := range []string{path, path + "-wal", path + "-shm"} {
					if err := os.Chmod(p, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				defer db.Close()
			}
			db, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS t (x INTEGER); INSERT INTO t VALUES (1)`); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != FileMode {
					t.Errorf("%s: mode %v, want %v", filepath.Base(p), fi.Mode().Perm(), FileMode)
				}
			}
		})
	}
}
