package testenv

import (
	"fmt"
	"os"
	"os/exec"
)

// StartDetached starts bin with args and extra environment variables, like StartProcess, for a process that
// outlives the test that starts it: a server the tests of a package share. Nothing stops it but its owner
// (usually TestMain, after the tests), with Stop or Kill.
func StartDetached(bin string, env []string, args ...string) (*Process, error) {
	p := &Process{Out: &Buffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	p.Cmd.Env = append(os.Environ(), env...)
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s %v: %w", bin, args, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	return p, nil
}
