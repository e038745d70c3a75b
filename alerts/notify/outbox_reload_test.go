package notify

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A reload changes the receivers while the outbox delivers: the unchanged receiver keeps its state, the
// changed one takes its new URL, the added one receives, the removed one's pending rows fail.
func TestSetConfigChangesReceiversWhileRunning(t *testing.T) {
	db, _ := openTestDB(t)
	keep, oldURL, newURL, added := newHook(t), newHook(t), newHook(t), newHook(t)
	o := startOutbox(t, db, Config{Receivers: []Receiver{keep.receiver("keep"), oldURL.receiver("moved"), oldURL.receiver("gone")},
		Routes: []Route{{Receiver: "moved", Continue: true}, {Receiver: "gone", Continue: true}}, DefaultReceiver: "keep"}, nil, nil)
	keepState := o.recv["keep"]

	require.NoError(t, o.SetConfig(testConfig(Config{Receivers: []Receiver{keep.receiver("keep"), newURL.receiver("moved"), added.receiver("added")},
		Routes: []Route{{Receiver: "keep", Continue: true}, {Receiver: "moved", Continue: true}, {Receiver: "added", Continue: true}}, DefaultReceiver: "keep"})))
	o.recvMu.RLock()
	require.Same(t, keepState, o.recv["keep"], "an unchanged receiver keeps its workers and breaker")
	require.NotContains(t, o.recv, "gone")
	o.recvMu.RUnlock()

	enqueue(t, db, o, testChange("AfterReload"))
	require.Eventually(t, func() bool { return keep.Hits() == 1 && newURL.Hits() == 1 && added.Hits() == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, oldURL.Hits(), "the changed receiver's old URL gets nothing")
	require.Error(t, o.SetConfig(Config{Receivers: []Receiver{{Name: "bad name!"}}}))
	o.recvMu.RLock()
	require.Same(t, keepState, o.recv["keep"], "an invalid config changes nothing")
	o.recvMu.RUnlock()
}

func TestSetConfigBeforeStartAndAfterClose(t *testing.T) {
	db, _ := openTestDB(t)
	a, b := newHook(t), newHook(t)
	o, err := NewOutbox(testConfig(Config{Receivers: []Receiver{a.receiver("r")}}), Deps{DB: db})
	require.NoError(t, err)
	require.NoError(t, o.SetConfig(testConfig(Config{Receivers: []Receiver{b.receiver("r")}})))
	require.NoError(t, o.Start())
	enqueue(t, db, o, testChange("BeforeStart"))
	require.Eventually(t, func() bool { return b.Hits() == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Zero(t, a.Hits())
	o.Close()
	require.ErrorIs(t, o.SetConfig(testConfig(Config{Receivers: []Receiver{a.receiver("r")}})), ErrClosed)
}
