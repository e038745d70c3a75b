// Package wardtest validates the ward's exports the way a receiving system would, for the tests of package ward
// and the end-to-end tests.
package wardtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// The codes the ward's export must use (independent of package ward, so a wrong constant there fails here).
const (
	loincSystem    = "http://loinc.org"
	ucumSystem     = "http://unitsofmeasure.org"
	categorySystem = "http://terminology.hl7.org/CodeSystem/observation-category"
	// LOINCBodyTemp and LOINCHeartRate key ValidateFHIRBundle's counts.
	LOINCBodyTemp  = "8310-5"
	LOINCHeartRate = "8867-4"
)

// ValidateFHIRBundle checks a FHIR R4 JSON bundle of vital signs the way a receiving server would: every element
// is known to the R4 model (strict decoding into the generated R4 structs, resourceType stripped), the bundle is
// a collection whose entries have absolute fullUrls, Patients carry only an id and an identifier (no name,
// telecom or address: pseudonymous), and every Observation follows the vital-signs profile (status, the
// vital-signs category, a LOINC code with a UCUM valueQuantity, a subject that resolves to a Patient in the
// bundle, an effectiveDateTime). It returns the observations per LOINC code.
func ValidateFHIRBundle(data []byte) (map[string]int, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	var b fhir.Bundle
	if err := strictResource(data, "Bundle", &b); err != nil {
		return nil, err
	}
	if b.Type != fhir.BundleTypeCollection {
		return nil, fmt.Errorf("bundle type %s, want collection", b.Type)
	}
	if b.Total == nil || *b.Total != len(b.Entry) {
		return nil, fmt.Errorf("bundle total does not match its %d entries", len(b.Entry))
	}
	patients := map[string]bool{}
	urls := map[string]bool{}
	var observations []fhir.Observation
	uuid := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for i, e := range b.Entry {
		if e.FullUrl == nil || !uuid.MatchString(*e.FullUrl) {
			return nil, fmt.Errorf("entry %d: fullUrl %v is not a urn:uuid", i, e.FullUrl)
		}
		if urls[*e.FullUrl] {
			return nil, fmt.Errorf("entry %d: duplicate fullUrl %s", i, *e.FullUrl)
		}
		urls[*e.FullUrl] = true
		var head struct{ ResourceType string }
		if err := json.Unmarshal(e.Resource, &head); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		switch head.ResourceType {
		case "Patient":
			var p fhir.Patient
			if err := strictResource(e.Resource, "Patient", &p); err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
			if p.Id == nil || !regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`).MatchString(*p.Id) {
				return nil, fmt.Errorf("entry %d: Patient id %v is not a FHIR id", i, p.Id)
			}
			if len(p.Name) > 0 || len(p.Telecom) > 0 || len(p.Address) > 0 || p.BirthDate != nil {
				return nil, fmt.Errorf("entry %d: Patient carries personal data", i)
			}
			if len(p.Identifier) != 1 || p.Identifier[0].Value == nil || *p.Identifier[0].Value != *p.Id {
				return nil, fmt.Errorf("entry %d: Patient identifier is not the case id", i)
			}
			patients[*e.FullUrl] = true
		case "Observation":
			var o fhir.Observation
			if err := strictResource(e.Resource, "Observation", &o); err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
			observations = append(observations, o)
		default:
			return nil, fmt.Errorf("entry %d: unexpected resource %q", i, head.ResourceType)
		}
	}
	units := map[string]string{LOINCBodyTemp: "Cel", LOINCHeartRate: "/min"}
	codes := map[string]int{}
	for i, o := range observations {
		if o.Status != fhir.ObservationStatusFinal {
			return nil, fmt.Errorf("observation %d: status %s", i, o.Status)
		}
		if len(o.Category) != 1 || len(o.Category[0].Coding) != 1 || *o.Category[0].Coding[0].Code != "vital-signs" ||
			*o.Category[0].Coding[0].System != categorySystem {
			return nil, fmt.Errorf("observation %d: not in the vital-signs category", i)
		}
		if len(o.Code.Coding) != 1 || *o.Code.Coding[0].System != loincSystem {
			return nil, fmt.Errorf("observation %d: code is not LOINC", i)
		}
		code := *o.Code.Coding[0].Code
		unit, ok := units[code]
		if !ok {
			return nil, fmt.Errorf("observation %d: LOINC %s is neither body temperature nor heart rate", i, code)
		}
		q := o.ValueQuantity
		if q == nil || q.Value == nil || q.System == nil || *q.System != ucumSystem || q.Code == nil || *q.Code != unit {
			return nil, fmt.Errorf("observation %d: valueQuantity is not UCUM %s", i, unit)
		}
		if _, err := q.Value.Float64(); err != nil || strings.ContainsAny(string(*q.Value), "eE") {
			return nil, fmt.Errorf("observation %d: value %v is not a FHIR decimal", i, *q.Value)
		}
		if o.Subject == nil || o.Subject.Reference == nil || !patients[*o.Subject.Reference] {
			return nil, fmt.Errorf("observation %d: subject does not resolve to a Patient of the bundle", i)
		}
		if o.EffectiveDateTime == nil || !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`).MatchString(*o.EffectiveDateTime) {
			return nil, fmt.Errorf("observation %d: effectiveDateTime %v", i, o.EffectiveDateTime)
		}
		codes[code]++
	}
	return codes, nil
}

// strictResource decodes a resource of type want into v, refusing elements the R4 model does not know.
func strictResource(data []byte, want string, v any) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	var rt string
	if err := json.Unmarshal(m["resourceType"], &rt); err != nil || rt != want {
		return fmt.Errorf("resourceType %q, want %q", rt, want)
	}
	delete(m, "resourceType")
	rest, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", want, err)
	}
	return nil
}
