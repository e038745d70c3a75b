package notify

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOutboxPseudonymise: settled delivery rows of the site naming the case id carry the pseudonym instead, in
// the labels, the annotations and the acknowledger, and follow the alert's new fingerprint; another site's
// row and another occupant's longer case id stay; a row still queued is left and reported.
func TestOutboxPseudonymise(t *testing.T) {
	db, _ := openTestDB(t)
	o, err := NewOutbox(testConfig(Config{}), Deps{DB: db})
	require.NoError(t, err)
	ctx := context.Background()
	row := func(site, caseID, fp, status string) int64 {
		c := testChange("Fever")
		c.Fingerprint = fp
		c.Labels = map[string]string{"alertname": "Fever", "site": site, "case_id": caseID}
		c.Annotations = map[string]string{"summary": "case " + caseID + " reads 38.9"}
		js, err := json.Marshal(toStored(c))
		require.NoError(t, err)
		res, err := db.Exec(`INSERT INTO notify_deliveries (idempotency_key, receiver, fingerprint, alert_name, alert_state,
			change_json, status, next_attempt_at, retry_since, created_at, updated_at) VALUES (?, 'r', ?, 'Fever', 'firing', ?, ?, 0, 0, 0, 0)`,
			site+caseID+fp+status, fp, string(js), status)
		require.NoError(t, err)
		id, _ := res.LastInsertId()
		return id
	}
	read := func(id int64) (string, storedChange) {
		var fp, js string
		require.NoError(t, db.QueryRow(`SELECT fingerprint, change_json FROM notify_deliveries WHERE id = ?`, id).Scan(&fp, &js))
		var c storedChange
		require.NoError(t, json.Unmarshal([]byte(js), &c))
		return fp, c
	}
	delivered := row("q1", "Q-0001", "fp-old", StatusDelivered)
	dead := row("q1", "Q-0001", "fp-gone", StatusDead)
	otherSite := row("q2", "Q-0001", "fp-q2", StatusDelivered)
	longer := row("q1", "Q-00011", "fp-longer", StatusDelivered)

	n, err := o.Pseudonymise(ctx, "q1", []string{"Q-0001"}, "purged-abc", map[string]string{"fp-old": "fp-new"})
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	fp, c := read(delivered)
	assert.Equal(t, "fp-new", fp)
	assert.Equal(t, "fp-new", c.Fingerprint)
	assert.Equal(t, "purged-abc", c.Labels["case_id"])
	assert.Equal(t, "case purged-abc reads 38.9", c.Annotations["summary"])
	fp, c = read(dead)
	assert.Equal(t, "fp-gone", fp, "an alert whose record is gone keeps its fingerprint")
	assert.Equal(t, "purged-abc", c.Labels["case_id"])
	for _, id := range []int64{otherSite, longer} {
		_, c := read(id)
		assert.NotEqual(t, "purged-abc", c.Labels["case_id"])
	}

	queued := row("q1", "Q-0002", "fp-q", StatusPending)
	_, err = o.Pseudonymise(ctx, "q1", []string{"Q-0002"}, "purged-def", nil)
	require.ErrorIs(t, err, ErrStillQueued)
	_, c = read(queued)
	assert.Equal(t, "Q-0002", c.Labels["case_id"])
}
