package ward

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"citywatch/alerts"
	"citywatch/internal/i18n"
)

// ReportRow is one occupant in the daily report.
type ReportRow struct {
	Room   string `json:"room"`
	CaseID string `json:"case_id"`
	Status Status `json:"status"`
	// MinTemp and MaxTemp are over the wearable and manual readings of the day (NaN: none; JSON null).
	MinTemp *float64 `json:"min_temp"`
	MaxTemp *float64 `json:"max_temp"`
	// RoundsDone of RoundsDue (rounds of the day that were due after check-in and have closed).
	RoundsDone int `json:"rounds_done"`
	RoundsDue  int `json:"rounds_due"`
	// ManualReadings counts the nurses' entries of the day.
	ManualReadings int           `json:"manual_readings"`
	Alerts         []ReportAlert `json:"alerts"`
	// NightDoorEvents counts door motion at night in the room (possible leaves included).
	NightDoorEvents int `json:"night_door_events"`
}

// ReportAlert is an alert of the occupant during the day and its acknowledgement.
type ReportAlert struct {
	Name    string    `json:"name"`
	State   string    `json:"state"`
	Active  time.Time `json:"active_at"`
	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
}

// Report is a site's daily report for the health authority (pseudonymous: case ids, no names).
type Report struct {
	Site     string      `json:"site"`
	Date     string      `json:"date"`
	TimeZone string      `json:"time_zone"`
	Rows     []ReportRow `json:"rows"`
}

// dayOccupancies are site's occupancies active at some time in [from, to).
func (w *Ward) dayOccupancies(ctx context.Context, site string, from, to time.Time) ([]Occupancy, error) {
	all, err := w.st.Occupancies(ctx, site, false, false)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, o := range all {
		if o.Start.Before(to) && (o.Status == StatusActive || !o.StatusAt.Before(from)) {
			out = append(out, o)
		}
	}
	return out, nil
}

// dayRecords are what the daily report and the FHIR export of a site's day read first.
type dayRecords struct {
	occs     []Occupancy // active at some time of the day (dayOccupancies)
	roomByID map[int64]Room
	manual   []ManualReading
}

func (w *Ward) dayRecords(ctx context.Context, site string, from, to time.Time) (dayRecords, error) {
	var d dayRecords
	occs, err := w.dayOccupancies(ctx, site, from, to)
	if err != nil {
		return d, err
	}
	rooms, err := w.st.Rooms(ctx, site)
	if err != nil {
		return d, err
	}
	d.occs, d.roomByID = occs, make(map[int64]Room, len(rooms))
	for _, r := range rooms {
		d.roomByID[r.ID] = r
	}
	d.manual, err = w.st.ManualReadings(ctx, site, from, to)
	return d, err
}

// BuildReport builds site's report for the local day starting at day.
func (w *Ward) BuildReport(ctx context.Context, site string, day time.Time) (Report, error) {
	sc := w.Site(site)
	from, to := day, day.AddDate(0, 0, 1)
	rep := Report{Site: site, Date: day.Format("2006-01-02"), TimeZone: sc.Location.String(), Rows: []ReportRow{}}
	recs, err := w.dayRecords(ctx, site, from, to)
	if err != nil {
		return rep, err
	}
	occs, roomByID, manual := recs.occs, recs.roomByID, recs.manual
	events, err := w.st.Events(ctx, site, from, to)
	if err != nil {
		return rep, err
	}
	var alertList []alerts.Alert
	if w.deps.Alerts != nil {
		if alertList, err = w.deps.Alerts.Alerts(ctx, alerts.AlertFilter{Site: site, Since: from, Limit: 10000}); err != nil {
			return rep, fmt.Errorf("ward: report alerts: %w", err)
		}
	}
	now := w.clk.Now()
	for _, o := range occs {
		row := ReportRow{Room: o.Room, CaseID: o.CaseID, Status: o.Status, Alerts: []ReportAlert{}}
		lo, hi := math.Inf(1), math.Inf(-1)
		note := func(v float64) { lo, hi = math.Min(lo, v), math.Max(hi, v) }
		var readings []Reading
		for _, m := range manual {
			if m.OccupancyID != o.ID {
				continue
			}
			row.ManualReadings++
			if m.Metric == MetricBodyTemperature {
				note(m.Value)
				readings = append(readings, Reading{Time: m.Time, Value: m.Value, Manual: true, Round: m.Round})
			}
		}
		for _, d := range roomByID[o.RoomID].Bindings.Wearables {
			pts, err := w.deps.Reader.Points(ctx, MetricBodyTemperature, map[string]string{"site": site, "device": d},
				maxTime(from, o.Start).Add(-sc.Window), to.Add(sc.Window))
			if err != nil {
				return rep, err
			}
			for _, p := range pts {
				if !p.T.Before(from) && p.T.Before(to) {
					note(p.V)
				}
				readings = append(readings, Reading{Time: p.T, Value: p.V, Device: d})
			}
		}
		if lo <= hi {
			row.MinTemp, row.MaxTemp = &lo, &hi
		}
		for _, round := range sc.RoundsOn(day) {
			if o.Start.After(round) || round.Add(sc.Window).After(now) || (o.Status != StatusActive && o.StatusAt.Before(round)) {
				continue
			}
			row.RoundsDue++
			if DecideRound(round, sc.Window, now, readings, sc.FeverThreshold).State == RoundDone {
				row.RoundsDone++
			}
		}
		for _, a := range alertList {
			if a.Labels["case_id"] != o.CaseID || a.ActiveAt.Before(from) || !a.ActiveAt.Before(to) {
				continue
			}
			row.Alerts = append(row.Alerts, ReportAlert{Name: a.Rule, State: string(a.State), Active: a.ActiveAt,
				AckedBy: a.AckedBy, AckedAt: a.AckedAt})
		}
		for _, e := range events {
			if e.Room == o.Room && (e.Kind == EventDoorNight || e.Kind == EventPossibleLeave) &&
				!e.Time.Before(maxTime(from, o.Start)) {
				row.NightDoorEvents++
			}
		}
		rep.Rows = append(rep.Rows, row)
	}
	sort.SliceStable(rep.Rows, func(i, j int) bool { return rep.Rows[i].Room < rep.Rows[j].Room })
	return rep, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// CSVHeader is the daily report's CSV header.
var CSVHeader = []string{"room", "case_id", "status", "min_temp_c", "max_temp_c", "rounds_done", "rounds_due",
	"manual_readings", "alerts", "night_door_events"}

// WriteCSV writes the report as CSV, one occupant a line; alerts are "name state active_at [acked by X at T]"
// joined with "; ".
func (rep Report) WriteCSV(w *csv.Writer) error {
	if err := w.Write(CSVHeader); err != nil {
		return err
	}
	for _, r := range rep.Rows {
		if err := w.Write([]string{r.Room, r.CaseID, string(r.Status), temp(r.MinTemp), temp(r.MaxTemp),
			strconv.Itoa(r.RoundsDone), strconv.Itoa(r.RoundsDue), strconv.Itoa(r.ManualReadings), alertText(r.Alerts),
			strconv.Itoa(r.NightDoorEvents)}); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

func temp(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}

func alertText(list []ReportAlert) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = fmt.Sprintf("%s %s %s", a.Name, a.State, a.Active.UTC().Format(time.RFC3339))
		if a.AckedBy != "" {
			parts[i] += fmt.Sprintf(" acked by %s at %s", a.AckedBy, a.AckedAt.UTC().Format(time.RFC3339))
		}
	}
	return strings.Join(parts, "; ")
}

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{"temp": temp, "alerts": alertText}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ward report {{.Site}} {{.Date}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#000;background:#fff}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #888;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eee}td.n{text-align:right}@media print{body{margin:0}a{display:none}}
</style></head><body>
<h1>Daily ward report — {{.Site}}, {{.Date}}</h1>
<p>Time zone {{.TimeZone}}. Occupants are named by pseudonymous case id only. {{len .Rows}} occupants.</p>
<table><thead><tr><th>Room</th><th>Case id</th><th>Status</th><th>Min °C</th><th>Max °C</th><th>Rounds</th>
<th>Manual</th><th>Alerts and acknowledgements</th><th>Night door events</th></tr></thead><tbody>
{{range .Rows}}<tr><td>{{.Room}}</td><td>{{.CaseID}}</td><td>{{.Status}}</td><td class="n">{{temp .MinTemp}}</td>
<td class="n">{{temp .MaxTemp}}</td><td class="n">{{.RoundsDone}}/{{.RoundsDue}}</td><td class="n">{{.ManualReadings}}</td>
<td>{{alerts .Alerts}}</td><td class="n">{{.NightDoorEvents}}</td></tr>
{{end}}</tbody></table></body></html>
`))

// report serves the daily report: ?date=YYYY-MM-DD (site's zone, default today), ?format=json|csv|html|pdf.
func (w *Ward) report(rw http.ResponseWriter, r *http.Request, site string) {
	day, err := w.dayParam(r, site)
	if err != nil {
		w.fail(rw, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" && format != "html" && format != "pdf" {
		w.fail(rw, invalid("format %q: json, csv, html or pdf", format))
		return
	}
	rep, err := w.BuildReport(r.Context(), site, day)
	if err != nil {
		w.fail(rw, err)
		return
	}
	w.record(r, AuditExport, site, "report "+rep.Date, format, true)
	name := fmt.Sprintf("ward-%s-%s", site, rep.Date)
	switch format {
	case "csv":
		rw.Header().Set("Content-Type", "text/csv; charset=utf-8")
		rw.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		rw.Header().Set("Cache-Control", "no-store")
		_ = rep.WriteCSV(i18n.NewCSVWriter(rw)) // with the BOM: Excel shows Vietnamese diacritics
	case "html":
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
		rw.Header().Set("X-Content-Type-Options", "nosniff")
		rw.Header().Set("Cache-Control", "no-store")
		_ = reportPage.Execute(rw, rep)
	case "pdf":
		var buf bytes.Buffer // a failure is answered as one, not as half a file
		if err := rep.WritePDF(&buf); err != nil {
			w.fail(rw, fmt.Errorf("ward: report pdf: %w", err))
			return
		}
		rw.Header().Set("Content-Type", "application/pdf")
		rw.Header().Set("Content-Disposition", `attachment; filename="`+name+`.pdf"`)
		rw.Header().Set("X-Content-Type-Options", "nosniff")
		rw.Header().Set("Cache-Control", "no-store")
		_, _ = rw.Write(buf.Bytes())
	default:
		writeJSON(rw, http.StatusOK, rep)
	}
}
