package diskqueue

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// DeadLetter appends records a receiver refused for good (HTTP 400 and the like) to a bounded text file,
// rotated once to <path>.1 (replacing the previous one). Every forwarder keeps one next to its queue, so
// refused data is never lost silently and can be fixed and replayed with the receiver's own tools. Each line
// is preceded by a comment "# <RFC 3339 time> <HTTP status> <server message>".
type DeadLetter struct {
	path string
	max  int64

	mu sync.Mutex
}

// NewDeadLetter returns a DeadLetter writing to path, rotated when it would exceed maxBytes.
func NewDeadLetter(path string, maxBytes int64) *DeadLetter {
	return &DeadLetter{path: path, max: maxBytes}
}

// Path is the file written to.
func (d *DeadLetter) Path() string { return d.path }

// Write appends lines, each preceded by the comment naming now, status and msg, and fsyncs the file.
func (d *DeadLetter) Write(now time.Time, status int, msg string, lines []string) error {
	var b strings.Builder
	comment := fmt.Sprintf("# %s %d %s\n", now.UTC().Format(time.RFC3339), status, OneLine(msg))
	for _, l := range lines {
		b.WriteString(comment)
		b.WriteString(l)
		b.WriteByte('\n')
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if fi, err := os.Stat(d.path); err == nil && fi.Size() > 0 && fi.Size()+int64(b.Len()) > d.max {
		if err := os.Rename(d.path, d.path+".1"); err != nil {
			return fmt.Errorf("rotate dead-letter file: %w", err)
		}
	}
	f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	_, werr := f.WriteString(b.String())
	serr := f.Sync()
	cerr := f.Close()
	for _, err := range []error{werr, serr, cerr} {
		if err != nil {
			return fmt.Errorf("write dead-letter file: %w", err)
		}
	}
	return nil
}

// OneLine folds a server message onto one line (whitespace runs become one space) and bounds it to 2000
// bytes, for logs and dead-letter comments.
func OneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}
