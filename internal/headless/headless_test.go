package headless

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestOptionsExtendTheDefaults: the options are chromedp's defaults and ours after them, and the defaults'
// backing array is never written (two calls must not share or change it).
func TestOptionsExtendTheDefaults(t *testing.T) {
	n := len(chromedp.DefaultExecAllocatorOptions)
	a, b := Options("/a", "/p1", 10, 20), Options("/b", "/p2", 30, 40)
	if len(a) != n+10 || len(b) != n+10 {
		t.Fatalf("%d and %d options, want the %d defaults and 10 more", len(a), len(b), n)
	}
	if &a[n] == &b[n] {
		t.Fatal("two calls share one backing array: the second overwrote the first's options")
	}
}
