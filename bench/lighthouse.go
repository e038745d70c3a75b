package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
)

// Lighthouse-equivalent figures of the site page, measured in the bench's headless chromium with the
// browser's own performance entries (the figures Lighthouse reads from a trace):
//
//   - FCP: the "first-contentful-paint" paint entry.
//   - LCP: the last "largest-contentful-paint" entry (buffered observer registered before the page's scripts)
//     before the end of the observation.
//   - CLS: "layout-shift" entries without recent input, grouped into session windows as Lighthouse does (a
//     window ends after a 1 s gap or at 5 s); the largest window's sum. The plain sum is reported beside it.
//   - TBT: Σ (duration − 50 ms) of the "longtask" entries between FCP and TTI, each clipped to that span.
//     TTI is found as Lighthouse does, without its network condition: the end of the last long task before
//     the first 5 s without one that begins after FCP and ends after the page is complete (every sensor
//     tile shows a value, every camera tile exists, the load event has fired). If no such quiet window comes
//     within lhCap of the page being complete, TTI is that cap and the row says so.
//   - Code: the transferSize (compressed body + headers, from Resource Timing; the HTTP cache is off, so
//     every load is a first visit) of every JS and CSS file under /ui/ the page fetched up to TTI, lazily
//     loaded modules included.
//
// Two profiles: desktop (1350×940, no throttling) and mobile (412×823 at DPR 1.75, mobile and touch
// emulation, Emulation.setCPUThrottlingRate 4). There is no network throttling: the server is on loopback,
// so the figures are the page's own cost (script, layout, paint), not a radio's.

// lhQuiet and lhCap bound the TTI search (see above).
const (
	lhQuiet = 5 * time.Second
	lhCap   = 20 * time.Second
)

// lhProbe runs in every document before its own scripts and collects the entries.
const lhProbe = `(() => {
  if (window.__lh) return;
  const lh = window.__lh = { fcp: 0, lcp: 0, lcpEl: "", shifts: [], longs: [], done: 0 };
  try { performance.setResourceTimingBufferSize(5000); } catch (e) {}
  const po = (type, fn) => { try { new PerformanceObserver((l) => l.getEntries().forEach(fn)).observe({ type, buffered: true }); } catch (e) {} };
  po("paint", (e) => { if (e.name === "first-contentful-paint") lh.fcp = e.startTime; });
  po("largest-contentful-paint", (e) => {
    lh.lcp = e.renderTime || e.startTime;
    const n = e.element;
    lh.lcpEl = n ? n.tagName.toLowerCase() + (n.className && typeof n.className === "string" ? "." + n.className.trim().split(/\s+/).join(".") : "") + " (" + e.size + " px²)" : e.url;
  });
  po("layout-shift", (e) => {
    if (e.hadRecentInput) return;
    const src = (e.sources || []).map((s) => s.node ? (s.node.nodeName || "").toLowerCase() + (s.node.className && typeof s.node.className === "string" ? "." + s.node.className.trim().split(/\s+/)[0] : "") : "?");
    lh.shifts.push([e.startTime, e.value, src.slice(0, 3).join(" ")]);
  });
  po("longtask", (e) => lh.longs.push([e.startTime, e.duration]));
})();`

// lhComplete is truthy once the page is complete: it returns performance.now() the first time it sees so.
func lhComplete(devices, cams int) string {
	return fmt.Sprintf(`(() => {
  const lh = window.__lh;
  if (!lh || !lh.fcp || document.readyState !== "complete") return -1;
  if (!lh.done) {
    if (document.querySelectorAll(".sensor-tile .values dd[data-metric]").length === 0) return -1;
    if (document.querySelectorAll(".sensor-tile").length < %d || document.querySelectorAll(".camera-tile").length < %d) return -1;
    lh.done = performance.now();
  }
  return lh.done;
})()`, devices, cams)
}

// lhState is what the Go side reads back from the page.
type lhState struct {
	Now    float64      `json:"now"`
	FCP    float64      `json:"fcp"`
	LCP    float64      `json:"lcp"`
	LCPEl  string       `json:"lcpEl"`
	Shifts [][3]any     `json:"shifts"`
	Longs  [][2]float64 `json:"longs"`
	Done   float64      `json:"done"`
	Code   float64      `json:"code"`
	Files  int          `json:"files"`
	Tiles  int          `json:"tiles"`
	Tile   float64      `json:"tile"`
}

const lhStateExpr = `JSON.stringify(Object.assign({}, window.__lh, {
  now: performance.now(),
  code: performance.getEntriesByType("resource").filter((e) => /\/ui\/.*\.(js|css)(\?|$)/.test(e.name)).reduce((s, e) => s + e.transferSize, 0),
  files: performance.getEntriesByType("resource").filter((e) => /\/ui\/.*\.(js|css)(\?|$)/.test(e.name)).length,
  tiles: document.querySelectorAll(".sensor-tile").length,
  tile: window.__cwTile || 0,
}))`

// lhLoad is one load's figures, in ms since navigation start (code in bytes).
type lhLoad struct {
	fcp, lcp, tti, tbt, cls, clsSum, code float64
	tile                                  float64 // the frame after the first sensor tile showed a value (tileProbe)
	files, longTasks                      int
	quiet                                 bool // a 5 s quiet window was found before the cap
	lcpEl, worstShift, longList           string
}

// tti finds Lighthouse's TTI (without the network condition) in the long tasks: the end of the last long
// task before the first quiet window that begins at or after fcp and ends at or after complete.
func tti(longs [][2]float64, fcp, complete, now float64) (float64, bool) {
	end := fcp
	for _, l := range longs {
		if l[0]+l[1] <= fcp {
			continue
		}
		if l[0]-end >= float64(lhQuiet.Milliseconds()) && l[0] >= complete {
			return end, true
		}
		end = max(end, l[0]+l[1])
	}
	if now-end >= float64(lhQuiet.Milliseconds()) && now >= complete {
		return end, true
	}
	return end, false
}

// tbt sums the blocking time of the long tasks, clipped to [from, to].
func tbt(longs [][2]float64, from, to float64) (float64, int) {
	var sum float64
	n := 0
	for _, l := range longs {
		s, e := max(l[0], from), min(l[0]+l[1], to)
		if e-s > 50 {
			sum += e - s - 50
			n++
		}
	}
	return sum, n
}

// cls is the largest session window's sum (gap < 1 s, window ≤ 5 s) and the plain sum, over shifts until
// end, with the largest single shift's sources.
func cls(shifts [][3]any, end float64) (windowMax, sum float64, worst string) {
	var win, winStart, last, worstV float64
	first := true
	for _, s := range shifts {
		at, _ := s[0].(float64)
		v, _ := s[1].(float64)
		if at > end {
			break
		}
		if first || at-last >= 1000 || at-winStart >= 5000 {
			win, winStart = 0, at
		}
		first = false
		win += v
		last = at
		sum += v
		windowMax = max(windowMax, win)
		if v > worstV {
			worstV = v
			worst, _ = s[2].(string)
			worst = fmt.Sprintf("%.3f at %.0f ms: %s", v, at, worst)
		}
	}
	return windowMax, sum, worst
}

// lhProfile is one device profile.
type lhProfile struct {
	name          string
	width, height int64
	scale         float64
	mobile        bool
	cpu           float64
}

var (
	lhDesktop = lhProfile{name: "desktop 1350×940, no throttling", width: 1350, height: 940, scale: 1, cpu: 1}
	lhMobile  = lhProfile{name: "mobile 412×823 (DPR 1.75, touch), CPU throttled 4×", width: 412, height: 823, scale: 1.75, mobile: true, cpu: 4}
)

// lhResult is the median of each figure over the loads of one profile (each figure's own median).
type lhResult struct {
	profile                 lhProfile
	fcp, lcp, tti, tbt, cls float64
	clsSum, code, tile      float64
	files, longTasks, loads int
	quiet                   int // loads in which TTI was found before the cap
	lcpEl, worstShift       string
	loginLCP                float64
}

// measureLighthouse signs in and loads the site page loads times per profile.
func measureLighthouse(base, user, password string, devices, cams, loads int) ([]lhResult, error) {
	ctx, closeBrowser, err := signedInChromium(base, user, password, lhProbe+"\n"+tileProbe, 1350, 940)
	if err != nil {
		return nil, err
	}
	defer closeBrowser()
	var out []lhResult
	for _, p := range []lhProfile{lhDesktop, lhMobile} {
		r, err := lighthouseProfile(ctx, base, p, devices, cams, loads)
		if err != nil {
			return out, fmt.Errorf("%s: %w", p.name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func emulate(p lhProfile) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: p.width, Height: p.height, DeviceScaleFactor: p.scale, Mobile: p.mobile}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, t, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: p.mobile}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: p.cpu})
		return err
	})
}

// cpuRate sets the CPU throttling rate.
func cpuRate(rate float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: rate})
		return err
	})
}

func lighthouseProfile(ctx context.Context, base string, p lhProfile, devices, cams, loads int) (lhResult, error) {
	res := lhResult{profile: p, loads: loads}
	if err := within(ctx, 30*time.Second, emulate(p)); err != nil {
		return res, fmt.Errorf("emulation: %w", err)
	}
	defer within(ctx, 30*time.Second, emulate(lhProfile{cpu: 1})) //nolint:errcheck // best effort: the browser ends next
	var fcp, lcp, ttiV, tbtV, clsV, clsSum, code, files, longs, loginLCP, tile []float64
	for i := 0; i < loads; i++ {
		prof := i == 0 && os.Getenv("CITYWATCH_BENCH_JSPROFILE") != ""
		if prof {
			if err := within(ctx, 10*time.Second, jsProfile(true)); err != nil {
				return res, fmt.Errorf("profiler: %w", err)
			}
		}
		traceDir := os.Getenv("CITYWATCH_BENCH_TRACE")
		only := os.Getenv("CITYWATCH_BENCH_TRACE_PROFILE") // "desktop" or "mobile": trace that profile alone
		trace := i == 0 && traceDir != "" && !prof && (only == "" || strings.HasPrefix(p.name, only))
		if trace {
			if err := within(ctx, 10*time.Second, traceStart()); err != nil {
				return res, fmt.Errorf("trace: %w", err)
			}
		}
		l, err := lighthouseLoad(ctx, base+"/#/site/"+uiSite, devices, cams)
		if err != nil {
			return res, err
		}
		if trace {
			// Unthrottled while the browser writes the trace out: throttled, that takes minutes.
			tctx, cancel := context.WithTimeout(ctx, 600*time.Second)
			err := chromedp.Do(tctx, cpuRate(1))
			if err == nil {
				err = traceStop(tctx, filepath.Join(traceDir, strings.Fields(p.name)[0]+".json"), l.fcp, l.tti, p.cpu)
			}
			if err == nil {
				err = chromedp.Do(tctx, cpuRate(p.cpu))
			}
			cancel()
			if err != nil {
				return res, fmt.Errorf("trace: %w", err)
			}
		}
		if prof {
			if err := within(ctx, 30*time.Second, jsProfile(false)); err != nil {
				return res, fmt.Errorf("profiler: %w", err)
			}
		}
		fmt.Fprintf(os.Stderr, "    %s load %d: long tasks (start+duration ms) %s\n", p.name, i+1, l.longList)
		fmt.Fprintf(os.Stderr, "    %s load %d: FCP %.0f LCP %.0f (%s; first tile with a value %.0f) TTI %.0f (quiet %v) TBT %.0f (%d long tasks) CLS %.3f (sum %.3f; worst %s) code %.1f KiB in %d files\n",
			p.name, i+1, l.fcp, l.lcp, l.lcpEl, l.tile, l.tti, l.quiet, l.tbt, l.longTasks, l.cls, l.clsSum, l.worstShift, l.code/1024, l.files)
		fcp, lcp, ttiV, tbtV = append(fcp, l.fcp), append(lcp, l.lcp), append(ttiV, l.tti), append(tbtV, l.tbt)
		tile = append(tile, l.tile)
		clsV, clsSum, code = append(clsV, l.cls), append(clsSum, l.clsSum), append(code, l.code)
		files, longs = append(files, float64(l.files)), append(longs, float64(l.longTasks))
		if l.quiet {
			res.quiet++
		}
		res.lcpEl, res.worstShift = l.lcpEl, l.worstShift
		// The baseline: the static sign-in page's LCP in the same profile.
		if err := within(ctx, 30*time.Second, chromedp.Navigate("about:blank"), chromedp.Navigate(base+"/login")); err != nil {
			return res, fmt.Errorf("login page: %w", err)
		}
		v, err := waitJS[float64](ctx, 30*time.Second, `document.readyState === "complete" && window.__lh && window.__lh.lcp > 0 ? window.__lh.lcp : -1`)
		if err != nil {
			return res, fmt.Errorf("login page LCP: %w", err)
		}
		loginLCP = append(loginLCP, v)
	}
	res.fcp, res.lcp, res.tti, res.tbt = median(fcp), median(lcp), median(ttiV), median(tbtV)
	res.cls, res.clsSum, res.code = median(clsV), median(clsSum), median(code)
	res.files, res.longTasks = int(median(files)), int(median(longs))
	res.loginLCP = median(loginLCP)
	res.tile = median(tile)
	return res, nil
}

// lighthouseLoad loads url from about:blank and observes it until TTI (or the cap).
func lighthouseLoad(ctx context.Context, url string, devices, cams int) (lhLoad, error) {
	var l lhLoad
	if err := within(ctx, 60*time.Second, chromedp.Navigate("about:blank"), chromedp.Navigate(url)); err != nil {
		return l, fmt.Errorf("site page: %w", err)
	}
	complete, err := waitJS[float64](ctx, 180*time.Second, lhComplete(devices, cams))
	if err != nil {
		return l, fmt.Errorf("site page never complete (%d sensor tiles with values, %d camera tiles): %w", devices, cams, err)
	}
	var st lhState
	for {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](lhStateExpr))
		if err != nil {
			return l, fmt.Errorf("read the entries: %w", err)
		}
		if err := json.Unmarshal([]byte(s), &st); err != nil {
			return l, fmt.Errorf("read the entries: %w", err)
		}
		end, quiet := tti(st.Longs, st.FCP, complete, st.Now)
		if quiet || st.Now-complete >= float64(lhCap.Milliseconds()) {
			l.tti, l.quiet = end, quiet
			if !quiet {
				l.tti = complete + float64(lhCap.Milliseconds())
			}
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	l.fcp, l.lcp, l.lcpEl, l.tile = st.FCP, st.LCP, st.LCPEl, st.Tile
	l.tbt, l.longTasks = tbt(st.Longs, st.FCP, l.tti)
	for _, t := range st.Longs {
		l.longList += fmt.Sprintf(" %.0f+%.0f", t[0], t[1])
	}
	l.cls, l.clsSum, l.worstShift = cls(st.Shifts, st.Now)
	l.code, l.files = st.Code, st.Files
	return l, nil
}

// lighthouseRows adds the rows: per profile LCP (FCP beside), CLS, TBT; the code's bytes once.
func lighthouseRows(add func(row), e *uiEnv, loads int) {
	const what = "site page, Lighthouse-equivalent figures"
	rs, err := measureLighthouse(e.r.base, e.user, e.password, e.devices, e.cams, loads)
	if err != nil {
		failed(add, what, err)
	}
	scene := fmt.Sprintf("site page (%d sensor tiles, %d cameras), %%s; median of %d loads, HTTP cache off", e.devices, e.cams, loads)
	for _, r := range rs {
		s := fmt.Sprintf(scene, r.profile.name)
		goal := "≤1.5 s"
		if r.profile.mobile {
			goal = "≤2.5 s"
		}
		add(row{s + ": largest contentful paint (first contentful paint)", fmt.Sprintf("%.0f ms (FCP %.0f ms; LCP element %s; the first sensor tile showed a value at %.0f ms)", r.lcp, r.fcp, r.lcpEl, r.tile),
			fmt.Sprintf("%.0f ms (the static /login page's LCP, same profile)", r.loginLCP), ratio(r.lcp, r.loginLCP), "LCP " + goal})
		clsNote := fmt.Sprintf("%.3f (largest session window; plain sum %.3f", r.cls, r.clsSum)
		if r.worstShift != "" {
			clsNote += "; largest shift " + r.worstShift
		}
		add(row{s + ": cumulative layout shift until TTI", clsNote + ")", "", "", "≤0.05"})
		ttiNote := fmt.Sprintf("TTI %.0f ms, a 5 s quiet window in %d of %d loads", r.tti, r.quiet, r.loads)
		if r.quiet < r.loads {
			ttiNote += fmt.Sprintf(" (otherwise TTI = complete + %s)", lhCap)
		}
		add(row{s + ": total blocking time, FCP → TTI", fmt.Sprintf("%.0f ms (%d long tasks; %s)", r.tbt, r.longTasks, ttiNote), "", "", "≤200 ms"})
	}
	if len(rs) > 0 {
		r := rs[0]
		add(row{fmt.Sprintf(scene, "desktop") + ": the page's code transferred (JS + CSS under /ui/, compressed, headers included)",
			fmt.Sprintf("%.1f KiB in %d files", r.code/1024, r.files), "", "", "≤100 KiB"})
	}
}

// startSampling starts chromium's JavaScript sampling profiler at a 500 µs interval.
func startSampling(ctx context.Context, t *chromedp.Target) error {
	if _, err := cdp.Call(ctx, t, profiler.Enable, cdp.Empty{}); err != nil {
		return err
	}
	if _, err := cdp.Call(ctx, t, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 500}); err != nil {
		return err
	}
	_, err := cdp.Call(ctx, t, profiler.Start, cdp.Empty{})
	return err
}

// jsProfile starts (on) or stops (off) chromium's JavaScript sampling profiler; stopping prints the functions
// with the most self time to stderr. CITYWATCH_BENCH_JSPROFILE=1 profiles the first site page load of each
// profile: what to fix when the total blocking time misses its goal ("(program)" is the renderer's own work,
// style and layout among it).
func jsProfile(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if on {
			return startSampling(ctx, t)
		}
		r, err := cdp.Call(ctx, t, profiler.Stop, cdp.Empty{})
		if err != nil || r.Profile == nil {
			return err
		}
		self := map[int64]float64{}
		for i, id := range r.Profile.Samples {
			if i < len(r.Profile.TimeDeltas) {
				self[id] += float64(r.Profile.TimeDeltas[i]) / 1000
			}
		}
		byFn := map[string]float64{}
		var total float64
		for _, n := range r.Profile.Nodes {
			f := n.CallFrame
			name := f.FunctionName
			if name == "" {
				name = "(anonymous)"
			}
			if f.URL != "" {
				name += " " + f.URL[strings.LastIndex(f.URL, "/")+1:] + fmt.Sprintf(":%d", f.LineNumber+1)
			}
			byFn[name] += self[n.ID]
			if f.FunctionName != "(idle)" {
				total += self[n.ID]
			}
		}
		names := make([]string, 0, len(byFn))
		for k := range byFn {
			names = append(names, k)
		}
		sort.Slice(names, func(i, j int) bool { return byFn[names[i]] > byFn[names[j]] })
		fmt.Fprintf(os.Stderr, "    JS profile: %.0f ms busy\n", total)
		for _, k := range names[:min(25, len(names))] {
			fmt.Fprintf(os.Stderr, "      %8.0f ms  %s\n", byFn[k], k)
		}
		return nil
	})
}
