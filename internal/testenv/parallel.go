package testenv

import (
	"flag"
	"strconv"
)

// IOParallel sets how many of a package's parallel tests run at once (-parallel) to n, for a package whose
// tests mostly wait on real I/O — streams at a camera's pace, a server's timers — rather than use the CPU:
// -parallel defaults to GOMAXPROCS, which on a two-core machine leaves such a package waiting out its tests
// two at a time. A -parallel given on the command line wins. Call it from TestMain after flag.Parse.
func IOParallel(n int) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && flag.Lookup("test.parallel") != nil {
		_ = flag.Set("test.parallel", strconv.Itoa(n)) // the flag is an int: a decimal always parses
	}
}
