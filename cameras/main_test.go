package cameras

import (
	"flag"
	"os"
	"testing"

	"citywatch/internal/testenv"
)

// ioParallel is how many of the package's parallel tests run at once. The monitor tests spend their time
// waiting on real RTSP streams at a camera's pace (a fault shows only after frames stop or go bad), using a
// few per cent of a core each, so they wait together: TestNoGoroutineLeak, which counts goroutines, stays
// sequential and so runs before any of them starts.
const ioParallel = 4

func TestMain(m *testing.M) {
	flag.Parse()
	testenv.IOParallel(ioParallel)
	os.Exit(m.Run())
}
