package testenv

import (
	"flag"
	"testing"
)

// TestIOParallel: IOParallel raises -test.parallel only when the command line did not set it.
func TestIOParallel(t *testing.T) {
	f := flag.Lookup("test.parallel")
	if f == nil {
		t.Fatal("no -test.parallel flag")
	}
	was := f.Value.String()
	t.Cleanup(func() { _ = flag.Set("test.parallel", was) })

	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	IOParallel(7)
	got := f.Value.String()
	if set {
		if got != was {
			t.Errorf("-parallel %s given on the command line, IOParallel changed it to %s", was, got)
		}
		return
	}
	if got != "7" {
		t.Errorf("-test.parallel = %s after IOParallel(7), want 7", got)
	}
}
