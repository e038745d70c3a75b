package browser_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// fakeLiveServer serves the UI's modules from the source tree, empty lists for the REST topics, and an
// /api/events stream that sends what the test puts on send, so a test decides exactly when pings come.
func fakeLiveServer(t *testing.T) (base string, send chan<- string) {
	t.Helper()
	ch := make(chan string, 16)
	mux := http.NewServeMux()
	mux.Handle("/ui/", http.StripPrefix("/ui/", http.FileServer(http.Dir(filepath.Join(repoRoot(t), "dashboards", "web")))))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<!doctype html><title>live state</title>"))
	})
	for _, topic := range []string{"devices", "cameras", "alerts"} {
		mux.HandleFunc("/api/"+topic, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{%q: []}`, topic)
		})
	}
	mux.HandleFunc("/api/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fmt.Fprint(w, "retry: 3000\n\n")
		fl.Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case msg := <-ch:
				fmt.Fprint(w, msg)
				fl.Flush()
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, ch
}

// pingMsg is a ping event from the server at serverTime with the given interval; currentLag > 0 adds a
// current_at that far behind.
func pingMsg(serverTime time.Time, interval, currentLag time.Duration) string {
	data := fmt.Sprintf(`{"time":%q,"interval_ms":%d,"batch_ms":1000`, serverTime.UTC().Format(time.RFC3339Nano), interval.Milliseconds())
	if currentLag > 0 {
		data += fmt.Sprintf(`,"current_at":%q`, serverTime.Add(-currentLag).UTC().Format(time.RFC3339Nano))
	}
	return "event: ping\ndata: " + data + "}\n\n"
}

// TestLivePageStaleness drives js/live.js with a stream whose pings the test times: the page is live while
// pings come, stale after two ping intervals without one, live again with the next, and stale while the
// pings say the server's live feed stopped (current_at lags), whatever the stream itself does.
func TestLivePageStaleness(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: runs chromium")
	}
	testenvChromium(t)
	t.Parallel()
	base, send := fakeLiveServer(t)
	b := newBrowser(t, base)
	b.do(30*time.Second, navigate(base+"/"))
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`import("/ui/js/live.js").then((L) => {
		window.statuses = [];
		L.onStatus((s) => window.statuses.push({ state: s.state, error: s.error }));
		L.subscribe("devices", () => {});
		return true;
	})`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("load js/live.js: %v", err)
	}
	const interval = 400 * time.Millisecond
	// since waits until a status matching cond was reported after the test's last mark.
	mark := func() { eval[any](b, `window.mark = window.statuses.length, null`) }
	since := func(within time.Duration, cond string) {
		t.Helper()
		b.waitJS(within, fmt.Sprintf(`window.statuses.slice(window.mark).some((s) => %s)`, cond))
	}
	b.waitJS(10*time.Second, `window.__citywatchLive.state === "open"`)

	mark()
	send <- pingMsg(time.Now(), interval, 0)
	b.waitJS(10*time.Second, `window.__citywatchLive.pingInterval === 400 && window.statuses.at(-1).state === "live"`)

	mark()
	// No more pings: stale after two intervals, for lack of news.
	since(10*time.Second, `s.state === "stale" && s.error.startsWith("Nothing has come from the server")`)

	mark()
	send <- pingMsg(time.Now(), interval, 0)
	since(10*time.Second, `s.state === "live"`)

	mark()
	// The stream is alive but the server's feed is not: stale although pings come.
	send <- pingMsg(time.Now(), interval, 10*time.Second)
	since(10*time.Second, `s.state === "stale" && s.error.startsWith("The server's live feed stopped")`)

	mark()
	send <- pingMsg(time.Now(), interval, time.Millisecond)
	since(10*time.Second, `s.state === "live"`)

	if n := eval[float64](b, `window.__citywatchLive.byKind.ping`); n != 4 {
		t.Errorf("the page counted %v pings, want 4", n)
	}
}
