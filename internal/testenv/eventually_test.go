package testenv

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fatalTB records Fatalf and stops its goroutine there, as testing.T does.
type fatalTB struct {
	testing.TB
	failed string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventually(t *testing.T) {
	cases := []struct {
		name     string
		metAfter int // calls of cond before it returns ""; -1: never
		within   time.Duration
		failed   string
	}{
		// A condition met within the deadline passes however slow the machine: the deadline is far away.
		{"met at once", 0, time.Minute, ""},
		{"met after polls", 3, time.Minute, ""},
		{"never met", -1, 30 * time.Millisecond, "not met within 30ms: still 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := &fatalTB{TB: t}
			calls := 0
			done := make(chan struct{})
			go func() {
				defer close(done)
				Eventually(tb, c.within, time.Millisecond, func() string {
					calls++
					if c.metAfter >= 0 && calls > c.metAfter {
						return ""
					}
					return "still 1"
				})
			}()
			<-done
			require.Equal(t, c.failed, tb.failed)
			if c.metAfter >= 0 {
				require.Equal(t, c.metAfter+1, calls)
			}
		})
	}
}
