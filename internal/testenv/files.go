package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FilesContaining lists the files under dir whose bytes contain any of words, as "<path relative to dir> has
// <word>", one entry per file and word: the privacy tests' check that a name is gone from every file (a
// database and its WAL included). A dir that does not exist holds nothing.
func FilesContaining(t testing.TB, dir string, words ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				out = append(out, rel+" has "+w)
			}
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("files under %s: %v", dir, err)
	}
	return out
}
