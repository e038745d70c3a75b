package browser_test

import (
	"math"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestCameraWallLayoutAndFullscreen: the wall lays its tiles out by count, about square (n cameras in
// ⌈√n⌉ columns at desktop size, one column on a phone), and its fullscreen button puts the wall, not the page,
// in fullscreen and, shown there as "Exit fullscreen", takes it out again (a wall screen may have no Esc key).
func TestCameraWallLayoutAndFullscreen(t *testing.T) {
	_, b := newSharedAdmin(t)
	b.resize(desktop)
	b.open("#/wall")
	b.waitJS(30*time.Second, `document.querySelectorAll(".camera-wall .camera-tile").length >= 7`)
	n := eval[float64](b, `document.querySelectorAll(".camera-wall .camera-tile").length`)
	cols := eval[float64](b, `new Set([...document.querySelectorAll(".camera-wall .camera-tile")].map((e) => Math.round(e.getBoundingClientRect().left))).size`)
	if want := math.Ceil(math.Sqrt(n)); cols != want {
		t.Errorf("%v cameras in %v columns, want %v", n, cols, want)
	}
	b.do(10*time.Second, chromedp.Click(chromedp.CSS(".wall-head button")))
	b.waitJS(10*time.Second, `document.fullscreenElement?.classList.contains("wall") && document.querySelector(".wall-head button").textContent === "Exit fullscreen"`)
	// In fullscreen the button is still there (the wall's head goes with it) and takes the wall out again.
	b.do(10*time.Second, chromedp.Click(chromedp.CSS(".wall-head button")))
	b.waitJS(10*time.Second, `document.fullscreenElement === null`)

	b.resize(phone)
	defer b.resize(desktop)
	b.waitJS(10*time.Second, `new Set([...document.querySelectorAll(".camera-wall .camera-tile")].map((e) => Math.round(e.getBoundingClientRect().left))).size === 1`)
}
