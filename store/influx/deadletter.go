package influx

import (
	"fmt"
	"path/filepath"
	"time"

	"citywatch/store/diskqueue"
)

// DeadLetterFile is the name of the dead-letter file in Config.QueueDir. It is line protocol: each refused
// line is preceded by a comment "# <RFC 3339 time> <HTTP status> <server message>", so the file can be
// fixed and replayed with any line-protocol tool.
const DeadLetterFile = "dead-letter.lp"

// deadLetter is the shared bounded dead-letter file (diskqueue.DeadLetter) holding refused lines.
type deadLetter struct {
	*diskqueue.DeadLetter
	path string
}

func (d *deadLetter) write(now time.Time, status int, msg string, lines []string) error {
	if err := d.Write(now, status, msg, lines); err != nil {
		return fmt.Errorf("influx: %w", err)
	}
	return nil
}

func oneLine(s string) string { return diskqueue.OneLine(s) }

func newDeadLetter(dir string, max int64) *deadLetter {
	p := filepath.Join(dir, DeadLetterFile)
	return &deadLetter{DeadLetter: diskqueue.NewDeadLetter(p, max), path: p}
}
