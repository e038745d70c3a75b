package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/chromedp/cdproto/cdp"
	cdpio "github.com/chromedp/cdproto/io"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/cdproto/tracing"
	"github.com/chromedp/chromedp"
)

// A main-thread profile of one site page load: what the long tasks are made of. CITYWATCH_BENCH_TRACE=<dir>
// records, for the first load of each Lighthouse profile, a chromium trace (the DevTools timeline categories,
// written to <dir>/<profile>.json for DevTools' Performance panel) and the JavaScript sampling profile
// beside it, then prints every long task after first-contentful-paint with what it spent its time on: the
// trace events' self time by kind (a script's entry function, style, layout, paint, …) and the JavaScript
// stacks the profiler sampled inside it.
//
// It also prints the total blocking time computed from each task's thread time (CPU time) instead of its wall
// time: on a machine other processes load, wall times stretch with the load while thread times do not, so
// this is the figure to compare before and after a change. Chromium's CPU throttling is already in the
// thread time (the throttled thread spends it: a mobile task of 57 ms wall took 50 ms of thread time at 4×,
// and the same page's thread time per second was 4.5× the desktop profile's), so it is not scaled again; until
// 2026-12-07 it was multiplied by the throttling rate, which counted the throttling twice.

// traceCategories are the DevTools Performance panel's main-thread categories.
var traceCategories = []string{"devtools.timeline", "toplevel", "v8.execute", "blink.user_timing", "loading"}

// traceStart starts the trace and the sampling profiler.
func traceStart() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, tracing.Start, tracing.StartParams{TransferMode: tracing.StartTransferModeReturnAsStream,
			TraceConfig: &tracing.TraceConfig{IncludedCategories: traceCategories}}); err != nil {
			return err
		}
		return startSampling(ctx, t)
	})
}

// traceStop ends the trace, writes it to path and prints the long tasks after fcp (ms since navigation start)
// up to tti.
func traceStop(ctx context.Context, path string, fcp, tti, cpuRate float64) error {
	var prof *profiler.Profile
	done, err := chromedp.Run(ctx, chromedp.WaitEvent(tracing.TracingComplete, nil, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		r, err := cdp.Call(ctx, t, profiler.Stop, cdp.Empty{})
		if err != nil {
			return err
		}
		prof = r.Profile
		_, err = cdp.Call(ctx, t, tracing.End, cdp.Empty{})
		return err
	})))
	if err != nil {
		return fmt.Errorf("end the trace: %w", err)
	}
	var buf strings.Builder
	err = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		defer cdp.Call(ctx, t, cdpio.Close, cdpio.CloseParams{Handle: done.Stream}) //nolint:errcheck // best effort
		for {
			r, err := cdp.Call(ctx, t, cdpio.Read, cdpio.ReadParams{Handle: done.Stream, Size: 1 << 20})
			if err != nil {
				return err
			}
			buf.Write(r.Data) // decoded already when it came as base64
			if r.EOF {
				return nil
			}
		}
	}))
	if err != nil {
		return fmt.Errorf("read the trace: %w", err)
	}
	if err := os.WriteFile(path, []byte(buf.String()), 0o644); err != nil {
		return err
	}
	return summarizeTrace(os.Stderr, []byte(buf.String()), prof, fcp, tti, cpuRate)
}

type traceEvent struct {
	Name string  `json:"name"`
	Ph   string  `json:"ph"`
	Ts   float64 `json:"ts"`
	Dur  float64 `json:"dur"`
	Tdur float64 `json:"tdur"`
	Pid  int     `json:"pid"`
	Tid  int     `json:"tid"`
	Args struct {
		Name string `json:"name"`
		Data struct {
			FunctionName       string  `json:"functionName"`
			URL                string  `json:"url"`
			LineNumber         float64 `json:"lineNumber"`
			Type               string  `json:"type"`
			DocumentLoaderURL  string  `json:"documentLoaderURL"`
			IsLoadingMainFrame bool    `json:"isLoadingMainFrame"`
		} `json:"data"`
	} `json:"args"`
	self     float64
	children []*traceEvent
}

// isTask reports whether e is a task of the thread's scheduler (the name changed across chromium versions).
func isTask(e *traceEvent) bool {
	return e.Name == "RunTask" || e.Name == "ThreadControllerImpl::RunTask"
}

// label names what an event spent its self time on.
func (e *traceEvent) label() string {
	d := e.Args.Data
	switch e.Name {
	case "FunctionCall":
		return "JS " + cmp.Or(d.FunctionName, "(anonymous)") + " " + shortURL(d.URL) + fmt.Sprintf(":%.0f", d.LineNumber+1)
	case "EventDispatch":
		return "EventDispatch " + d.Type
	case "EvaluateScript", "v8.compileModule", "v8.evaluateModule":
		return e.Name + " " + shortURL(d.URL)
	}
	return e.Name
}

func shortURL(u string) string { return u[strings.LastIndex(u, "/")+1:] }

// summarizeTrace prints the long tasks of the renderer's main thread between fcp and tti (ms since the page's
// navigation start) with their make-up, and the thread-time TBT.
func summarizeTrace(w io.Writer, raw []byte, prof *profiler.Profile, fcp, tti, cpuRate float64) error {
	var doc struct {
		TraceEvents []*traceEvent `json:"traceEvents"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		if err := json.Unmarshal(raw, &doc.TraceEvents); err != nil {
			return fmt.Errorf("parse the trace: %w", err)
		}
	}
	type thread struct{ pid, tid int }
	mains := map[thread]bool{}
	for _, e := range doc.TraceEvents {
		if e.Ph == "M" && e.Name == "thread_name" && e.Args.Name == "CrRendererMain" {
			mains[thread{e.Pid, e.Tid}] = true
		}
	}
	// The page's main thread: the renderer main thread that ran the most.
	busy := map[thread]float64{}
	for _, e := range doc.TraceEvents {
		if k := (thread{e.Pid, e.Tid}); mains[k] && e.Ph == "X" && isTask(e) {
			busy[k] += e.Dur
		}
	}
	var main thread
	for k, v := range busy {
		if v > busy[main] {
			main = k
		}
	}
	var nav float64
	var evs []*traceEvent
	open := map[string][]*traceEvent{}
	for _, e := range doc.TraceEvents {
		if e.Pid != main.pid {
			continue
		}
		if e.Name == "navigationStart" && e.Args.Data.IsLoadingMainFrame && strings.HasPrefix(e.Args.Data.DocumentLoaderURL, "http") {
			nav = max(nav, e.Ts)
		}
		if e.Tid != main.tid {
			continue
		}
		switch e.Ph {
		case "X":
			evs = append(evs, e)
		case "B":
			open[e.Name] = append(open[e.Name], e)
		case "E":
			if s := open[e.Name]; len(s) > 0 {
				b := s[len(s)-1]
				open[e.Name] = s[:len(s)-1]
				b.Ph, b.Dur = "X", e.Ts-b.Ts
				evs = append(evs, b)
			}
		}
	}
	if nav == 0 {
		return fmt.Errorf("no navigationStart in the trace")
	}
	// Nest the events and compute each one's self time.
	slices.SortStableFunc(evs, func(a, b *traceEvent) int { return cmp.Or(cmp.Compare(a.Ts, b.Ts), cmp.Compare(b.Dur, a.Dur)) })
	var roots, stack []*traceEvent
	for _, e := range evs {
		e.self = e.Dur
		for len(stack) > 0 && e.Ts >= stack[len(stack)-1].Ts+stack[len(stack)-1].Dur {
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			roots = append(roots, e)
		} else {
			p := stack[len(stack)-1]
			p.children = append(p.children, e)
			p.self -= min(e.Dur, p.self)
		}
		stack = append(stack, e)
	}
	samples := profileSamples(prof)
	ms := func(us float64) float64 { return (us - nav) / 1000 }
	total := map[string]float64{}
	var wallTBT, cpuTBT float64
	n := 0
	fmt.Fprintf(w, "    trace: long tasks of the main thread between FCP %.0f ms and TTI %.0f ms (wall ms / thread ms; self time by kind, ms; sampled JS stacks)\n", fcp, tti)
	for _, r := range roots {
		if !isTask(r) {
			continue
		}
		start, end := ms(r.Ts), ms(r.Ts+r.Dur)
		if end <= fcp || start >= tti {
			continue
		}
		if cpu := r.Tdur / 1000; cpu > 50 {
			cpuTBT += cpu - 50
		}
		if r.Dur/1000 <= 50 {
			continue
		}
		n++
		wallTBT += r.Dur/1000 - 50
		kinds := map[string]float64{}
		var walk func(e *traceEvent)
		walk = func(e *traceEvent) {
			kinds[e.label()] += e.self / 1000
			for _, c := range e.children {
				walk(c)
			}
		}
		walk(r)
		for k, v := range kinds {
			total[k] += v
		}
		fmt.Fprintf(w, "      %6.0f ms: %4.0f / %4.0f  %s\n", start, r.Dur/1000, r.Tdur/1000, topOf(kinds, 5, "%.0f"))
		if st := stacksIn(samples, r.Ts, r.Ts+r.Dur); len(st) > 0 {
			fmt.Fprintf(w, "               JS: %s\n", topOf(st, 3, "%.0f samples"))
		}
	}
	fmt.Fprintf(w, "    trace: %d long tasks, TBT from wall time %.0f ms; TBT from thread time (CPU throttling %g× included) %.0f ms\n", n, wallTBT, cpuRate, cpuTBT)
	fmt.Fprintf(w, "    trace: long tasks' self time by kind (ms): %s\n", topOf(total, 15, "%.0f"))
	return nil
}

// topOf formats the k largest entries of m.
func topOf(m map[string]float64, k int, format string) string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b)) })
	var parts []string
	for _, key := range keys[:min(k, len(keys))] {
		parts = append(parts, key+" "+fmt.Sprintf(format, m[key]))
	}
	return strings.Join(parts, "; ")
}

// sample is one profiler sample: when (µs, the trace's clock) and its stack, leaf first, abbreviated.
type sample struct {
	at    float64
	stack string
}

// profileSamples turns the profile into timed stacks (the four innermost JavaScript frames).
func profileSamples(p *profiler.Profile) []sample {
	if p == nil {
		return nil
	}
	parent := map[int64]int64{}
	byID := map[int64]*profiler.ProfileNode{}
	for _, n := range p.Nodes {
		byID[n.ID] = n
		for _, c := range n.Children {
			parent[c] = n.ID
		}
	}
	stackOf := map[int64]string{}
	var out []sample
	at := p.StartTime
	for i, id := range p.Samples {
		if i < len(p.TimeDeltas) {
			at += float64(p.TimeDeltas[i])
		}
		s, ok := stackOf[id]
		if !ok {
			var frames []string
			for cur, ok := id, true; ok && len(frames) < 4; cur, ok = parent[cur] {
				f := byID[cur].CallFrame
				if f == nil || f.FunctionName == "(root)" {
					break
				}
				if f.URL == "" && strings.HasPrefix(f.FunctionName, "(") {
					frames = append(frames, f.FunctionName)
					continue
				}
				frames = append(frames, fmt.Sprintf("%s %s:%d", cmp.Or(f.FunctionName, "(anonymous)"), shortURL(f.URL), f.LineNumber+1))
			}
			s = strings.Join(frames, " < ")
			stackOf[id] = s
		}
		out = append(out, sample{at, s})
	}
	return out
}

// stacksIn counts the sampled stacks in [from, to) (µs), idle and the renderer's own work left out.
func stacksIn(samples []sample, from, to float64) map[string]float64 {
	i, _ := slices.BinarySearchFunc(samples, from, func(s sample, t float64) int { return cmp.Compare(s.at, t) })
	m := map[string]float64{}
	for ; i < len(samples) && samples[i].at < to; i++ {
		if s := samples[i].stack; s != "(idle)" && s != "(program)" && s != "" {
			m[s]++
		}
	}
	return m
}
