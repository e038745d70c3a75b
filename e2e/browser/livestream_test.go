package browser_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The page's live event stream (/api/events) against the server's stream caps, in the real binary: a page
// whose stream a newer page of the same user takes over says so and stops retrying, and pages left for the
// browser's back/forward cache give their stream up (live.js pagehide/pageshow).

// streamUser creates a user of its own on the shared demo for a test (stream caps count per user, and the
// shared demo's admin is every other test's too), and returns the password.
func streamUser(t *testing.T, d *demo, name string) string {
	t.Helper()
	password := name + "-password-0123456789"
	createUser(t, d, name, password, "health_staff", site)
	return password
}

// userStream is an /api/events stream opened by the test itself, with a session of a user, read in the
// background until the server ends it.
type userStream struct {
	done chan struct{}
	mu   sync.Mutex
	body bytes.Buffer
}

// ended reports whether the server ended the stream, and what it sent.
func (s *userStream) ended() (bool, string) {
	select {
	case <-s.done:
		s.mu.Lock()
		defer s.mu.Unlock()
		return true, s.body.String()
	default:
		return false, ""
	}
}

// signIn returns an HTTP client holding a new session of user on the demo.
func signIn(t *testing.T, d *demo, user, password string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar}
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	res, err := c.Post(d.base+"/api/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sign in as %s: HTTP %d: %s", user, res.StatusCode, msg)
	}
	return c
}

// openUserStream opens /api/events with c's session and waits until the server serves it.
func openUserStream(t *testing.T, d *demo, c *http.Client) *userStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", d.base+"/api/events?batch=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		cancel()
		t.Fatalf("open an event stream: HTTP %d", res.StatusCode)
	}
	st := &userStream{done: make(chan struct{})}
	br := bufio.NewReader(res.Body)
	first, err := br.ReadString('\n') // the server has taken the stream's place
	if err != nil {
		cancel()
		t.Fatalf("read the event stream: %v", err)
	}
	st.body.WriteString(first)
	go func() {
		defer close(st.done)
		defer res.Body.Close()
		buf := make([]byte, 4096)
		for {
			n, err := br.Read(buf)
			st.mu.Lock()
			st.body.Write(buf[:n])
			st.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-st.done })
	return st
}

// streamsPerUser is the demo's http.limits.max_event_streams_per_principal (its default).
const streamsPerUser = 8

// TestLiveStreamEvicted: a page whose live stream a newer stream of the same user took over (more than
// max_event_streams_per_principal open) says so in words — not "retrying" — greys what it shows, and does not
// reconnect by itself (which would end the newer stream in turn), while its lists still refresh over REST. When
// the user comes back to it (visibilitychange), it streams again, live, and the oldest of the user's other
// streams makes room.
func TestLiveStreamEvicted(t *testing.T) {
	d := sharedAdminDemo(t)
	t.Parallel()
	const user = "evict-operator"
	password := streamUser(t, d, user)
	b := newBrowser(t, d.base)
	b.login(user, password)
	b.open("#/site/" + site)
	b.waitJS(30*time.Second, `window.__citywatchLive.state === "open" && document.querySelector("#live").dataset.state === "live" && document.querySelector(".sensor-tile")`)

	// The same user opens a stream per place of the cap elsewhere: the page's, the oldest, is ended.
	c := signIn(t, d, user, password)
	var others []*userStream
	for range streamsPerUser {
		others = append(others, openUserStream(t, d, c))
	}
	b.waitJS(20*time.Second, `window.__citywatchLive.state === "evicted" && window.__citywatchLive.evicted === 1`)
	b.waitJS(10*time.Second, `document.querySelector("#live").dataset.state === "disconnected"`)
	words := eval[string](b, `document.querySelector("#live-text").textContent`)
	if !strings.Contains(words, "another page") || strings.Contains(words, "retrying") {
		t.Errorf("the evicted page's live indicator says %q, want it to say its live updates went to another page (and not that it is retrying)", words)
	}
	// Nothing on it passes for live: the tiles say since when their data is.
	b.waitJS(10*time.Second, `document.querySelector(".sensor-tile") && [...document.querySelectorAll(".sensor-tile")].every((e) => e.dataset.fresh === "stale")`)

	// It does not reconnect by itself: the safety-net REST refresh (every 10 s while the stream is down) runs
	// twice, which is longer than any retry of the browser's (3 s) or of live.js (3 s → 30 s), and no stream
	// opened meanwhile; the user's other streams are all still open.
	loads := eval[float64](b, `window.__citywatchLive.restLoads`)
	b.waitJS(40*time.Second, fmt.Sprintf(`window.__citywatchLive.restLoads >= %v + 6`, loads))
	if opens := eval[float64](b, `window.__citywatchLive.opens`); opens != 1 {
		t.Errorf("the evicted page opened its stream %v times, want 1 (it must not reconnect by itself)", opens)
	}
	for i, st := range others {
		if ok, body := st.ended(); ok {
			t.Errorf("the user's stream %d ended while the evicted page was left alone: %q", i, body)
		}
	}
	if words := eval[string](b, `document.querySelector("#live-text").textContent`); !strings.Contains(words, "another page") {
		t.Errorf("later, the evicted page's indicator says %q", words)
	}

	// Vietnamese says it too (the indicator is rebuilt from the status on load; evict the new page again).
	b.setLang("vi")
	b.waitJS(30*time.Second, `window.__citywatchLive.state === "open"`)
	for range streamsPerUser {
		others = append(others, openUserStream(t, d, c))
	}
	b.waitJS(20*time.Second, `window.__citywatchLive.state === "evicted"`)
	if words := eval[string](b, `document.querySelector("#live-text").textContent`); !strings.Contains(words, "trang khác") {
		t.Errorf("the evicted page's indicator in Vietnamese says %q, want it to name the other page (trang khác)", words)
	}
	b.setLang("en")

	// Coming back to the page (it becomes visible again) streams again; the server ends the user's oldest.
	b.waitJS(30*time.Second, `window.__citywatchLive.state === "open"`)
	for range streamsPerUser {
		others = append(others, openUserStream(t, d, c))
	}
	b.waitJS(20*time.Second, `window.__citywatchLive.state === "evicted"`)
	eval[any](b, `document.dispatchEvent(new Event("visibilitychange")), null`)
	b.waitJS(20*time.Second, `window.__citywatchLive.state === "open" && window.__citywatchLive.opens === 2 && document.querySelector("#live").dataset.state === "live"`)
	b.waitJS(20*time.Second, `[...document.querySelectorAll(".sensor-tile")].every((e) => e.dataset.fresh !== "stale")`)
}

// TestBackForwardCacheClosesStream: pages the user leaves stay in the browser's back/forward cache; each
// would hold its live stream's connection open. A browser allows six connections per server, so after a few
// pages in one tab the next page waited forever for any request ("connecting…" for good), and the streams
// counted against the user's cap. live.js closes the stream on pagehide and opens it again on pageshow of a
// page restored from the cache: every page of a long walk forwards and back becomes live, and a restored page
// (the test checks it was restored, not reloaded: else it would prove nothing) streams again.
func TestBackForwardCacheClosesStream(t *testing.T) {
	d := sharedAdminDemo(t)
	t.Parallel()
	const user = "bfcache-operator"
	password := streamUser(t, d, user)
	b := newBrowser(t, d.base)
	b.login(user, password)

	// Pages without live video (a WebSocket keeps a page out of the cache): each visit is a new document.
	hashes := []string{"#/devices", "#/alerts/firing", "#/rules", "#/", "#/devices", "#/alerts/history", "#/rules", "#/", "#/devices", "#/alerts/firing"}
	live := func(what string) {
		t.Helper()
		b.waitJS(20*time.Second, fmt.Sprintf(`(window.__citywatchLive?.state === "open" && document.querySelector("#live")?.dataset.state === "live") || (window.__e2eStuck = %q, false)`, what))
	}
	for i, h := range hashes {
		b.loads++
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Navigate(fmt.Sprintf("%s/?load=%d%s", b.base, b.loads, h)))
		cancel()
		if err != nil {
			t.Fatalf("page %d (%s) of a walk forwards did not load: %v (the pages left behind hold the browser's connections to the server?)", i+1, h, err)
		}
		live(fmt.Sprintf("page %d (%s) of a walk forwards", i+1, h))
		eval[any](b, fmt.Sprintf(`(window.__e2ePage = %d, null)`, i+1))
	}
	// Back through the walk: the pages come from the cache (their script state kept) and stream again.
	restored := 0
	for i := len(hashes) - 1; i >= 1; i-- {
		// history.back, not chromedp.NavigateBack: a page restored from the cache fires no load event to wait for.
		// From a timer, so the evaluation has answered before the document it ran in goes away (else the
		// DevTools call can fail with "Inspected target navigated or closed").
		eval[any](b, `(setTimeout(() => history.back(), 0), null)`)
		b.waitJS(20*time.Second, fmt.Sprintf(`location.search === "?load=%d"`, b.loads-len(hashes)+i))
		live(fmt.Sprintf("page %d (%s) on the way back", i, hashes[i-1]))
		if eval[float64](b, `window.__e2ePage || 0`) == float64(i) {
			restored++
			if opens := eval[float64](b, `window.__citywatchLive.opens`); opens < 2 {
				t.Errorf("page %d came back from the cache with its stream opened %v times: it did not reopen the stream it closed when it was left", i, opens)
			}
		}
	}
	t.Logf("%d of %d pages came back from the back/forward cache", restored, len(hashes)-1)
	if restored == 0 {
		t.Fatalf("no page came back from the back/forward cache: the test cannot check what it is for")
	}
}
