package alerts

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCancelledRequestStopsWork: the API methods run their database work under the caller's context, so a
// request the client abandoned (or the server shut down) stops instead of finishing work nobody waits for.
func TestCancelledRequestStopsWork(t *testing.T) {
	e := newEnv(t, Config{Rules: []Rule{{Alert: "Hot", Expr: "temperature > 30"}}})
	e.add("temperature", hot("a"), 0, 35)
	e.at(0)
	a := e.active("Hot", "site")["a"]
	require.NotZero(t, a.ID)
	e.at(10 * time.Minute) // stale: resolved and out of memory, so Alert reads the database
	done, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := e.m.Alerts(done, AlertFilter{})
	require.ErrorIs(t, err, context.Canceled, "Alerts")
	_, err = e.m.Alert(done, a.ID)
	require.ErrorIs(t, err, context.Canceled, "Alert")
	require.ErrorIs(t, e.m.Ack(done, a.ID, "nurse.kim", "late"), context.Canceled, "Ack")
	require.ErrorIs(t, e.m.Assign(done, a.ID, "dr.lee"), context.Canceled, "Assign")
	_, err = e.m.AddSilence(done, Silence{Matchers: []Matcher{{Name: "site", Op: "=", Value: "a"}},
		EndsAt: t0.Add(time.Hour), CreatedBy: "op", Comment: "works"})
	require.ErrorIs(t, err, context.Canceled, "AddSilence")
	require.Empty(t, e.m.Silences(), "a cancelled AddSilence stores nothing")

	got, err := e.m.Alert(context.Background(), a.ID)
	require.NoError(t, err)
	require.Empty(t, got.AckedBy, "a cancelled Ack changes nothing")
	require.Empty(t, got.Assignee, "a cancelled Assign changes nothing")

	id, err := e.m.AddSilence(context.Background(), Silence{Matchers: []Matcher{{Name: "site", Op: "=", Value: "a"}},
		EndsAt: t0.Add(time.Hour), CreatedBy: "op", Comment: "works"})
	require.NoError(t, err)
	require.ErrorIs(t, e.m.ExpireSilence(done, id), context.Canceled, "ExpireSilence")
	require.Equal(t, "active", e.m.Silences()[0].Status, "a cancelled ExpireSilence changes nothing")
}
