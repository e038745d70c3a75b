package broker

import (
	"testing"
)

// TestQoS0HandedOverWithTheMessage: with a Sink that gives the message back to its completion (the ingest
// pipeline), a QoS 0 publish is handed over that way, needing no pooled state of the hook until its batch is
// stored, and a failure to store it is still counted (outcome dropped); QoS 1 keeps its held-packet path.
func TestQoS0HandedOverWithTheMessage(t *testing.T) {
	rec := newRecordSink()
	sink := newAsyncMessageSink(t, rec).(*asyncMessageSinkT)
	b, reg := startBroker(t, anonConfig(), sink)
	c := mustConnect(t, clientOpts("tcp://"+b.Addrs().TCP, "qos0-msg", "", ""))
	if err := wait(t, c.Publish("city/d1/s1/dev", 0, false, "1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "QoS 0 stored", func() bool { return len(rec.messages()) == 1 })
	if got := sink.viaMessage.Load(); got != 1 {
		t.Fatalf("QoS 0 publishes handed over with the message: %d, want 1", got)
	}
	if err := wait(t, c.Publish("city/d1/s1/dev", 1, false, "2")); err != nil {
		t.Fatal(err)
	}
	if got := sink.viaMessage.Load(); got != 1 {
		t.Errorf("a QoS 1 publish was handed over with the message (%d)", got)
	}

	rec.setErr(errStore)
	if err := wait(t, c.Publish("city/d1/s1/dev", 0, false, "3")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "dropped counted", func() bool {
		return counter(t, reg, "citywatch_broker_ingest_failures_total", "outcome", "dropped") == 1
	})
}
