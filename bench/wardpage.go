package main

import (
	"fmt"
	"time"

	"github.com/chromedp/chromedp"
)

// seenProbe runs in every document before its own scripts: for each selector it records when the DOM first
// holds it (the frame after, so the figure includes layout) in window.__cwSeen[selector], ms since navigation.
const seenProbe = `(() => {
  const sels = %q.split("|");
  window.__cwSeen = {};
  const check = () => {
    for (const s of sels) {
      if (window.__cwSeen[s] || !document.querySelector(s)) continue;
      window.__cwSeen[s] = -1;
      requestAnimationFrame(() => { window.__cwSeen[s] = performance.now(); });
    }
    return sels.every((s) => window.__cwSeen[s]);
  };
  new MutationObserver((_, o) => { if (check()) o.disconnect(); }).observe(document, { childList: true, subtree: true });
})();`

// The ward page's parts, as the bench waits for them: a room card of the ward view, and an occupant's row of a
// round table (the round view); the site page's first sensor tile with a value.
const (
	seenWardRoom = ".ward-room[data-room]"
	seenRoundRow = "details[data-round] tr[data-case]"
	seenSiteTile = ".sensor-tile .values dd[data-metric]"
)

// seenWardAll is the last room card of the 500-room site (the first cards are drawn before the first paint, the rest a task later).
var seenWardAll = fmt.Sprintf(".ward-rooms > .ward-room:nth-child(%d)", wardBenchRooms)

var seenSelectors = seenWardRoom + "|" + seenWardAll + "|" + seenRoundRow + "|" + seenSiteTile

// wardPageTimes are the medians of the page loads, in ms since navigation start.
type wardPageTimes struct {
	wardFCP, wardRooms, wardAll, wardRounds float64
	siteFCP, siteTile                       float64
	rooms, rows, tiles                      int
}

// wardPageRows adds the browser rows of the ward: first-contentful-paint of the ward page of the 500-room site
// and when its room cards (the ward view) and its round table rows (the round view) show, against the site
// page of the same site (its 500 wearables as sensor tiles), in one headless chromium, cache off.
func wardPageRows(add func(row), base, user, password string, loads int) {
	const what = "ward page in headless chromium"
	if user == "" {
		failed(add, what, fmt.Errorf("no admin login (the data directory was not new)"))
		return
	}
	p, err := measureWardPages(base, user, password, loads)
	if err != nil {
		failed(add, what, err)
		return
	}
	site := fmt.Sprintf("the site page of the same site (%d sensor tiles)", p.tiles)
	add(row{fmt.Sprintf("ward page first-contentful-paint, %d-room site (#/ward/%s; median of %d loads, cache off)", wardBenchRooms, wardBenchSite, loads),
		fmt.Sprintf("%.0f ms", p.wardFCP), fmt.Sprintf("%.0f ms (%s)", p.siteFCP, site), ratio(p.wardFCP, p.siteFCP), ""})
	add(row{fmt.Sprintf("ward view: navigation → room cards shown (%d cards; median)", p.rooms),
		fmt.Sprintf("%.0f ms", p.wardRooms), fmt.Sprintf("%.0f ms (site page: first sensor tile with a value)", p.siteTile),
		ratio(p.wardRooms, p.siteTile), ""})
	add(row{fmt.Sprintf("ward view: navigation → all %d room cards shown (%d before the first paint, the rest in the next task; median)", wardBenchRooms, 60),
		fmt.Sprintf("%.0f ms", p.wardAll), fmt.Sprintf("%.0f ms (site page: first sensor tile with a value)", p.siteTile),
		ratio(p.wardAll, p.siteTile), ""})
	add(row{fmt.Sprintf("round view: navigation → round table rows shown (%d rows, the day's rounds; median)", p.rows),
		fmt.Sprintf("%.0f ms", p.wardRounds), fmt.Sprintf("%.0f ms (site page: first sensor tile with a value)", p.siteTile),
		ratio(p.wardRounds, p.siteTile), ""})
}

// measureWardPages signs in through /login in a fresh headless chromium and loads the ward page and the site
// page of wardBenchSite loads times each (from about:blank, HTTP cache disabled, like a first visit).
func measureWardPages(base, user, password string, loads int) (wardPageTimes, error) {
	var res wardPageTimes
	ctx, closeBrowser, err := signedInChromium(base, user, password, fmt.Sprintf(seenProbe, seenSelectors), 1280, 900)
	if err != nil {
		return res, err
	}
	defer closeBrowser()
	seen := func(sel string) string {
		return fmt.Sprintf(`(window.__cwSeen && window.__cwSeen[%q] > 0) ? window.__cwSeen[%q] : -1`, sel, sel)
	}
	count := func(sel string) int {
		n, _ := waitJS[float64](ctx, 10*time.Second, fmt.Sprintf(`document.querySelectorAll(%q).length || -1`, sel))
		return int(n)
	}
	var wardFCP, wardRooms, wardAll, wardRounds, siteFCP, siteTile []float64
	for range loads {
		if err := within(ctx, 30*time.Second, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/#/ward/"+wardBenchSite)); err != nil {
			return res, fmt.Errorf("ward page: %w", err)
		}
		fcp, err := waitJS[float64](ctx, 60*time.Second, fcpExpr)
		if err != nil {
			return res, fmt.Errorf("ward page first-contentful-paint: %w", err)
		}
		rooms, err := waitJS[float64](ctx, 120*time.Second, seen(seenWardRoom))
		if err != nil {
			return res, fmt.Errorf("ward page: no room card: %w", err)
		}
		all, err := waitJS[float64](ctx, 120*time.Second, seen(seenWardAll))
		if err != nil {
			return res, fmt.Errorf("ward page: not every room card: %w", err)
		}
		rounds, err := waitJS[float64](ctx, 120*time.Second, seen(seenRoundRow))
		if err != nil {
			return res, fmt.Errorf("ward page: no round table row: %w", err)
		}
		res.rooms, res.rows = count(seenWardRoom), count(seenRoundRow)
		wardFCP, wardRooms, wardRounds = append(wardFCP, fcp), append(wardRooms, rooms), append(wardRounds, rounds)
		wardAll = append(wardAll, all)
	}
	for range loads {
		if err := within(ctx, 30*time.Second, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/#/site/"+wardBenchSite)); err != nil {
			return res, fmt.Errorf("site page: %w", err)
		}
		fcp, err := waitJS[float64](ctx, 60*time.Second, fcpExpr)
		if err != nil {
			return res, fmt.Errorf("site page first-contentful-paint: %w", err)
		}
		tile, err := waitJS[float64](ctx, 120*time.Second, seen(seenSiteTile))
		if err != nil {
			return res, fmt.Errorf("site page: no sensor tile with a value: %w", err)
		}
		res.tiles = count(".sensor-tile")
		siteFCP, siteTile = append(siteFCP, fcp), append(siteTile, tile)
	}
	res.wardFCP, res.wardRooms, res.wardAll, res.wardRounds = median(wardFCP), median(wardRooms), median(wardAll), median(wardRounds)
	res.siteFCP, res.siteTile = median(siteFCP), median(siteTile)
	return res, nil
}
