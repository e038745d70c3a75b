package ingest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"citywatch/ingest/mapping"
	"citywatch/store"
)

// fakeMapper maps topics "city/{district}/{site}/{device}" with payloads "name=value;name=value" to samples.
// Payload "bad" is a bad_json rejection that still names the device; "weird" a reason outside the closed set;
// "boom" a plain error. Other topics are unmapped.
type fakeMapper struct{}

func (fakeMapper) Map(topic string, payload []byte, now time.Time) (mapping.Result, error) {
	parts := strings.Split(topic, "/")
	if len(parts) != 4 || parts[0] != "city" {
		return mapping.Result{}, &mapping.RejectError{Reason: mapping.ReasonUnmappedTopic, Err: errors.New("no rule matches")}
	}
	res := mapping.Result{
		Device: parts[1] + "/" + parts[2] + "/" + parts[3],
		DeviceLabels: []store.Label{
			{Name: "device", Value: parts[3]}, {Name: "district", Value: parts[1]}, {Name: "site", Value: parts[2]},
		},
	}
	switch string(payload) {
	case "bad":
		return res, &mapping.RejectError{Reason: mapping.ReasonBadJSON, Err: errors.New("invalid character 'b'")}
	case "weird":
		return res, &mapping.RejectError{Reason: "not_a_reason", Err: errors.New("weird")}
	case "boom":
		return mapping.Result{}, errors.New("mapper bug")
	}
	for _, kv := range strings.Split(string(payload), ";") {
		name, val, ok := strings.Cut(kv, "=")
		v, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil {
			return res, &mapping.RejectError{Reason: mapping.ReasonBadNumber, Err: errors.New("bad number")}
		}
		res.Samples = append(res.Samples, store.Sample{Name: name, Labels: res.DeviceLabels, T: now.UnixMilli(), V: v})
	}
	return res, nil
}

// fakeAppender records appended samples.
type fakeAppender struct {
	mu      sync.Mutex
	samples []store.Sample
	calls   int
	// err, when set, is returned by Append; for a *store.RejectedError the samples beyond its Count are stored.
	err error
}

func (a *fakeAppender) Append(_ context.Context, s []store.Sample) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	var rej *store.RejectedError
	switch {
	case a.err == nil:
		a.samples = append(a.samples, s...)
	case errors.As(a.err, &rej):
		a.samples = append(a.samples, s[:max(len(s)-rej.Count, 0)]...)
	}
	return a.err
}

func (a *fakeAppender) all() []store.Sample {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]store.Sample(nil), a.samples...)
}

// metricValue returns the value of the counter, gauge or histogram count named name with exactly the given
// label pairs, and whether it exists.
func metricValue(t testing.TB, g prometheus.Gatherer, name string, labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Errorf("gather: %v", err) // not Fatal: polling conditions call this from other goroutines
		return 0, false
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels)/2 {
				continue
			}
			for i, lp := range m.GetLabel() {
				if lp.GetName() != labels[2*i] || lp.GetValue() != labels[2*i+1] {
					continue next
				}
			}
			return value(m), true
		}
	}
	return 0, false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}
