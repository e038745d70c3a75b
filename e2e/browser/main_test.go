package browser_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"citywatch/internal/headless"
	"citywatch/internal/testenv"
)

// The package's tests share two things that cost seconds each and hold no state between tests: the citywatch
// binary (built once, on first use) and one chromium process, in which every browser of every test is a
// fresh browser context (its own cookies, storage and cache, as a new incognito profile) with its own tab.

// shared holds what TestMain cleans up after the tests.
var shared struct {
	dir string // temporary directory for the chromium profile

	buildOnce sync.Once
	bin       string
	buildErr  error

	chromeMu     sync.Mutex
	chromeCtx    context.Context // the first tab of the shared chromium; nil until a test needs it
	chromeCancel func()
}

// ioParallel is how many of the package's tests run at a time (-parallel, unless the command line sets it). Most
// of a browser test's time is waiting on the demo's real-time schedule (a fever, a round missed, a camera's
// outage, a chart's refresh period) or on a page's live stream, at a few per cent of a core: at GOMAXPROCS (two
// on the machines we measure on) the package spent most of its wall time with both slots waiting, and the shared
// demo burned CPU all along. Own demos stay at most ownDemos at a time (startDemo), whatever this is.
const ioParallel = 4

// TestMain runs the tests, then stops the shared chromium and removes its profile.
func TestMain(m *testing.M) {
	flag.Parse()
	testenv.IOParallel(ioParallel)
	dir, err := os.MkdirTemp("", "citywatch-browser-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared.dir = dir
	code := m.Run()
	stopSharedDemo()
	shared.chromeMu.Lock()
	if shared.chromeCancel != nil {
		shared.chromeCancel()
	}
	shared.chromeMu.Unlock()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildCitywatch returns the citywatch binary, built once for the package on first use, without -race (see
// "Race builds of the end-to-end binaries" in docs/contributing.md). testenv.BuildCitywatch keeps it at a
// fixed path, so a run where nothing changed does not even link. Tests only run it, never change it.
func buildCitywatch(t *testing.T) string {
	t.Helper()
	shared.buildOnce.Do(func() { shared.bin, shared.buildErr = testenv.BuildCitywatch(false) })
	if shared.buildErr != nil {
		t.Fatal(shared.buildErr)
	}
	return shared.bin
}

// sharedChromium returns the context of the package's one chromium, starting it on first use. A child context
// made with chromedp.WithNewBrowserContext is a new, isolated browser on it.
func sharedChromium(t *testing.T, path string) context.Context {
	t.Helper()
	shared.chromeMu.Lock()
	defer shared.chromeMu.Unlock()
	if shared.chromeCtx != nil {
		select {
		case <-shared.chromeCtx.Done(): // chromium died (a test's failure says why): start a new one
			shared.chromeCancel()
			shared.chromeCtx, shared.chromeCancel = nil, nil
		default:
			return shared.chromeCtx
		}
	}
	profile, err := os.MkdirTemp(shared.dir, "chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := headless.Options(path, profile, 1280, 900)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	// The first action starts the browser; it must not run under a timeout (that would end the browser).
	if err := chromedp.Do(ctx); err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	shared.chromeCtx = ctx
	shared.chromeCancel = func() {
		cancelCtx()
		cancelAlloc()
	}
	return ctx
}
