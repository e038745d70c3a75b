package audit_test

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"citywatch/internal/clock"
	"citywatch/internal/i18n"

	"citywatch/dashboards/audit"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func newLog(t *testing.T) (*audit.Log, *prometheus.Registry) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "a.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	reg := prometheus.NewRegistry()
	l, err := audit.New(db, audit.Config{DefaultLimit: 3, MaxLimit: 5}, audit.Deps{Registerer: reg, Clock: clock.NewFake(t0)})
	require.NoError(t, err)
	return l, reg
}

func TestEveryActionOneRecord(t *testing.T) {
	l, reg := newLog(t)
	ctx := context.Background()
	for i, act := range audit.Actions {
		rec := audit.Record{Time: t0.Add(time.Duration(i) * time.Second), Actor: "alice", Role: "operator", Action: act,
			Site: "site-a", Camera: "cam1", Target: "t" + act, IP: "192.0.2.1", Detail: "d " + act, Success: i%2 == 0}
		require.NoError(t, l.Record(ctx, rec))
		got, err := l.Query(ctx, audit.Filter{Action: act})
		require.NoError(t, err)
		require.Len(t, got, 1, act)
		assert.Positive(t, got[0].ID)
		rec.ID = got[0].ID
		assert.Equal(t, rec, got[0])
		assert.Equal(t, float64(1), counterValue(t, reg, act, rec.Success), act)
	}
	require.Error(t, l.Record(ctx, audit.Record{Actor: "x"}), "a record needs an action")
}

func counterValue(t *testing.T, reg *prometheus.Registry, action string, success bool) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "citywatch_audit_records_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			lbl := map[string]string{}
			for _, lp := range m.GetLabel() {
				lbl[lp.GetName()] = lp.GetValue()
			}
			if lbl["action"] == action && lbl["success"] == strconv.FormatBool(success) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func seed(t *testing.T, l *audit.Log) {
	t.Helper()
	recs := []audit.Record{
		{Time: t0, Actor: "alice", Action: audit.LoginSuccess, Success: true},
		{Time: t0.Add(time.Minute), Actor: "bob", Action: audit.ClipPlay, Site: "a", Camera: "c1", Success: true},
		{Time: t0.Add(2 * time.Minute), Actor: "alice", Action: audit.AlertAck, Site: "b", Target: "alert-9", Success: true},
		{Time: t0.Add(3 * time.Minute), Actor: "=cmd|' /C calc'!A0", Action: audit.LoginFailure, Detail: "unknown user"},
		{Time: t0.Add(4 * time.Minute), Actor: "bob", Action: audit.ClipDownload, Site: "a", Detail: "line1\nline2, \"quoted\""},
	}
	for _, r := range recs {
		require.NoError(t, l.Record(context.Background(), r))
	}
}

// queryCases: URL query → the actors of the records returned, newest first, or the error detail.
var queryCases = []struct {
	query  string
	actors []string
	err    string
}{
	{"", []string{"bob", "=cmd|' /C calc'!A0", "alice"}, ""},                          // default limit 3
	{"limit=100", []string{"bob", "=cmd|' /C calc'!A0", "alice", "bob", "alice"}, ""}, // capped at 5
	{"actor=alice", []string{"alice", "alice"}, ""},
	{"action=clip_play", []string{"bob"}, ""},
	{"site=a", []string{"bob", "bob"}, ""},
	{"since=2026-11-27T08:01:00Z&until=2026-11-27T08:03:00Z", []string{"alice", "bob"}, ""},
	{"since=1795766520&limit=5", []string{"bob", "=cmd|' /C calc'!A0", "alice"}, ""}, // 08:02:00Z
	{"before_id=3&limit=5", []string{"bob", "alice"}, ""},
	{"actor=nobody", []string{}, ""},
	{"action=hack", nil, `action: unknown action "hack"`},
	{"since=yesterday", nil, `since: want RFC 3339 or unix seconds, got "yesterday"`},
	{"limit=0", nil, `limit: must be a positive integer, got "0"`},
	{"before_id=-1", nil, `before_id: must be a positive integer, got "-1"`},
	{"format=xml", nil, `format: must be json or csv, got "xml"`},
	{"actr=alice", nil, `unknown parameter "actr"`},
	{"actor=a&actor=b", nil, `parameter "actor" given 2 times`},
}

func TestQueryHandler(t *testing.T) {
	l, _ := newLog(t)
	seed(t, l)
	h := l.Handler()
	for _, tc := range queryCases {
		t.Run(tc.query, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/api/audit?"+tc.query, nil))
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			var body struct {
				Records []audit.Record `json:"records"`
				Error   string         `json:"error"`
				Detail  string         `json:"detail"`
			}
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
			if tc.err != "" {
				assert.Equal(t, http.StatusBadRequest, w.Code)
				assert.Equal(t, tc.err, body.Detail)
				return
			}
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			actors := []string{}
			for _, r := range body.Records {
				actors = append(actors, r.Actor)
			}
			assert.Equal(t, tc.actors, actors)
		})
	}
}

func TestCSVExport(t *testing.T) {
	l, _ := newLog(t)
	seed(t, l)
	w := httptest.NewRecorder()
	l.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/api/audit?format=csv&limit=5", nil))
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "text/csv; charset=utf-8", w.Header().Get("Content-Type"))
	assert.Contains(t, w.Header().Get("Content-Disposition"), `attachment; filename="citywatch-audit-20261127T080000Z.csv"`)
	require.True(t, strings.HasPrefix(w.Body.String(), i18n.BOM), "the BOM makes Excel read UTF-8")
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(w.Body.String(), i18n.BOM))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 6)
	assert.Equal(t, audit.CSVHeader, rows[0])
	assert.Equal(t, []string{"5", "2026-11-27T08:04:00Z", "bob", "", "clip_download", "a", "", "", "", "false",
		"line1\nline2, \"quoted\""}, rows[1])
	assert.Equal(t, "'=cmd|' /C calc'!A0", rows[2][2], "formula cells are defused")
	assert.Equal(t, "true", rows[5][9])
}

// TestCSVExportVietnamese: Vietnamese names and details survive the export byte for byte, after the BOM.
func TestCSVExportVietnamese(t *testing.T) {
	l, _ := newLog(t)
	detail := "Sốt 38,9 °C — Phòng 203; điều dưỡng Nguyễn Thị Hường đã xác nhận"
	require.NoError(t, l.Record(context.Background(), audit.Record{Time: t0, Actor: "hường.nguyễn", Action: audit.AlertAck,
		Site: "khu-cách-ly-3", Detail: detail, Success: true}))
	w := httptest.NewRecorder()
	l.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/api/audit?format=csv", nil))
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.Bytes()
	require.Equal(t, []byte{0xEF, 0xBB, 0xBF}, body[:3])
	rows, err := csv.NewReader(strings.NewReader(string(i18n.TrimBOM(body)))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, "hường.nguyễn", rows[1][2])
	assert.Equal(t, "khu-cách-ly-3", rows[1][5])
	assert.Equal(t, detail, rows[1][10])
}

func TestRegisterGuards(t *testing.T) {
	l, _ := newLog(t)
	mux := http.NewServeMux()
	assert.Panics(t, func() { l.Register(mux, nil) })
	l.Register(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) })
	})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/api/audit", nil))
	assert.Equal(t, http.StatusForbidden, w.Code)
}

func TestPruneAndLimits(t *testing.T) {
	l, _ := newLog(t)
	seed(t, l)
	ctx := context.Background()
	n, err := l.Prune(ctx, t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	require.NoError(t, l.Record(ctx, audit.Record{Action: audit.RuleChange, Detail: strings.Repeat("é", 5000)}))
	got, err := l.Query(ctx, audit.Filter{Action: audit.RuleChange})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.LessOrEqual(t, len(got[0].Detail), 2048)
	assert.True(t, strings.HasPrefix(got[0].Detail, "ééé"))
	assert.Equal(t, t0, got[0].Time, "zero time is now")
}

func FuzzQuery(f *testing.F) {
	for _, tc := range queryCases {
		f.Add(tc.query)
	}
	l, err := audit.New(mustDB(f), audit.Config{}, audit.Deps{})
	require.NoError(f, err)
	h := l.Handler()
	f.Fuzz(func(t *testing.T, q string) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/api/audit", nil)
		r.URL.RawQuery = q
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Errorf("query %q: status %d", q, w.Code)
		}
	})
}

func mustDB(f *testing.F) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.TempDir(), "a.db")+"?_pragma=busy_timeout(5000)")
	require.NoError(f, err)
	f.Cleanup(func() { _ = db.Close() })
	return db
}
