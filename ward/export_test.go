package ward

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/alerts"
	"citywatch/dashboards/auth"
	"citywatch/internal/i18n"
	"citywatch/ward/wardtest"
)

// fakeAlerts answers the report's alert list.
type fakeAlerts []alerts.Alert

func (f fakeAlerts) Alerts(context.Context, alerts.AlertFilter) ([]alerts.Alert, error) {
	return f, nil
}

// TestFHIRExport: the day's bundle has one Patient per occupant (case id only) and vital-signs Observations of
// body temperature and heart rate, wearable readings at the export step and every manual reading, and it
// validates.
func TestFHIRExport(t *testing.T) {
	ctx := context.Background()
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	ae := newAPIEnv(t, day.Add(6*time.Hour))
	e := ae.env
	e.wearable(t, "site-a", "wearable-site-a", MetricBodyTemperature, day.Add(7*time.Hour), day.Add(8*time.Hour), 36.8)
	e.wearable(t, "site-a", "wearable-site-a", MetricHeartRate, day.Add(7*time.Hour), day.Add(7*time.Hour+30*time.Minute), 72)
	_, err := e.ward.Store().AddManualReading(ctx, "site-a", ManualReading{OccupancyID: ae.occ["site-a"].ID, Value: 37.4,
		Time: day.Add(6 * time.Hour), EnteredBy: "nurse"})
	require.NoError(t, err)
	e.clock.Set(day.Add(9 * time.Hour))

	code, body := ae.do(t, auth.RoleHealthStaff, []string{"site-a"}, "GET", "/api/ward/site-a/fhir?date=2026-12-07", "")
	require.Equal(t, http.StatusOK, code, body)
	codes, err := wardtest.ValidateFHIRBundle([]byte(body))
	require.NoError(t, err)
	// 12 five-minute steps of temperature plus the manual one, 6 of heart rate.
	assert.Equal(t, map[string]int{LOINCBodyTemp: 13, LOINCHeartRate: 6}, codes)
	assert.NotContains(t, body, "Secret Name")
	assert.Contains(t, body, `"manual entry"`)
}

// TestFHIRValidatorRejects: the validator is not a rubber stamp.
func TestFHIRValidatorRejects(t *testing.T) {
	good := `{"resourceType":"Bundle","type":"collection","total":2,"entry":[
{"fullUrl":"urn:uuid:6e8bc430-9c3a-5d8c-8a3e-1e2a4b5c6d7e","resource":{"resourceType":"Patient","id":"Q-1","identifier":[{"system":"urn:citywatch:case-id","value":"Q-1"}]}},
{"fullUrl":"urn:uuid:6e8bc430-9c3a-5d8c-8a3e-1e2a4b5c6d7f","resource":{"resourceType":"Observation","status":"final",
"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
"code":{"coding":[{"system":"http://loinc.org","code":"8310-5"}]},"subject":{"reference":"urn:uuid:6e8bc430-9c3a-5d8c-8a3e-1e2a4b5c6d7e"},
"effectiveDateTime":"2026-12-07T08:00:00Z","valueQuantity":{"value":36.6,"unit":"Cel","system":"http://unitsofmeasure.org","code":"Cel"}}}]}`
	_, err := wardtest.ValidateFHIRBundle([]byte(good))
	require.NoError(t, err)
	for _, bad := range []struct{ name, from, to string }{
		{"unknown element", `"status":"final"`, `"status":"final","temperature":1`},
		{"bad status", `"status":"final"`, `"status":"done"`},
		{"not UCUM", `"code":"Cel"}`, `"code":"C"}`},
		{"dangling subject", `"subject":{"reference":"urn:uuid:6e8bc430-9c3a-5d8c-8a3e-1e2a4b5c6d7e"}`, `"subject":{"reference":"Patient/x"}`},
		{"patient name", `"id":"Q-1",`, `"id":"Q-1","name":[{"text":"Jan"}],`},
		{"wrong LOINC", `"code":"8310-5"`, `"code":"1234-5"`},
		{"total", `"total":2`, `"total":3`},
		{"effective", `"2026-12-07T08:00:00Z"`, `"yesterday"`},
	} {
		_, err := wardtest.ValidateFHIRBundle([]byte(strings.Replace(good, bad.from, bad.to, 1)))
		assert.Error(t, err, bad.name)
	}
}

// TestDailyReport: the report lists each occupant of the day with min/max temperature, rounds done, alerts with
// their acknowledgement and night door events, as JSON, CSV and a printable page.
func TestDailyReport(t *testing.T) {
	ctx := context.Background()
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	ae := newAPIEnv(t, day.Add(6*time.Hour)) // checked in at 06:00: both rounds of the day are due
	e := ae.env
	caseID := ae.occ["site-a"].CaseID
	e.wearable(t, "site-a", "wearable-site-a", MetricBodyTemperature, day.Add(7*time.Hour+55*time.Minute), day.Add(8*time.Hour+5*time.Minute), 36.5)
	e.wearable(t, "site-a", "wearable-site-a", MetricBodyTemperature, day.Add(12*time.Hour), day.Add(12*time.Hour+time.Minute), 38.6)
	require.NoError(t, e.ward.Store().AddEvent(ctx, Event{Site: "site-a", Room: "101", CaseID: caseID, Kind: EventDoorNight, Time: day.Add(2 * time.Hour)}))
	require.NoError(t, e.ward.Store().AddEvent(ctx, Event{Site: "site-a", Room: "101", CaseID: caseID, Kind: EventDoorNight, Time: day.Add(23 * time.Hour)}))
	e.ward.deps.Alerts = fakeAlerts{{Rule: "Fever", State: alerts.StateResolved, ActiveAt: day.Add(12 * time.Hour),
		Labels: map[string]string{"site": "site-a", "case_id": caseID}, AckedBy: "nurse1", AckedAt: day.Add(12*time.Hour + 5*time.Minute)},
		{Rule: "Fever", Labels: map[string]string{"site": "site-a", "case_id": "Q-OTHER"}, ActiveAt: day.Add(12 * time.Hour)}}
	e.clock.Set(day.Add(23*time.Hour + 30*time.Minute))

	rep, err := e.ward.BuildReport(ctx, "site-a", day)
	require.NoError(t, err)
	require.Len(t, rep.Rows, 1)
	r := rep.Rows[0]
	assert.Equal(t, caseID, r.CaseID)
	assert.Equal(t, 36.5, *r.MinTemp)
	assert.Equal(t, 38.6, *r.MaxTemp)
	assert.Equal(t, 1, r.RoundsDone, "08:00 from the wearable; 20:00 missed")
	assert.Equal(t, 2, r.RoundsDue)
	require.Len(t, r.Alerts, 1)
	assert.Equal(t, "nurse1", r.Alerts[0].AckedBy)
	assert.Equal(t, 1, r.NightDoorEvents, "the 02:00 event was before the check-in, another occupant's")

	code, body := ae.do(t, auth.RoleViewer, []string{"site-a"}, "GET", "/api/ward/site-a/report?date=2026-12-07&format=csv", "")
	require.Equal(t, http.StatusOK, code, body)
	require.True(t, strings.HasPrefix(body, i18n.BOM), "the BOM makes Excel read the UTF-8 export")
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, i18n.BOM))).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, CSVHeader, rows[0])
	assert.Equal(t, []string{"101", caseID, "active", "36.5", "38.6", "1", "2", "0"}, rows[1][:8])
	assert.Contains(t, rows[1][8], "acked by nurse1")
	assert.Equal(t, "1", rows[1][9])

	code, body = ae.do(t, auth.RoleViewer, []string{"site-a"}, "GET", "/api/ward/site-a/report?date=2026-12-07&format=html", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "<td>"+caseID+"</td>")
	assert.Contains(t, body, "1/2")
	assert.NotContains(t, body, "Secret Name")
}
