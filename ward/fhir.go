package ward

import (
	"context"
	"crypto/sha1" //nolint:gosec // name-based UUIDs (RFC 9562 v5) are defined on SHA-1; not a security use
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// FHIR codes of the export.
const (
	LOINCSystem       = "http://loinc.org"
	UCUMSystem        = "http://unitsofmeasure.org"
	CategorySystem    = "http://terminology.hl7.org/CodeSystem/observation-category"
	CaseIDSystem      = "urn:citywatch:case-id"
	LOINCBodyTemp     = "8310-5"
	LOINCHeartRate    = "8867-4"
	vitalSignsProfile = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
)

// fhirCode is the LOINC code, display and UCUM unit of each exported metric.
var fhirCode = map[string]struct{ code, display, unit string }{
	MetricBodyTemperature: {LOINCBodyTemp, "Body temperature", "Cel"},
	MetricHeartRate:       {LOINCHeartRate, "Heart rate", "/min"},
}

// uuid5 is a name-based UUID (RFC 9562 version 5) in the URL namespace, so an export of the same data names
// the same resources.
func uuid5(name string) string {
	ns := []byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	h := sha1.New() //nolint:gosec // see the import
	h.Write(ns)
	h.Write([]byte(name))
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// BuildFHIR exports site's readings of the local day at day as a FHIR R4 Bundle (type collection): one Patient per
// occupancy, identified by its pseudonymous case id only, and vital-signs Observations of body temperature
// (LOINC 8310-5, Cel) and heart rate (LOINC 8867-4, /min): the wearables' readings at ExportStep resolution (the
// last reading of each step) and every manual reading (method "manual entry").
func (w *Ward) BuildFHIR(ctx context.Context, site string, day time.Time) (fhir.Bundle, error) {
	from, to := day, day.AddDate(0, 0, 1)
	now := w.clk.Now().UTC().Format(time.RFC3339)
	bundle := fhir.Bundle{Type: fhir.BundleTypeCollection, Timestamp: &now}
	recs, err := w.dayRecords(ctx, site, from, to)
	if err != nil {
		return bundle, err
	}
	occs, roomByID, manual := recs.occs, recs.roomByID, recs.manual
	add := func(fullURL string, res any) error {
		raw, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("ward: fhir: %w", err)
		}
		bundle.Entry = append(bundle.Entry, fhir.BundleEntry{FullUrl: &fullURL, Resource: raw})
		return nil
	}
	for _, o := range occs {
		patientURL := uuid5(site + "/" + o.CaseID)
		caseID := o.CaseID
		if err := add(patientURL, fhir.Patient{Id: &caseID, Identifier: []fhir.Identifier{{System: ptr(CaseIDSystem), Value: &caseID}}}); err != nil {
			return bundle, err
		}
		subject := &fhir.Reference{Reference: &patientURL, Display: &caseID}
		obs := func(metric string, t time.Time, v float64, device string, manual bool) error {
			c := fhirCode[metric]
			eff := t.UTC().Format(time.RFC3339)
			o := fhir.Observation{
				Meta:   &fhir.Meta{Profile: []string{vitalSignsProfile}},
				Status: fhir.ObservationStatusFinal,
				Category: []fhir.CodeableConcept{{Coding: []fhir.Coding{{System: ptr(CategorySystem), Code: ptr("vital-signs"),
					Display: ptr("Vital Signs")}}}},
				Code:              fhir.CodeableConcept{Coding: []fhir.Coding{{System: ptr(LOINCSystem), Code: ptr(c.code), Display: ptr(c.display)}}, Text: ptr(c.display)},
				Subject:           subject,
				EffectiveDateTime: &eff,
				ValueQuantity:     &fhir.Quantity{Value: ptr(json.Number(strconv.FormatFloat(v, 'f', -1, 64))), Unit: ptr(c.unit), System: ptr(UCUMSystem), Code: ptr(c.unit)},
			}
			if manual {
				o.Method = &fhir.CodeableConcept{Text: ptr("manual entry")}
			} else {
				o.Device = &fhir.Reference{Display: ptr("wearable " + device)}
			}
			return add(uuid5(fmt.Sprintf("%s/%s/%s/%d/%s/%t", site, caseID, metric, t.UnixMilli(), device, manual)), o)
		}
		for _, m := range manual {
			if m.OccupancyID == o.ID {
				if err := obs(m.Metric, m.Time, m.Value, "", true); err != nil {
					return bundle, err
				}
			}
		}
		end := to
		if o.Status != StatusActive && o.StatusAt.Before(end) {
			end = o.StatusAt
		}
		for _, d := range roomByID[o.RoomID].Bindings.Wearables {
			for _, metric := range []string{MetricBodyTemperature, MetricHeartRate} {
				pts, err := w.deps.Reader.Points(ctx, metric, map[string]string{"site": site, "device": d}, maxTime(from, o.Start), end)
				if err != nil {
					return bundle, err
				}
				for _, p := range downsample(pts, w.cfg.ExportStep) {
					if err := obs(metric, p.T, p.V, d, false); err != nil {
						return bundle, err
					}
				}
			}
		}
	}
	total := len(bundle.Entry)
	bundle.Total = &total
	return bundle, nil
}

func ptr[T any](v T) *T { return &v }

// downsample keeps the last point of each step (points in time order).
func downsample(pts []Point, step time.Duration) []Point {
	var out []Point
	for i, p := range pts {
		if i+1 < len(pts) && pts[i+1].T.Truncate(step).Equal(p.T.Truncate(step)) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// fhir serves the day's FHIR R4 bundle (application/fhir+json): ?date=YYYY-MM-DD.
func (w *Ward) fhir(rw http.ResponseWriter, r *http.Request, site string) {
	day, err := w.dayParam(r, site)
	if err != nil {
		w.fail(rw, err)
		return
	}
	b, err := w.BuildFHIR(r.Context(), site, day)
	if err != nil {
		w.fail(rw, err)
		return
	}
	w.record(r, AuditExport, site, "fhir "+day.Format("2006-01-02"), fmt.Sprintf("%d entries", len(b.Entry)), true)
	body, err := json.Marshal(b)
	if err != nil {
		w.fail(rw, err)
		return
	}
	rw.Header().Set("Content-Type", "application/fhir+json")
	rw.Header().Set("Cache-Control", "no-store")
	rw.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="ward-%s-%s.fhir.json"`, site, day.Format("2006-01-02")))
	_, _ = rw.Write(body)
}
