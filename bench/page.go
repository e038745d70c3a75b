package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"citywatch/internal/headless"
)

// tileProbe runs in every document before its own scripts: it records when the first sensor tile shows a
// value (the frame after the DOM gained it, so the figure includes layout, not paint).
const tileProbe = `(() => {
  const sel = ".sensor-tile .values dd[data-metric]";
  const seen = () => {
    if (window.__cwTile || !document.querySelector(sel)) return false;
    window.__cwTile = -1;
    requestAnimationFrame(() => { window.__cwTile = performance.now(); });
    return true;
  };
  new MutationObserver((_, o) => { if (seen()) o.disconnect(); }).observe(document, { childList: true, subtree: true });
})();`

// fcpExpr is the first-contentful-paint time in ms since navigation start, or -1 while there is none.
const fcpExpr = `(performance.getEntriesByName("first-contentful-paint")[0] || {startTime: -1}).startTime`

// pageTimes are the medians of the page loads, in ms since navigation start.
type pageTimes struct {
	siteFCP, siteTile, loginFCP float64
	loads                       int
	tiles                       int
}

// chromiumPath finds the browser the e2e tests use.
func chromiumPath() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return "", errors.New("chromium not installed (scripts/install-test-deps.sh installs it)")
}

// measurePage signs in through /login in a fresh headless chromium, then loads the site page loads times
// (each from about:blank, HTTP cache disabled: every load fetches everything, like a first visit) and the
// bare /login page as often, and returns the medians.
func measurePage(base, user, password string, loads int) (pageTimes, error) {
	res := pageTimes{loads: loads}
	ctx, closeBrowser, err := signedInChromium(base, user, password, tileProbe, 1280, 900)
	if err != nil {
		return res, err
	}
	defer closeBrowser()
	var siteFCP, siteTile, loginFCP []float64
	for i := 0; i < loads; i++ {
		if err := within(ctx, 30*time.Second, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/#/site/"+uiSite)); err != nil {
			return res, fmt.Errorf("site page: %w", err)
		}
		fcp, err := waitJS[float64](ctx, 60*time.Second, fcpExpr)
		if err != nil {
			return res, fmt.Errorf("site page first-contentful-paint: %w", err)
		}
		tile, err := waitJS[float64](ctx, 120*time.Second, `window.__cwTile > 0 ? window.__cwTile : -1`)
		if err != nil {
			return res, fmt.Errorf("site page: no sensor tile with a value: %w", err)
		}
		if n, err := waitJS[float64](ctx, 10*time.Second, `document.querySelectorAll(".sensor-tile").length || -1`); err == nil {
			res.tiles = int(n)
		}
		siteFCP, siteTile = append(siteFCP, fcp), append(siteTile, tile)
	}
	for i := 0; i < loads; i++ {
		if err := within(ctx, 30*time.Second, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/login")); err != nil {
			return res, fmt.Errorf("login page: %w", err)
		}
		fcp, err := waitJS[float64](ctx, 60*time.Second, fcpExpr)
		if err != nil {
			return res, fmt.Errorf("login page first-contentful-paint: %w", err)
		}
		loginFCP = append(loginFCP, fcp)
	}
	res.siteFCP, res.siteTile, res.loginFCP = median(siteFCP), median(siteTile), median(loginFCP)
	return res, nil
}

// signedInChromium starts a fresh headless chromium (its own profile, a window of w×h, HTTP cache disabled,
// probe evaluated before every document's own scripts) and signs in through /login as user. close ends the
// browser and removes its profile.
func signedInChromium(base, user, password, probe string, w, h int) (ctx context.Context, close func(), err error) {
	bin, err := chromiumPath()
	if err != nil {
		return nil, nil, err
	}
	profile, err := os.MkdirTemp("", "citywatch-bench-chromium-")
	if err != nil {
		return nil, nil, err
	}
	opts := headless.Options(bin, profile, w, h)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	close = func() {
		cancelCtx()
		cancelAlloc()
		os.RemoveAll(profile)
	}
	// The first action starts the browser; it must not run under a timeout (that would end the browser).
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: probe}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
		return err
	})); err != nil {
		close()
		return nil, nil, fmt.Errorf("start chromium: %w", err)
	}
	if err := within(ctx, 60*time.Second, chromedp.Navigate(base+"/login?next=%2F"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login button[type=submit]"))); err != nil {
		close()
		return nil, nil, fmt.Errorf("sign in: %w", err)
	}
	if _, err := waitJS[bool](ctx, 60*time.Second, `location.pathname === "/" && !!document.querySelector("#who") && document.querySelector("#who").textContent.length > 0`); err != nil {
		close()
		return nil, nil, fmt.Errorf("sign in: the dashboard did not show the user: %w", err)
	}
	return ctx, close, nil
}

func within(ctx context.Context, d time.Duration, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// waitJS polls expr until it is truthy and not -1, and returns its value. Evaluation errors (the page
// navigating under the check) count as "not yet".
func waitJS[T comparable](ctx context.Context, d time.Duration, expr string) (T, error) {
	deadline := time.Now().Add(d)
	var zero, notYet T
	if v, ok := any(float64(-1)).(T); ok {
		notYet = v
	}
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := chromedp.Run(cctx, chromedp.Evaluate[T](expr))
		cancel()
		if err == nil && v != zero && v != notYet {
			return v, nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			return zero, fmt.Errorf("%s not ready within %s (last error %v)", expr, d, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
