package tsdb

import (
	"fmt"

	"citywatch/internal/diskprobe"
)

// Ready reports whether the DB can take writes now: it is open, and its directory (where the write-ahead log
// grows) takes a new durable write of one page. A full or read-only disk is an error, which /readyz reports;
// each call writes and fsyncs, so callers cache the result.
func (d *DB) Ready() error {
	d.closeMu.RLock()
	defer d.closeMu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	if err := diskprobe.Write(d.cfg.Dir); err != nil {
		return fmt.Errorf("store/tsdb: %w", err)
	}
	return nil
}
