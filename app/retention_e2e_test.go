package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/config"
	"citywatch/internal/clock"
	"citywatch/internal/testenv"
	"citywatch/sim/camerasim"
	"citywatch/sim/camerasim/simtest"
	"citywatch/ward/wardtest"
)

// TestRetentionEndToEnd drives the app as the ward's staff do, over its HTTP API with a real camera stream:
// a room bound to the door camera, a check-in with name and contact, a nurse's manual reading, a view of the
// record, an event clip of the room's camera during the stay, the release. Then the retention clock
// (Options.RetentionClock, a clock.Fake; the rest of the app runs on real time) moves 31 days on, past the
// default 30: the app's own retention engine (built over the ward's store by buildWard, run by run) purges.
// Nothing personal is left: no name or contact in any file under the data directory (citywatch.db and its
// -wal included), no clip file of the room's camera, no audit record naming the case id, name or contact, no
// API response carrying them; one deletion record says what went.
//
// A fever alert fires during the stay (the wearable bound to the room reads 39.2 °C): it names the room and
// the case id, and a webhook delivers it. After the purge neither the alerts API (list and detail), the
// delivery log, nor any table of the metadata database but the ward's own pseudonymous record of the stay
// names the case id, and no TSDB series carries it (ward_occupant_info and kin are deleted).
func TestRetentionEndToEnd(t *testing.T) {
	testenv.SkipShort(t)
	sim := simtest.Start(t, camerasim.Config{Cameras: 1})

	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cam := config.DefaultCamera()
	cam.ID, cam.Site, cam.URL, cam.Transport = "door-101", "q1", sim.URL(1), "tcp"
	cam.ClipPre, cam.ClipPost = config.Duration(time.Second), config.Duration(time.Second)
	cfg.Cameras = []config.CameraConfig{cam}
	rules := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(retentionFeverRule), 0o600))
	cfg.Alerts.RuleFiles = []string{rules}
	cfg.Alerts.EvalInterval = config.Duration(500 * time.Millisecond)
	cfg.Alerts.GroupWait, cfg.Alerts.GroupInterval = 0, config.Duration(500*time.Millisecond)
	cfg.Ward.Interval = config.Duration(500 * time.Millisecond)
	var hooked atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hooked.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	rc := config.DefaultReceiver()
	rc.Name, rc.URL, rc.AllowPrivate = "health", config.Secret(hook.URL), true
	cfg.Notify.Receivers, cfg.Notify.DefaultReceiver = []config.ReceiverConfig{rc}, "health"
	require.NoError(t, cfg.Complete())
	const token = "retention-e2e-admin-token-0123456789"
	clk := clock.NewFake(time.Now())
	a := runApp(t, cfg, Options{PasswordHashing: testHashing, AdminToken: token, RetentionClock: clk})
	api := func(method, path, body string, want int) []byte {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+a.HTTPAddr()+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, want, resp.StatusCode, "%s %s: %s", method, path, b)
		return b
	}
	const name, contact = "Nguyen Thi Hoa", "+84 91 234 5678"

	var room struct{ ID int64 }
	require.NoError(t, json.Unmarshal(api("POST", "/api/ward/q1/rooms",
		`{"name":"101","bindings":{"wearables":["w-101"],"sensors":[],"camera":"door-101","zone":"door"}}`, 201), &room))
	var occ struct {
		ID     int64  `json:"id"`
		CaseID string `json:"case_id"`
	}
	require.NoError(t, json.Unmarshal(api("POST", "/api/ward/q1/checkin",
		fmt.Sprintf(`{"room_id":%d,"name":%q,"contact":%q}`, room.ID, name, contact), 201), &occ))
	occPath := fmt.Sprintf("/api/ward/q1/occupancies/%d", occ.ID)
	api("POST", occPath+"/readings", `{"value":38.6}`, 201)
	require.Contains(t, string(api("GET", occPath, "", 200)), name, "an admin sees the personal fields")

	// The room's wearable reads a fever: the alert names the room and the case id, and is delivered.
	mq := mqttClient(t, a, "w-101")
	tok := mq.Publish("city/d1/q1/w-101", 1, false, `{"body_temperature":39.2}`)
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	pollUntil(t, 20*time.Second, "the fever alert naming the case id", func() bool {
		return strings.Contains(string(api("GET", "/api/alerts?state=firing", "", 200)), "case "+occ.CaseID+" reads")
	})
	pollUntil(t, 20*time.Second, "the webhook delivery", func() bool { return hooked.Load() >= 1 })

	// An event clip of the room's door camera during the stay.
	pollUntil(t, 20*time.Second, "the camera's ring buffer", func() bool {
		r, err := a.media.Ring("door-101")
		return err == nil && r.Seconds >= 1.5
	})
	_, err := a.media.StartClip("door-101", "motion", time.Now())
	require.NoError(t, err)
	pollUntil(t, 20*time.Second, "the clip to be written", func() bool {
		c := a.media.Clips("door-101")
		return len(c) == 1 && !c[0].Recording
	})
	require.NotEmpty(t, clipFiles(t, dir))
	api("POST", occPath+"/status", `{"status":"released"}`, 200)
	releasedAt := time.Now()
	clipsAtRelease := a.media.Clips("door-101")
	require.NotEmpty(t, testenv.FilesContaining(t, dir, name), "the check must be able to see the name")
	// The release resolves the alert (the ward marks its occupant series stale) and the resolution is sent.
	// (to the webhook and to the MQTT notifier, which clears its retained message).
	pollUntil(t, 20*time.Second, "the alert's resolution to be delivered", func() bool {
		body := string(api("GET", "/api/deliveries", "", 200))
		return !strings.Contains(string(api("GET", "/api/alerts?state=firing", "", 200)), occ.CaseID) &&
			strings.Contains(body, `"receiver":"health","fingerprint"`) && strings.Contains(body, `"state":"resolved","status":"delivered"`) &&
			!strings.Contains(body, `"status":"pending"`) && !strings.Contains(body, `"status":"delivering"`)
	})
	require.NotEmpty(t, tablesWith(t, a, occ.CaseID, "ward_occupancies"), "the check must be able to see the case id")
	samplesPath := "/api/v1/query?query=" + url.QueryEscape(fmt.Sprintf(`count_over_time({case_id=%q}[1h])`, occ.CaseID))
	require.Contains(t, string(api("GET", samplesPath, "", 200)), occ.CaseID, "the check must be able to see the case id in the TSDB")
	seriesPath := "/api/v1/series?match[]=" + url.QueryEscape(fmt.Sprintf(`{case_id=%q}`, occ.CaseID))
	for _, path := range []string{seriesPath, "/api/v1/label/case_id/values"} {
		require.Contains(t, string(api("GET", path, "", 200)), occ.CaseID, "the check must be able to see the case id in %s", path)
	}

	// The engine swept at start (nothing due; it sets the last-sweep gauge to its clock's time when done) and
	// waits for its next tick: move its clock 31 days on.
	pollUntil(t, 20*time.Second, "the sweep at start", func() bool {
		return lastSweep(t, a) == float64(clk.Now().Unix())
	})
	waitCtx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntil(waitCtx, 1), "the retention engine waits on its clock")
	clk.Advance(31 * 24 * time.Hour)
	var purges struct {
		Records []struct {
			Target string `json:"target"`
			Detail string `json:"detail"`
		} `json:"records"`
	}
	// The sweep made for the moved clock's time has finished (its write-ahead log checkpoint included) when
	// the last-sweep gauge says that time. The fake clock steps through every hourly tick of the 31 days, so
	// sweeps made for earlier times may run first: the gauge is the sweep's own time, not the clock's at its
	// end (the clock is read mid-move), or a sweep that saw nothing due would pass for the final one.
	pollUntil(t, 20*time.Second, "the sweep after the advance", func() bool {
		return lastSweep(t, a) == float64(clk.Now().Unix())
	})
	require.NoError(t, json.Unmarshal(api("GET", "/api/audit?action=retention_purge", "", 200), &purges))
	require.Len(t, purges.Records, 1)
	// Every clip of the room's camera during the stay: the test's own, and any the camera's analysis started
	// (on a loaded machine a stalled frame can read as tamper). A clip after the release would be kept, and
	// the check below that no clip is left would say so.
	stayClips := 0
	for _, c := range clipsAtRelease {
		if !c.EventTime.After(releasedAt) {
			stayClips++
		}
	}
	assert.Contains(t, purges.Records[0].Detail, fmt.Sprintf("%d clips deleted", stayClips))

	assert.Empty(t, clipFiles(t, dir), "no clip of the room's camera during the stay")
	assert.Empty(t, testenv.FilesContaining(t, dir, name, contact), "no name or contact in any file (database and WAL included)")
	audit := wardtest.WithoutTimes(api("GET", "/api/audit?limit=1000", "", 200))
	for _, s := range []string{occ.CaseID, name, contact, "38.6"} {
		assert.NotContains(t, audit, s, "the audit trail")
	}
	assert.Contains(t, purges.Records[0].Detail, "5 alerts and notifications pseudonymised",
		"the alert, and its firing and resolution to the webhook and the MQTT notifier")
	assert.Empty(t, tablesWith(t, a, occ.CaseID, "ward_occupancies"), "only the ward's pseudonymous record of the stay keeps the case id")
	// Nor does the TSDB tie the case id to a wearable any more: its series (ward_occupant_info and kin) are deleted.
	assert.Regexp(t, `[1-9]\d* time series deleted`, purges.Records[0].Detail)
	// No query finds its samples, and neither the series API nor the label values list it: the series, still
	// in the TSDB's head here (the TSDB runs on real time), were evicted from it (store/tsdb
	// TestDeleteSeriesLeavesNothing covers the blocks' files).
	assert.NotContains(t, string(api("GET", samplesPath, "", 200)), occ.CaseID)
	for _, path := range []string{seriesPath, "/api/v1/label/case_id/values"} {
		assert.NotContains(t, string(api("GET", path, "", 200)), occ.CaseID, path)
	}
	var alertList struct {
		Alerts []struct {
			ID int64 `json:"id"`
		} `json:"alerts"`
	}
	require.NoError(t, json.Unmarshal(api("GET", "/api/alerts?limit=100", "", 200), &alertList))
	require.NotEmpty(t, alertList.Alerts, "the history keeps the alert")
	paths := []string{"/api/alerts?limit=100", "/api/deliveries", fmt.Sprintf("/api/alerts/%d", alertList.Alerts[0].ID)}
	for _, path := range paths {
		assert.NotContains(t, string(api("GET", path, "", 200)), occ.CaseID, path)
	}
	for _, path := range []string{occPath, "/api/ward/q1", "/api/cameras/door-101/clips"} {
		body := wardtest.WithoutTimes(api("GET", path, "", 200))
		for _, s := range []string{name, contact, "38.6"} {
			assert.NotContains(t, body, s, path)
		}
	}
}

// retentionFeverRule is the default pack's Fever rule without its 2 minutes' wait.
const retentionFeverRule = `groups:
  - name: quarantine
    rules:
      - alert: Fever
        expr: (body_temperature > 38.0) * on(site, device) group_left(room, case_id) ward_occupant_info
        labels:
          severity: critical
        annotations:
          summary: "Fever in room {{ $labels.room }} at {{ $labels.site }}: case {{ $labels.case_id }} reads {{ humanize $value }} °C"
`

// tablesWith names the tables of the metadata database, other than except, with a row whose text holds word.
func tablesWith(t *testing.T, a *App, word string, except ...string) []string {
	t.Helper()
	rows, err := a.meta.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	var out []string
	for _, tbl := range tables {
		if slices.Contains(except, tbl) {
			continue
		}
		rows, err := a.meta.Query(`SELECT * FROM "` + tbl + `"`)
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			require.NoError(t, rows.Scan(ptrs...))
			var text strings.Builder
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprint(&text, v, "\x00")
			}
			if strings.Contains(text.String(), word) {
				out = append(out, tbl)
				break
			}
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	return out
}

// lastSweep is citywatch_retention_last_sweep_timestamp_seconds.
func lastSweep(t *testing.T, a *App) float64 {
	t.Helper()
	mfs, err := a.Registry().Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "citywatch_retention_last_sweep_timestamp_seconds" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

// clipFiles lists the files under the data directory's clips/.
func clipFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, "clips"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return err
	})
	if !os.IsNotExist(err) {
		require.NoError(t, err)
	}
	return out
}
