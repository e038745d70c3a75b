package alerts

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// storeAlert writes an alert row as the manager leaves it.
func storeAlert(t *testing.T, e *env, a *Alert) {
	t.Helper()
	tx, err := e.m.db.BeginTx(context.Background(), nil)
	require.NoError(t, err)
	a.Fingerprint = fingerprint(a.Labels)
	a.ruleKey = a.Rule
	a.ActiveAt = t0
	require.NoError(t, saveAlert(context.Background(), tx, a))
	require.NoError(t, tx.Commit())
}

// TestPseudonymiseHistory: settled alerts of the site naming the case id (labels, annotations, ack comment)
// name the pseudonym instead, with a fingerprint of the new labels; another site's alert, another occupant's
// longer case id and the rest of the record stay; an alert still firing is left and reported, and a later
// call, once it settled, rewrites it.
func TestPseudonymiseHistory(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	fever := func(site, caseID string, st State, notified State) *Alert {
		return &Alert{Rule: "Fever", State: st, NotifiedState: string(notified), Value: 38.9,
			Labels:      map[string]string{"alertname": "Fever", "site": site, "room": "101", "case_id": caseID},
			Annotations: map[string]string{"summary": "Fever in room 101 at " + site + ": case " + caseID + " reads 38.9 °C"}}
	}
	settled := fever("q1", "Q-0001", StateResolved, StateResolved)
	settled.AckedBy, settled.AckComment = "lan", "called Q-0001, fine"
	other := fever("q2", "Q-0001", StateResolved, StateResolved)
	longer := fever("q1", "Q-00011", StateResolved, StateResolved)
	for _, a := range []*Alert{settled, other, longer} {
		storeAlert(t, e, a)
	}
	oldFP := settled.Fingerprint

	n, fps, err := e.m.Pseudonymise(ctx, "q1", []string{"Q-0001", "Nguyen Thi Hoa"}, "purged-abc")
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	got, err := e.m.Alert(ctx, settled.ID)
	require.NoError(t, err)
	assert.Equal(t, "purged-abc", got.Labels["case_id"])
	assert.Equal(t, "Fever in room 101 at q1: case purged-abc reads 38.9 °C", got.Annotations["summary"])
	assert.Equal(t, "called purged-abc, fine", got.AckComment)
	assert.Equal(t, "lan", got.AckedBy)
	assert.Equal(t, fingerprint(got.Labels), got.Fingerprint)
	assert.Equal(t, map[string]string{oldFP: got.Fingerprint}, fps)
	for _, a := range []*Alert{other, longer} {
		got, err := e.m.Alert(ctx, a.ID)
		require.NoError(t, err)
		assert.Equal(t, a.Labels, got.Labels, "untouched")
		assert.Equal(t, a.Fingerprint, got.Fingerprint)
	}

	// Still firing, or resolved with the resolution still to notify: left alone and reported.
	firing := fever("q1", "Q-0002", StateFiring, StateFiring)
	storeAlert(t, e, firing)
	_, _, err = e.m.Pseudonymise(ctx, "q1", []string{"Q-0002"}, "purged-def")
	require.ErrorIs(t, err, ErrStillActive)
	got, err = e.m.Alert(ctx, firing.ID)
	require.NoError(t, err)
	assert.Equal(t, "Q-0002", got.Labels["case_id"])
}
