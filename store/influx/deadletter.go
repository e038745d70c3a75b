package influx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DeadLetterFile is the name of the dead-letter file in Config.QueueDir. It is line protocol: each refused
// line is preceded by a comment "# <RFC 3339 time> <HTTP status> <server message>", so the file can be
// fixed and replayed with any line-protocol tool.
const DeadLetterFile = "dead-letter.lp"

// deadLetter appends refused lines to a bounded file, rotated once to <name>.1.
type deadLetter struct {
	path string
	max  int64

	mu sync.Mutex
}

func (d *deadLetter) write(now time.Time, status int, msg string, lines []string) error {
	var b strings.Builder
	comment := fmt.Sprintf("# %s %d %s\n", now.UTC().Format(time.RFC3339), status, oneLine(msg))
	for _, l := range lines {
		b.WriteString(comment)
		b.WriteString(l)
		b.WriteByte('\n')
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if fi, err := os.Stat(d.path); err == nil && fi.Size() > 0 && fi.Size()+int64(b.Len()) > d.max {
		if err := os.Rename(d.path, d.path+".1"); err != nil {
			return fmt.Errorf("influx: rotate dead-letter file: %w", err)
		}
	}
	f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("influx: dead-letter file: %w", err)
	}
	_, werr := f.WriteString(b.String())
	serr := f.Sync()
	cerr := f.Close()
	for _, err := range []error{werr, serr, cerr} {
		if err != nil {
			return fmt.Errorf("influx: write dead-letter file: %w", err)
		}
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}

func newDeadLetter(dir string, max int64) *deadLetter {
	return &deadLetter{path: filepath.Join(dir, DeadLetterFile), max: max}
}
