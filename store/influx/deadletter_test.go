package influx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDeadLetterBoundedAndRotated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := newDeadLetter(dir, 4096)
	now := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	line := "m,edge=e value=1 " + strings.Repeat("1", 40)
	for i := 0; i < 100; i++ {
		require.NoError(t, d.write(now, 400, "partial write:\nfield type conflict", []string{line}))
	}
	cur, err := os.ReadFile(filepath.Join(dir, DeadLetterFile))
	require.NoError(t, err)
	old, err := os.ReadFile(filepath.Join(dir, DeadLetterFile+".1"))
	require.NoError(t, err)
	require.LessOrEqual(t, len(cur), 4096)
	require.LessOrEqual(t, len(old), 4096)
	first := strings.SplitN(string(cur), "\n", 3)
	require.Equal(t, "# 2026-11-27T04:00:00Z 400 partial write: field type conflict", first[0], "the message is kept on one comment line")
	require.Equal(t, line, first[1])
}
