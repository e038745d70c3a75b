package alerts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"citywatch/internal/pseudonym"
)

// ErrStillActive is returned by Pseudonymise when an alert that names a subject is still pending, firing or
// has its resolution to notify: its record is the manager's live state and is left alone; retry later.
var ErrStillActive = errors.New("alerts: an alert naming the subject is still active")

// Pseudonymise rewrites the settled alerts of site (resolved, the resolution notified) whose labels,
// annotations or acknowledgement comment name one of subjects (an occupant's case id, name or contact, see
// package retention): each whole occurrence becomes pseudo, and the fingerprint is recomputed from the new
// labels (a hash of labels holding a short case id could be searched back to it). The history keeps its
// alerts, times and acknowledgements; the person leaves it. It returns how many alerts it rewrote and the
// fingerprints it replaced (old to new), so the notification outbox's rows of those alerts can follow
// (notify.Outbox.Pseudonymise). Alerts still active are counted in the error (ErrStillActive) and rewritten by
// a later call, once settled.
func (m *Manager) Pseudonymise(ctx context.Context, site string, subjects []string, pseudo string) (int64, map[string]string, error) {
	var conds []string
	var args []any
	for _, s := range subjects {
		if s == "" {
			continue
		}
		for _, col := range []string{"labels", "annotations", "ack_comment"} {
			conds = append(conds, "instr("+col+", ?) > 0")
			args = append(args, s)
		}
	}
	if len(conds) == 0 {
		return 0, nil, nil
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("alerts: pseudonymise: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	rows, err := tx.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE site = ? AND (`+strings.Join(conds, " OR ")+`)`,
		append([]any{site}, args...)...)
	if err != nil {
		return 0, nil, fmt.Errorf("alerts: pseudonymise: %w", err)
	}
	var found []*Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			rows.Close()
			return 0, nil, fmt.Errorf("alerts: pseudonymise: %w", err)
		}
		found = append(found, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("alerts: pseudonymise: %w", err)
	}
	var n int64
	active := 0
	fps := map[string]string{}
	for _, a := range found {
		changed := pseudonym.Map(a.Labels, subjects, pseudo)
		changed = pseudonym.Map(a.Annotations, subjects, pseudo) || changed
		comment, c := pseudonym.Replace(a.AckComment, subjects, pseudo)
		if !changed && !c {
			continue // a subject inside a longer word (another occupant's id)
		}
		if a.State != StateResolved || a.NotifiedState == string(StateFiring) {
			active++
			continue
		}
		old := a.Fingerprint
		a.Fingerprint, a.AckComment = fingerprint(a.Labels), comment
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET fingerprint = ?, labels = ?, annotations = ?, ack_comment = ?
			WHERE id = ?`, a.Fingerprint, jsonString(a.Labels), jsonString(a.Annotations), a.AckComment, a.ID); err != nil {
			return 0, nil, fmt.Errorf("alerts: pseudonymise alert %d: %w", a.ID, err)
		}
		fps[old] = a.Fingerprint
		n++
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, fmt.Errorf("alerts: pseudonymise: %w", err)
	}
	if active > 0 {
		return n, fps, fmt.Errorf("%w: %d of site %s", ErrStillActive, active, site)
	}
	return n, fps, nil
}
