package alerts

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEventIngestStalled: the ingest pipeline reports every few seconds how long nothing has been stored although
// messages keep arriving; the rule fires once that reaches its window and resolves when samples are stored again. It
// needs no PromQL, so it fires when the TSDB itself cannot write.
func TestEventIngestStalled(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{{Alert: "IngestStalled",
		Event:       &EventSpec{Kind: EventIngestStalled, Window: time.Minute},
		Annotations: map[string]string{"summary": "nothing stored for {{ humanizeDuration $value }}"}}}})
	status := func(stalled, at time.Duration) {
		e.m.Event(Event{Kind: KindIngestStatus, Value: stalled.Seconds(), Time: t0.Add(at)})
	}
	for at := time.Duration(0); at <= 55*sec; at += 5 * sec {
		status(at, at) // stalled since t0
	}
	e.at(55 * sec)
	assert.Empty(t, e.active("IngestStalled", "alertname"))
	status(60*sec, 60*sec)
	e.at(60 * sec)
	a := e.active("IngestStalled", "alertname")["IngestStalled"]
	require.Equal(t, StateFiring, a.State)
	assert.Equal(t, "nothing stored for 1m 0s", a.Annotations["summary"])
	assert.Equal(t, []string{"IngestStalled//firing"}, kinds(e.outbox.take()))

	// A restart keeps it firing until a status says otherwise.
	e.start(Config{Rules: e.m.cfg.Rules})
	e.at(65 * sec)
	assert.Len(t, e.active("IngestStalled", "alertname"), 1)
	assert.Empty(t, e.outbox.take())

	status(0, 70*sec) // stored again
	e.at(70 * sec)
	assert.Empty(t, e.active("IngestStalled", "alertname"))
	assert.Equal(t, []string{"IngestStalled//resolved"}, kinds(e.outbox.take()))

	// An older status than the last applied one does not bring it back.
	status(90*sec, 65*sec)
	e.at(75 * sec)
	assert.Empty(t, e.active("IngestStalled", "alertname"))
}
