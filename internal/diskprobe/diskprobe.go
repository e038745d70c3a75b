// Package diskprobe tells whether a directory can take writes now, by writing to it: free-space figures say
// nothing about a read-only remount, a quota or a dead disk, and a probe that rewrote one file in place could
// succeed on a full disk (the blocks are already allocated).
package diskprobe

import (
	"errors"
	"fmt"
	"os"
)

// Size is how much a probe writes: one page, so a disk that cannot allocate one more page of a WAL or a
// queue segment fails the probe.
const Size = 4096

// filePrefix names the probe files; a probe removes its file, and leaves none behind unless the process dies
// mid-probe (then the next probe of a restarted process is unaffected: each probe uses a new file).
const filePrefix = ".citywatch-write-probe-"

// Write creates a new file in dir, writes Size bytes, fsyncs and removes it. It returns an error naming dir
// and the failing step (create, write, sync) when the directory cannot take a durable write.
func Write(dir string) error {
	f, err := os.CreateTemp(dir, filePrefix+"*")
	if err != nil {
		return fmt.Errorf("write probe in %s: create: %w", dir, unwrapPath(err))
	}
	name := f.Name()
	_, werr := f.Write(make([]byte, Size))
	var serr error
	if werr == nil {
		serr = f.Sync()
	}
	cerr := f.Close()
	rerr := os.Remove(name)
	switch {
	case werr != nil:
		return fmt.Errorf("write probe in %s: write: %w", dir, unwrapPath(werr))
	case serr != nil:
		return fmt.Errorf("write probe in %s: sync: %w", dir, unwrapPath(serr))
	case cerr != nil:
		return fmt.Errorf("write probe in %s: close: %w", dir, unwrapPath(cerr))
	case rerr != nil:
		return fmt.Errorf("write probe in %s: remove: %w", dir, unwrapPath(rerr))
	}
	return nil
}

// unwrapPath drops the *os.PathError's random file name, keeping the cause (ENOSPC, EROFS, ...), so the
// message is the same from one probe to the next.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
