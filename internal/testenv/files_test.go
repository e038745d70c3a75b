package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFilesContaining(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "db"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "db", "x.db-wal"), []byte("..Le Van Cuong..0912"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "clip.json"), []byte(`{"camera":"cam-1"}`), 0o600))
	cases := []struct {
		name  string
		dir   string
		words []string
		want  []string
	}{
		{"two words in one file", dir, []string{"Le Van Cuong", "0912", "absent"},
			[]string{filepath.Join("db", "x.db-wal") + " has Le Van Cuong", filepath.Join("db", "x.db-wal") + " has 0912"}},
		{"none", dir, []string{"Tran"}, nil},
		{"missing dir", filepath.Join(dir, "nope"), []string{"cam"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, FilesContaining(t, c.dir, c.words...))
		})
	}
}
