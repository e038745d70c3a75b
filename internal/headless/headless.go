// Package headless holds the one way citywatch's tests and benchmarks start chromium: headless, without a
// sandbox or GPU, without the background work (networking, component updates, sync) a desktop profile does,
// in a profile directory of its own, at a given window size.
package headless

import "github.com/chromedp/chromedp"

// Options returns chromedp's allocator options for the chromium at bin with its profile in dir and a window of
// w × h CSS pixels.
func Options(bin, dir string, w, h int) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(w, h),
	)
}
