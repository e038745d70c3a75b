package dashboards

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
)

// evictStream is an open /api/events stream read in the background: its messages and whether it ended.
type evictStream struct {
	cancel context.CancelFunc
	done   chan struct{}
	body   strings.Builder // written by the reader goroutine; read after done
}

// openEvictStream opens /api/events with token and returns the status and, for 200, the stream, read in the
// background until the server ends it.
func (e *limitsEnv) openEvictStream(t *testing.T, token string) (int, *evictStream) {
	t.Helper()
	res, cancel := e.requestStream(t, token)
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		cancel()
		return res.StatusCode, nil
	}
	st := &evictStream{cancel: cancel, done: make(chan struct{})}
	br := bufio.NewReader(res.Body)
	first, err := br.ReadString('\n') // the stream is open on the server
	require.NoError(t, err)
	st.body.WriteString(first)
	go func() {
		defer close(st.done)
		defer res.Body.Close()
		_, _ = io.Copy(&st.body, br)
	}()
	t.Cleanup(func() { cancel(); <-st.done })
	return res.StatusCode, st
}

// ended reports whether the server ended the stream, and what it sent.
func (s *evictStream) ended() (bool, string) {
	select {
	case <-s.done:
		return true, s.body.String()
	default:
		return false, ""
	}
}

// TestEventStreamOverPrincipalCapEvictsOldest: a person reloading pages faster than the server sees their old
// streams close is never refused: a stream over max_event_streams_per_principal ends that principal's oldest
// stream, which is told so ("event: evicted", so the page does not reconnect and evict in turn). A script
// opening many streams is still bounded: it never holds more than the cap, and never takes another principal's
// place. The total cap still refuses (429) a principal with no stream of its own to give up.
func TestEventStreamOverPrincipalCapEvictsOldest(t *testing.T) {
	const per, total = 3, 5
	e := newLimitsEnv(t, Limits{MaxEventStreams: total, MaxEventStreamsPerPrincipal: per}, Deps{})
	other, err := e.a.IssueToken(context.Background(), "other", auth.RoleViewer, []string{auth.AllSitesWildcard}, false, 0)
	require.NoError(t, err)
	third, err := e.a.IssueToken(context.Background(), "third", auth.RoleViewer, []string{auth.AllSitesWildcard}, false, 0)
	require.NoError(t, err)

	code, bystander := e.openEvictStream(t, other)
	require.Equal(t, http.StatusOK, code)
	// A script (or a person reloading) opens 12 streams without closing any.
	var mine []*evictStream
	for i := range 12 {
		code, st := e.openEvictStream(t, e.token)
		require.Equal(t, http.StatusOK, code, "stream %d of one principal over its cap of %d", i+1, per)
		mine = append(mine, st)
		require.Eventually(t, func() bool { return e.bus.Subscribers() <= per+1 }, 10*time.Second, 5*time.Millisecond,
			"the principal holds at most %d streams", per)
	}
	for i, st := range mine[:len(mine)-per] {
		require.Eventually(t, func() bool { ok, _ := st.ended(); return ok }, 10*time.Second, 5*time.Millisecond, "stream %d evicted", i)
		_, body := st.ended()
		assert.Contains(t, body, "event: evicted\n", "stream %d is told why it ends", i)
	}
	for i, st := range mine[len(mine)-per:] {
		ok, _ := st.ended()
		assert.False(t, ok, "the newest streams stay open (%d)", i)
	}
	ok, _ := bystander.ended()
	assert.False(t, ok, "another principal's stream is never evicted")
	assert.Equal(t, 12.0-per, testutil.ToFloat64(e.s.streamsEvicted))

	// Total cap: admin holds 3 and other 1 of 5. other's second fits; then third, with none, is refused,
	// while other's next replaces other's own oldest.
	code, _ = e.openEvictStream(t, other)
	require.Equal(t, http.StatusOK, code)
	code, _ = e.openEvictStream(t, third)
	require.Equal(t, http.StatusTooManyRequests, code, "the total cap refuses a principal with no stream")
	code, _ = e.openEvictStream(t, other)
	require.Equal(t, http.StatusOK, code, "at the total cap a principal's new stream replaces its own oldest")
	require.Eventually(t, func() bool { ok, _ := bystander.ended(); return ok }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1.0, testutil.ToFloat64(e.s.streamsRejected.WithLabelValues("total")))
	assert.Equal(t, 0.0, testutil.ToFloat64(e.s.streamsRejected.WithLabelValues("principal")))
}

// TestClosedStreamFreesItsPlace: a client that goes away (a closed tab: its connection closes) frees its
// place for anyone, round after round, without the server having to fail a write first.
func TestClosedStreamFreesItsPlace(t *testing.T) {
	e := newLimitsEnv(t, Limits{MaxEventStreams: 1, MaxEventStreamsPerPrincipal: 1}, Deps{})
	other, err := e.a.IssueToken(context.Background(), "other", auth.RoleViewer, []string{auth.AllSitesWildcard}, false, 0)
	require.NoError(t, err)
	for i := range 4 {
		token := e.token
		if i%2 == 1 {
			token = other
		}
		code, st := e.openEvictStream(t, token)
		require.Equal(t, http.StatusOK, code, "round %d: the previous client's place is free", i)
		st.cancel()
		<-st.done
		require.Eventually(t, func() bool { return e.bus.Subscribers() == 0 }, 10*time.Second, 5*time.Millisecond,
			"round %d: the server sees the client leave", i)
	}
	assert.Equal(t, 0.0, testutil.ToFloat64(e.s.streamsEvicted), "nothing evicted: every place was freed")
}
