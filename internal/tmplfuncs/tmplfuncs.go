// Package tmplfuncs holds what a custom notification template sees: its functions and the sample data a
// template is executed with when it is loaded. It is a leaf (standard library only) so that configuration
// validation parses and executes a template exactly as the notifier does, without depending on the notifier.
package tmplfuncs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Funcs returns the functions available to custom templates (a fresh map each call).
func Funcs() template.FuncMap {
	return template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"upper":   strings.ToUpper,
		"lower":   strings.ToLower,
		"replace": strings.ReplaceAll,
		"trim":    strings.TrimSpace,
		"html":    html.EscapeString,
		"join":    strings.Join,
		"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"default": func(def, v string) string { return map[bool]string{true: def, false: v}[v == ""] },
		"quote":   strconv.Quote,
		"sortKeys": func(m map[string]string) []string {
			k := make([]string, 0, len(m))
			for x := range m {
				k = append(k, x)
			}
			sort.Strings(k)
			return k
		},
	}
}

// Payload is the citywatch JSON notification body, and the data a custom template is executed with
// (notify.Payload is this type). It lives in this leaf so configuration validation executes templates with
// exactly what the outbox does, without depending on the notifier.
type Payload struct {
	// Version of this payload format ("1").
	Version string `json:"version"`
	// ID is the delivery's idempotency key (also sent as the webhook-id header): receivers dedupe on it.
	ID string `json:"id"`
	// Receiver is the configured receiver name.
	Receiver string `json:"receiver"`
	// Alert is the alert name.
	Alert string `json:"alert"`
	// State is "firing" or "resolved".
	State string `json:"state"`
	// Reminder marks a repeat notification of a still-firing alert.
	Reminder bool `json:"reminder"`
	// Flapping says the alert fires and resolves repeatedly (FlapCount fires so far): this notification stands
	// for the whole episode, the next comes when it settles.
	Flapping  bool `json:"flapping,omitempty"`
	FlapCount int  `json:"flap_count,omitempty"`
	// Site is the "site" label.
	Site        string            `json:"site,omitempty"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// Summary is the "summary" annotation, or a generated one-line description.
	Summary string `json:"summary"`
	// Value is the value that fired the alert; null when there is none.
	Value    *float64   `json:"value"`
	StartsAt time.Time  `json:"starts_at"`
	EndsAt   *time.Time `json:"ends_at"`
	// OutageSeconds is how long the alert was firing, on resolve.
	OutageSeconds *float64 `json:"outage_seconds,omitempty"`
	AckedBy       string   `json:"acked_by,omitempty"`
	// LastValues is the "last_values" annotation (or label): embedded as JSON when it is JSON, else a string.
	LastValues json.RawMessage `json:"last_values,omitempty"`
	// SnapshotURL and ClipURL link to camera media when the alert has a "camera" label.
	SnapshotURL  string `json:"snapshot_url,omitempty"`
	ClipURL      string `json:"clip_url,omitempty"`
	GeneratorURL string `json:"generator_url,omitempty"`
	// Language is the receiver's language (receivers[].language) when it is not English, "vi": Summary is in
	// it, and so are the labels and dates of the chat formats.
	Language string `json:"language,omitempty"`
	// TimeZone is the receiver's time_zone, the zone of the dates the chat formats show; "" is UTC.
	TimeZone string `json:"-"`
}

// SampleID and SampleExternalURL are the delivery id and external URL of the sample payloads.
const (
	SampleID          = "cw_sample"
	SampleExternalURL = "https://citywatch.example"
)

// Samples are the payloads a template is executed with at load (firing with a value, resolved without), for
// a template named receiver (the receiver's name): what notify builds from its sample changes (a test in notify checks they are equal).
func Samples(receiver string) []Payload {
	value, outage := 41.2, 3600.0
	starts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ends := time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC)
	return []Payload{{
		Version: "1", ID: SampleID, Receiver: receiver, Alert: "HighTemperature", State: "firing", Site: "siteA",
		Fingerprint: "0123456789abcdef",
		Labels:      map[string]string{"alertname": "HighTemperature", "site": "siteA", "camera": "cam1"},
		Annotations: map[string]string{"summary": "hot", "last_values": `[1,2]`},
		Summary:     "hot", Value: &value, StartsAt: starts, LastValues: json.RawMessage(`[1,2]`),
		SnapshotURL:  SampleExternalURL + "/api/cameras/cam1/snapshot.jpg",
		GeneratorURL: "https://citywatch.example/alerts/1",
	}, {
		Version: "1", ID: SampleID, Receiver: receiver, Alert: "HighTemperature", State: "resolved",
		Fingerprint: "0123456789abcdef", Labels: map[string]string{}, Annotations: map[string]string{},
		Summary: "HighTemperature resolved", StartsAt: starts, EndsAt: &ends, OutageSeconds: &outage,
		AckedBy: "operator",
	}}
}

// MaxOutputBytes bounds what one execution of a template may write.
const MaxOutputBytes = 1 << 20

// ExecuteSamples executes a parsed template with Samples, so that a template that parses but cannot execute
// (a missing field, a bad call) is an error at load, not at delivery.
func ExecuteSamples(t *template.Template) error {
	for _, p := range Samples(t.Name()) {
		b := limitedBuffer{limit: MaxOutputBytes}
		if err := t.Execute(&b, p); err != nil {
			return fmt.Errorf("executing with a sample %s alert: %w", p.State, err)
		}
	}
	return nil
}

// limitedBuffer fails writes past limit so a runaway template cannot exhaust memory at load time.
type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		return 0, errors.New("template output larger than 1 MiB")
	}
	return b.Buffer.Write(p)
}
