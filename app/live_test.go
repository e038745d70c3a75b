package app

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"citywatch/dashboards/live"
)

// TestLivePingsSayCurrent: the live stream pings at the configured interval, and the app's producer marks
// the bus after every round, so the pings' current_at moves on: a page can tell a fed stream from one whose
// producer is stuck.
func TestLivePingsSayCurrent(t *testing.T) {
	const token = "live-test-admin-token-0123456789"
	a := runApp(t, testConfig(t, t.TempDir()), Options{PasswordHashing: testHashing, AdminToken: token, LivePingInterval: 50 * time.Millisecond})
	ctx := t.Context()

	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	req, _ := http.NewRequestWithContext(rctx, "GET", "http://"+a.HTTPAddr()+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/events: %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	seen := map[time.Time]bool{}
	ping := false
	for len(seen) < 2 && sc.Scan() {
		line := sc.Text()
		if line == "event: ping" {
			ping = true
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || !ping {
			continue
		}
		ping = false
		var p live.Ping
		if err := json.Unmarshal([]byte(data), &p); err != nil {
			t.Fatalf("ping %q: %v", data, err)
		}
		if p.IntervalMS != 50 {
			t.Fatalf("ping %q: interval_ms %d, want the configured 50", data, p.IntervalMS)
		}
		if p.CurrentAt != nil {
			seen[*p.CurrentAt] = true
		}
	}
	if len(seen) < 2 {
		t.Fatalf("the pings' current_at did not move on (%d distinct values; %v)", len(seen), sc.Err())
	}
}
