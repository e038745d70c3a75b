package audit

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"citywatch/internal/i18n"
	"citywatch/internal/jsonhttp"
)

// Mux is where Register adds its route; *http.ServeMux and auth.Router satisfy it.
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Register adds GET /api/audit to mux. wrap guards the handler (pass auth's Require(ActionReadAudit, ...)); a
// nil wrap is refused because the audit trail must never be served unauthenticated.
func (l *Log) Register(mux Mux, wrap func(http.Handler) http.Handler) {
	if wrap == nil {
		panic("audit: Register needs an access-control wrapper") // a wiring defect, caught by the first test
	}
	mux.Handle("GET /api/audit", wrap(l.Handler()))
}

// Handler serves the audit trail: JSON by default, CSV with ?format=csv. Query parameters: actor, action, site,
// since and until (RFC 3339 or unix seconds), before_id, limit, format. Unknown parameters are rejected.
func (l *Log) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, format, err := parseQuery(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid query", err.Error())
			return
		}
		recs, err := l.Query(r.Context(), f)
		if err != nil {
			l.log.Error("audit query failed", "err", err)
			writeError(w, http.StatusInternalServerError, "audit query failed", nil)
			return
		}
		if format == "csv" {
			l.writeCSV(w, recs)
			return
		}
		body := map[string]any{"records": recs}
		if n := len(recs); n > 0 {
			body["next_before_id"] = recs[n-1].ID
		}
		writeJSON(w, http.StatusOK, body)
	})
}

// CSVHeader is the header row of the CSV export.
var CSVHeader = []string{"id", "time", "actor", "role", "action", "site", "camera", "target", "ip", "success", "detail"}

func (l *Log) writeCSV(w http.ResponseWriter, recs []Record) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition",
		fmt.Sprintf(`attachment; filename="citywatch-audit-%s.csv"`, l.clk.Now().UTC().Format("20060102T150405Z")))
	cw := i18n.NewCSVWriter(w) // with the BOM: Excel shows Vietnamese names and details
	_ = cw.Write(CSVHeader)
	for _, r := range recs {
		_ = cw.Write([]string{
			strconv.FormatInt(r.ID, 10), r.Time.UTC().Format(time.RFC3339Nano), cell(r.Actor), cell(r.Role),
			cell(r.Action), cell(r.Site), cell(r.Camera), cell(r.Target), cell(r.IP), strconv.FormatBool(r.Success),
			cell(r.Detail),
		})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		l.log.Warn("audit CSV export interrupted", "err", err)
	}
}

// cell defuses spreadsheet formula injection: actor names of failed logins are typed by anyone, and admins open
// these exports in spreadsheets. A leading apostrophe makes the cell plain text.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

var queryKeys = map[string]bool{
	"actor": true, "action": true, "site": true, "since": true, "until": true, "before_id": true, "limit": true,
	"format": true,
}

func parseQuery(q url.Values) (Filter, string, error) {
	var f Filter
	for k, v := range q {
		if !queryKeys[k] {
			return f, "", fmt.Errorf("unknown parameter %q", k)
		}
		if len(v) != 1 {
			return f, "", fmt.Errorf("parameter %q given %d times", k, len(v))
		}
	}
	f.Actor, f.Site = q.Get("actor"), q.Get("site")
	f.Action = q.Get("action")
	if f.Action != "" && !KnownAction(f.Action) {
		return f, "", fmt.Errorf("action: unknown action %q", clip(f.Action, 64))
	}
	var err error
	if f.Since, err = parseTime(q.Get("since")); err != nil {
		return f, "", fmt.Errorf("since: %w", err)
	}
	if f.Until, err = parseTime(q.Get("until")); err != nil {
		return f, "", fmt.Errorf("until: %w", err)
	}
	if s := q.Get("before_id"); s != "" {
		if f.BeforeID, err = strconv.ParseInt(s, 10, 64); err != nil || f.BeforeID <= 0 {
			return f, "", fmt.Errorf("before_id: must be a positive integer, got %q", clip(s, 64))
		}
	}
	if s := q.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit <= 0 {
			return f, "", fmt.Errorf("limit: must be a positive integer, got %q", clip(s, 64))
		}
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return f, "", fmt.Errorf("format: must be json or csv, got %q", clip(format, 64))
	}
	return f, format, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n < 1<<40 {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("want RFC 3339 or unix seconds, got %q", clip(s, 64))
}

func writeJSON(w http.ResponseWriter, code int, v any) { jsonhttp.Write(w, code, v) }

func writeError(w http.ResponseWriter, code int, msg string, detail any) {
	body := map[string]any{"error": msg}
	if detail != nil {
		body["detail"] = detail
	}
	writeJSON(w, code, body)
}
