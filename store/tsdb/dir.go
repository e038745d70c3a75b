package tsdb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/prometheus/prometheus/tsdb/fileutil"
)

// Sentinel errors matched with errors.Is on what Open returns.
var (
	// ErrDirInUse means another process holds the data directory's lock.
	ErrDirInUse = errors.New("data directory in use")
	// ErrDirNotWritable means the data directory or a file in it cannot be created or written.
	ErrDirNotWritable = errors.New("data directory not writable")
	// ErrNotDirectory means the data directory path, or one of its parents, is not a directory.
	ErrNotDirectory = errors.New("not a directory")
)

// dirError is an Open error with a message written for the operator, matching a sentinel and the cause.
type dirError struct {
	msg      string
	sentinel error
	cause    error
}

func (e *dirError) Error() string   { return e.msg }
func (e *dirError) Unwrap() []error { return []error{e.sentinel, e.cause} }

// prepareDir creates dir if needed and checks that it is a writable directory, so a misconfigured data
// directory fails with a clear message before the TSDB touches it.
func prepareDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return notDirError(dir, dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return dirErr(dir, "create data directory", err)
	}
	f, err := os.CreateTemp(dir, ".citywatch-write-check-*")
	if err != nil {
		// Name the directory, not the random probe file.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = &fs.PathError{Op: "create file in", Path: dir, Err: pe.Err}
		}
		return dirErr(dir, "write to data directory", err)
	}
	name := f.Name()
	cerr := f.Close()
	rerr := os.Remove(name)
	if err := errors.Join(cerr, rerr); err != nil {
		return dirErr(dir, "write to data directory", err)
	}
	return nil
}

// dirLock is the exclusive lock on a data directory: the file "lock" in it, locked with flock(2) as the
// Prometheus TSDB does, so Prometheus tools and other citywatch processes respect it.
type dirLock struct {
	path     string
	releaser fileutil.Releaser
}

func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, "lock")
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	r, _, err := fileutil.Flock(path)
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) {
			return nil, &dirError{
				msg: fmt.Sprintf("store/tsdb: data directory %s is in use by another citywatch process (lock %s); "+
					"stop the other process or configure a different data directory", dir, path),
				sentinel: ErrDirInUse,
				cause:    err,
			}
		}
		return nil, dirErr(dir, "lock data directory", err)
	}
	return &dirLock{path: path, releaser: r}, nil
}

// release unlocks and removes the lock file. It is safe to call twice.
func (l *dirLock) release() error {
	if l.releaser == nil {
		return nil
	}
	err := l.releaser.Release()
	l.releaser = nil
	if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

// openError turns an error of the Prometheus TSDB's Open into an actionable one.
func openError(dir string, err error) error {
	if derr := dirErr(dir, "open TSDB", err); derr != err {
		return derr
	}
	return fmt.Errorf("store/tsdb: open %s: %w", dir, err)
}

// dirErr maps permission, read-only and not-a-directory errors to messages that name the offending path and
// the fix; other errors are wrapped with op. It returns err itself when it has nothing better to say and op
// is "open TSDB", so openError can add its own context.
func dirErr(dir, op string, err error) error {
	path := dir
	var pe *fs.PathError
	if errors.As(err, &pe) {
		path = pe.Path
	} else {
		var le *os.LinkError
		if errors.As(err, &le) {
			path = le.New
		}
	}
	switch {
	case errors.Is(err, fs.ErrPermission):
		if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
			return &dirError{
				msg: fmt.Sprintf("store/tsdb: cannot %s %s: permission denied on %s (cannot create %s in it); "+
					"create the data directory for the user running citywatch (uid %d), e.g. "+
					"sudo mkdir -p %s && sudo chown -R %d %s",
					op, dir, filepath.Dir(path), filepath.Base(path), os.Getuid(), dir, os.Getuid(), dir),
				sentinel: ErrDirNotWritable,
				cause:    err,
			}
		}
		return &dirError{
			msg: fmt.Sprintf("store/tsdb: cannot %s %s: permission denied on %s; make the data directory "+
				"writable by the user running citywatch (uid %d), e.g. sudo chown -R %d %s",
				op, dir, path, os.Getuid(), os.Getuid(), dir),
			sentinel: ErrDirNotWritable,
			cause:    err,
		}
	case errors.Is(err, syscall.EROFS):
		return &dirError{
			msg: fmt.Sprintf("store/tsdb: cannot %s %s: %s is on a read-only file system; "+
				"choose a data directory on a writable volume", op, dir, path),
			sentinel: ErrDirNotWritable,
			cause:    err,
		}
	case errors.Is(err, syscall.ENOTDIR):
		return notDirError(dir, path, err)
	}
	if op == "open TSDB" {
		return err
	}
	return fmt.Errorf("store/tsdb: cannot %s %s: %w", op, dir, err)
}

// notDirError reports the first element of path that exists and is not a directory.
func notDirError(dir, path string, cause error) error {
	culprit := path
	for p := path; ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil {
			if !fi.IsDir() {
				culprit = p
			}
			break
		}
		if parent := filepath.Dir(p); parent == p {
			break
		}
	}
	if cause == nil {
		cause = syscall.ENOTDIR
	}
	return &dirError{
		msg: fmt.Sprintf("store/tsdb: data directory %s is not a directory: %s is a file; "+
			"point the data directory at a directory (or remove the file)", dir, culprit),
		sentinel: ErrNotDirectory,
		cause:    cause,
	}
}
