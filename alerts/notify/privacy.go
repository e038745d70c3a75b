package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"citywatch/internal/pseudonym"
)

// ErrStillQueued is returned by Pseudonymise when a delivery that names a subject is still pending or being
// delivered: it is left to be sent as it is; retry later.
var ErrStillQueued = errors.New("notify: a delivery naming the subject is still queued")

// Pseudonymise rewrites the settled delivery rows (delivered, failed, dead) of site's alerts whose stored
// change names one of subjects (an occupant's case id, name or contact, see package retention): each whole
// occurrence in the labels, annotations and acknowledger becomes pseudo, and the row's fingerprint follows
// fingerprints (old to new, from alerts.Manager.Pseudonymise) when the alert's record was rewritten. A replay
// then sends the pseudonymised change. It returns how many rows it rewrote; rows still queued are counted in
// the error (ErrStillQueued) and rewritten by a later call.
func (o *Outbox) Pseudonymise(ctx context.Context, site string, subjects []string, pseudo string, fingerprints map[string]string) (int64, error) {
	var conds []string
	var args []any
	for _, s := range subjects {
		if s != "" {
			conds = append(conds, "instr(change_json, ?) > 0")
			args = append(args, s)
		}
	}
	if len(conds) == 0 {
		return 0, nil
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("notify: pseudonymise: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	rows, err := tx.QueryContext(ctx, `SELECT id, status, change_json FROM notify_deliveries WHERE `+strings.Join(conds, " OR "), args...)
	if err != nil {
		return 0, fmt.Errorf("notify: pseudonymise: %w", err)
	}
	type row struct {
		id     int64
		status string
		change storedChange
	}
	var found []row
	for rows.Next() {
		var r row
		var js string
		if err := rows.Scan(&r.id, &r.status, &js); err != nil {
			rows.Close()
			return 0, fmt.Errorf("notify: pseudonymise: %w", err)
		}
		if err := json.Unmarshal([]byte(js), &r.change); err != nil {
			rows.Close()
			return 0, fmt.Errorf("notify: pseudonymise delivery %d: %w", r.id, err)
		}
		found = append(found, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("notify: pseudonymise: %w", err)
	}
	var n int64
	queued := 0
	for _, r := range found {
		c := &r.change
		if c.Labels["site"] != site {
			continue
		}
		changed := pseudonym.Map(c.Labels, subjects, pseudo)
		changed = pseudonym.Map(c.Annotations, subjects, pseudo) || changed
		acked, a := pseudonym.Replace(c.AckedBy, subjects, pseudo)
		if !changed && !a {
			continue
		}
		if r.status == StatusPending || r.status == StatusDelivering {
			queued++
			continue
		}
		c.AckedBy = acked
		if fp, ok := fingerprints[c.Fingerprint]; ok {
			c.Fingerprint = fp
		}
		js, err := json.Marshal(c)
		if err != nil {
			return 0, fmt.Errorf("notify: pseudonymise delivery %d: %w", r.id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notify_deliveries SET change_json = ?, fingerprint = ? WHERE id = ?`,
			string(js), c.Fingerprint, r.id); err != nil {
			return 0, fmt.Errorf("notify: pseudonymise delivery %d: %w", r.id, err)
		}
		n++
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("notify: pseudonymise: %w", err)
	}
	if queued > 0 {
		return n, fmt.Errorf("%w: %d of site %s", ErrStillQueued, queued, site)
	}
	return n, nil
}
