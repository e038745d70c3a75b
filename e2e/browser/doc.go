// Package browser holds the browser tests of the dashboard UI: they build citywatch, start `citywatch demo` on
// free ports and drive Debian's chromium through chromedp the way an operator does — sign in, watch live
// sensor values and camera video, acknowledge an alert — and check that a site-limited user sees only their
// site, and that a frozen server (SIGSTOP) or a silent device is never shown as live. Run with `go test ./e2e/browser/ -v`; add `-update-screenshots` to refresh docs/img/site.png (and, from TestOperatorScreen, site-thresholds.png and phone-alerts-vi.png).
package browser
