package browser_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"citywatch/internal/testenv"
)

// browser is one fresh browser context (its own cookies, storage and cache, like a new profile) with one tab,
// on the package's shared headless chromium (main_test.go).
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	problems []string // uncaught exceptions and security (CSP) errors: each fails the test
	console  []string // other console errors, logged on failure
	loads    int      // full page loads made by open (operator_test.go)
}

// newBrowser opens a new browser context on the shared chromium for the demo at base.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := testenv.LookPath(t, "chromium")
	ctx, cancelCtx := chromedp.NewContext(sharedChromium(t, path), chromedp.WithNewBrowserContext())
	b := &browser{t: t, ctx: ctx, base: base}
	t.Cleanup(cancelCtx)
	// The first action opens the tab; it must not run under a timeout (that would close the tab).
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("open a browser context on chromium: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Func(quietTab)); err != nil {
		t.Fatalf("set up the tab's DevTools domains: %v", err)
	}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("browser: %s", p)
		}
		if t.Failed() {
			for _, c := range b.console {
				t.Logf("browser console: %s", c)
			}
		}
	})
	return b
}

// quietTab turns on the browser log, whose entries the tests read (onEvent), and turns off the Network and CSS
// domains chromedp enables on every tab, which no test reads: with Network on, chromium sends the test binary
// an event for every request, response chunk, server-sent event and WebSocket frame of the page, the frames
// with their payload (the live video's fMP4, a dozen a second per camera tile), which the browser process
// encodes and the race-built test binary decodes. A test that blocks URLs turns Network on again for it
// (blockEvents). Navigation and the selector actions use the Page, Runtime and DOM domains, which stay on.
func quietTab(ctx context.Context, tg *chromedp.Target) error {
	if _, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{}); err != nil {
		return err
	}
	if _, err := cdp.Call(ctx, tg, network.Disable, cdp.Empty{}); err != nil {
		return err
	}
	_, err := cdp.Call(ctx, tg, css.Disable, cdp.Empty{})
	return err
}

func (b *browser) onEvent(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *cdpruntime.EventExceptionThrown:
		b.problems = append(b.problems, (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
	case *cdplog.EventEntryAdded:
		line := fmt.Sprintf("[%s/%s] %s %s", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL)
		if e.Entry.Source == cdplog.EntrySourceSecurity {
			b.problems = append(b.problems, line)
		} else if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
			b.console = append(b.console, line)
		}
	case *cdpruntime.EventConsoleAPICalled:
		if e.Type == cdpruntime.ConsoleAPICalledTypeError || e.Type == cdpruntime.ConsoleAPICalledTypeWarning {
			parts := make([]string, 0, len(e.Args))
			for _, a := range e.Args {
				if a.Value != nil {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			b.console = append(b.console, fmt.Sprintf("console.%s %s", e.Type, strings.Join(parts, " ")))
		}
	}
}

// do runs actions with a bound.
func (b *browser) do(within time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, within)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// eval evaluates a JavaScript expression and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until a JavaScript expression is truthy. Evaluation errors (such as a page navigating away
// under the check) count as "not yet".
func (b *browser) waitJS(within time.Duration, expr string) {
	b.t.Helper()
	if ok, last := b.truthyWithin(within, expr); !ok {
		b.t.Fatalf("not true within %v: %s (last error %v, at %s)", within, expr, last, b.location())
	}
}

// openDialog clicks button (a CSS selector) until a dialog holding field is open. A live list redraws under
// the pointer (rows arrive, groups grow): a real click that lands while the row moves hits nothing, so the
// click is tried again, never twice once any dialog is open.
func (b *browser) openDialog(within time.Duration, button, field string) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	opened := fmt.Sprintf(`document.querySelector('dialog[open] %s')`, field)
	for {
		if eval[bool](b, `!!document.querySelector('dialog[open]')`) {
			b.waitJS(10*time.Second, opened)
			return
		}
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(button)), chromedp.Click(chromedp.CSS(button)))
		cancel()
		if opened, _ := b.truthyWithin(5*time.Second, `document.querySelector('dialog[open]')`); opened {
			continue // the loop's first check waits for the field
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("clicking %s opened no dialog within %v (last error %v, at %s)", button, within, err, b.location())
		}
	}
}

// truthyWithin waits until a JavaScript expression is truthy or within passes, and reports which, with the
// last evaluation error (such as a page navigating away under the check: "not yet"). The page checks the
// expression itself, every 100 ms (inPageWait), so a wait costs one DevTools call per document instead of one
// per check, each a round trip through chromium's browser process and the race-built test binary; a
// navigation that ends the document ends the call, and the wait goes on in the next one.
func (b *browser) truthyWithin(within time.Duration, expr string) (bool, error) {
	deadline := time.Now().Add(within)
	var last error
	for {
		left := time.Until(deadline)
		ctx, cancel := context.WithTimeout(b.ctx, left+5*time.Second) // the page's own bound ends the call first
		r, err := chromedp.Run(ctx, chromedp.Evaluate[inPageResult](fmt.Sprintf(inPageWait, left.Milliseconds(), expr), chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && r.OK {
			return true, nil
		}
		if last = err; err == nil && r.Err != "" {
			last = errors.New(r.Err)
		}
		if time.Now().After(deadline) {
			return false, last
		}
		time.Sleep(100 * time.Millisecond) // the document went away under the check: wait in the next one
	}
}

// inPageWait is a promise that evaluates an expression (%[2]s) every 100 ms until it is truthy, for at most
// %[1]d milliseconds, and resolves to an inPageResult: a throw counts as "not yet", and the last one is kept.
const inPageWait = `new Promise((resolve) => {
	const end = performance.now() + %[1]d;
	let err = "";
	const check = () => {
		let ok = false;
		try { ok = !!(%[2]s); } catch (e) { err = String(e); }
		if (ok || performance.now() >= end) return resolve({ok, err});
		setTimeout(check, 100);
	};
	check();
})`

// inPageResult is what inPageWait resolves to.
type inPageResult struct {
	OK  bool   `json:"ok"`
	Err string `json:"err"`
}

// beforeScripts has every document the tab loads from now on run src before the page's own scripts.
func (b *browser) beforeScripts(src string) {
	b.t.Helper()
	b.do(10*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src})
		return err
	}))
}

// scrollIntoView scrolls the element a JavaScript expression yields to the middle of the screen, as a user
// looking at it would (tiles away from the screen load no picture and open no live view).
func (b *browser) scrollIntoView(element string) {
	b.t.Helper()
	eval[any](b, fmt.Sprintf(`(%s).scrollIntoView({block: "center"}), null`, element))
}

// route switches the single-page app to a hash route without reloading the document.
func (b *browser) route(hash string) {
	b.t.Helper()
	eval[any](b, fmt.Sprintf("location.hash = %q, null", hash))
}

// login signs in through the login form and waits for the dashboard to show the user.
func (b *browser) login(user, password string) {
	b.t.Helper()
	b.do(30*time.Second,
		chromedp.Navigate(b.base+"/login?next=%2F"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login button[type=submit]")),
	)
	b.waitJS(30*time.Second, fmt.Sprintf(`location.pathname === "/" && (document.querySelector("#who")?.textContent || "").startsWith(%q)`, user+" ("))
}

// js quotes s as a JavaScript string literal.
func js(s string) string { return fmt.Sprintf("%q", s) }

// newBrowserPath finds chromium (fails in CI, skips elsewhere when missing).
func newBrowserPath(t *testing.T) string { t.Helper(); return testenv.LookPath(t, "chromium") }

// navigate loads a URL in the tab.
func navigate(url string) chromedp.Action[chromedp.Void] { return chromedp.Navigate(url) }

// readFile reads a file the test made.
func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// ruleCase is one pure UI rule: a JavaScript expression and the JSON of what it must evaluate to.
type ruleCase struct {
	name, expr string
	want       any
}

// checkRules evaluates each case on b's page (the test loaded the modules the expressions use) as a subtest.
func checkRules(t *testing.T, b *browser, cases []ruleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := eval[any](b, c.expr)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(c.want)
			if string(gj) != string(wj) {
				t.Errorf("%s\n got %s\nwant %s", c.expr, gj, wj)
			}
		})
	}
}

// newRulesPage returns chromium on a blank page titled title, served with dashboards/web under /ui/: where the
// tables of the UI's pure rules import its modules and evaluate their cases. It skips in -short, and marks the
// test parallel: like every test of the package, it runs beside the others instead of before them.
func newRulesPage(t *testing.T, title string) *browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: runs chromium")
	}
	testenvChromium(t)
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui/", http.FileServer(http.Dir(filepath.Join(repoRoot(t), "dashboards", "web")))))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<!doctype html><title>" + html.EscapeString(title) + "</title>"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	b := newBrowser(t, srv.URL)
	b.do(30*time.Second, navigate(srv.URL+"/"))
	return b
}

// newAdminDemo builds citywatch, starts the demo with a 1 s live ping and returns it with chromium logged in as
// admin. It skips in -short.
func newAdminDemo(t *testing.T) (*demo, *browser) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: builds citywatch and runs chromium")
	}
	testenvChromium(t)
	d := startDemo(t, buildCitywatch(t), "--live-ping-interval", "1s")
	b := newBrowser(t, d.base)
	b.login("admin", d.password)
	return d, b
}
