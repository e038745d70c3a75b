package browser_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// timelineCases render js/timeline.js's timeline for one camera's events (as GET /api/cameras/{id}/timeline
// gives them) and read back each entry's thumbnail: an alert's start carries the thumbnail of the clip the
// server found around it, as a motion clip does; an alert without one, an alert's end and a clip still
// recording show none.
var timelineCases = []ruleCase{
	{"an alert with a clip shows its thumbnail", `thumbs([{time: T, kind: "alert", reason: "CameraTamper", alert: 7, clip: "c1"}])`,
		[]any{"alert /api/cameras/cam%201/clips/c1/thumbnail.jpg"}},
	{"the thumbnail plays the alert's clip", `(() => { const p = document.createElement("video"); p.play = () => Promise.resolve();
		TL.timeline("cam 1", [{time: T, kind: "alert", reason: "CameraTamper", alert: 7, clip: "c1"}], p).querySelector("button.thumb-button").click();
		return p.src.endsWith("/api/cameras/cam%201/clips/c1"); })()`, true},
	{"an alert without a clip shows none", `thumbs([{time: T, kind: "alert", reason: "CameraOffline", alert: 8}])`, []any{"alert -"}},
	{"an alert's end shows none", `thumbs([{time: T, kind: "resolved", reason: "CameraOffline", alert: 8}])`, []any{"resolved -"}},
	{"a motion clip shows its thumbnail", `thumbs([{time: T, kind: "clip", reason: "motion", clip: "c2"}])`,
		[]any{"clip /api/cameras/cam%201/clips/c2/thumbnail.jpg"}},
	{"a clip still recording shows none", `thumbs([{time: T, kind: "clip", reason: "motion", clip: "c3", recording: true}])`, []any{"clip -"}},
}

// TestTimelineThumbnails runs timelineCases in chromium.
func TestTimelineThumbnails(t *testing.T) {
	b := newRulesPage(t, "timeline")
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`import("/ui/js/timeline.js").then((TL) => {
		window.TL = TL;
		window.T = "2026-12-07T10:00:00Z";
		window.thumbs = (events) => [...TL.timeline("cam 1", events, document.createElement("video")).querySelectorAll("li")].map((li) => {
			const img = li.querySelector("img.clip-thumb");
			return li.dataset.kind + " " + (img ? new URL(img.src).pathname : "-");
		});
		return true;
	})`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("load timeline.js: %v", err)
	}
	checkRules(t, b, timelineCases)
}
