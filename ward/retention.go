package ward

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"citywatch/retention"
)

// Store is retention by purpose's occupants store (retention.Occupants): the engine asks it which stays ended
// and purges them one at a time, each with its site's period.
var _ retention.Occupants = (*Store)(nil)

// EndedBefore lists the occupancies of every site whose stay ended (released, transferred, hospitalised) before
// t: site, id, case id, personal name and contact (Names), the camera bound to the room (its clips during the
// stay are the occupant's), start and end (the status change). Purged occupancies stay listed with no names;
// the engine remembers which it purged, and Purge of one again deletes nothing.
func (s *Store) EndedBefore(ctx context.Context, t time.Time) ([]retention.Occupancy, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT o.id, o.site, o.case_id, o.start_ms, o.status_at_ms,
		COALESCE(p.name, ''), COALESCE(p.contact, ''), COALESCE(b.device, '')
		FROM ward_occupancies o
		LEFT JOIN ward_personal p ON p.occupancy_id = o.id
		LEFT JOIN ward_bindings b ON b.room_id = o.room_id AND b.kind = 'camera'
		WHERE o.status != ? AND o.status_at_ms < ? ORDER BY o.id, b.device`, StatusActive, ms(t))
	if err != nil {
		return nil, wrap("ended occupancies", err)
	}
	defer rows.Close()
	var out []retention.Occupancy
	var last int64
	for rows.Next() {
		var id, start, end int64
		var o retention.Occupancy
		var name, contact, camera string
		if err := rows.Scan(&id, &o.Site, &o.CaseID, &start, &end, &name, &contact, &camera); err != nil {
			return nil, wrap("ended occupancies", err)
		}
		if len(out) > 0 && id == last { // one row per bound camera
			if camera != "" {
				out[len(out)-1].Cameras = append(out[len(out)-1].Cameras, camera)
			}
			continue
		}
		last = id
		o.ID, o.Start, o.End = strconv.FormatInt(id, 10), fromMS(start), fromMS(end)
		for _, n := range []string{name, contact} {
			if n != "" {
				o.Names = append(o.Names, n)
			}
		}
		if camera != "" {
			o.Cameras = []string{camera}
		}
		out = append(out, o)
	}
	return out, wrap("ended occupancies", rows.Err())
}

// Purge deletes the personal fields (name, contact) and the manual readings of one ended occupancy and
// pseudonymises the ward events that name its case id (the case id becomes o.Pseudonym, or empty without
// one; the event itself stays for the site's report). The pseudonymous record (case id, room, period,
// status) stays. It returns how many rows it deleted or rewrote; a purge of a purged occupancy returns 0.
// An active occupancy, or one of another site, is refused (ErrConflict, ErrNotFound).
func (s *Store) Purge(ctx context.Context, o retention.Occupancy) (int64, error) {
	id, err := strconv.ParseInt(o.ID, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: occupancy id %q", ErrNotFound, o.ID)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, wrap("purge", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var status Status
	var caseID string
	err = tx.QueryRowContext(ctx, `SELECT status, case_id FROM ward_occupancies WHERE id = ? AND site = ?`, id, o.Site).
		Scan(&status, &caseID)
	if err == sql.ErrNoRows {
		return 0, fmt.Errorf("%w: occupancy %d of site %s", ErrNotFound, id, o.Site)
	}
	if err != nil {
		return 0, wrap("purge", err)
	}
	if status == StatusActive {
		return 0, fmt.Errorf("%w: occupancy %d is active", ErrConflict, id)
	}
	var n int64
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM ward_personal WHERE occupancy_id = ?`, []any{id}},
		{`DELETE FROM ward_manual_readings WHERE occupancy_id = ?`, []any{id}},
		{`UPDATE ward_events SET case_id = ? WHERE site = ? AND case_id = ?`, []any{o.Pseudonym, o.Site, caseID}},
	} {
		res, err := tx.ExecContext(ctx, q.sql, q.args...)
		if err != nil {
			return 0, wrap("purge", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, wrap("purge", err)
		}
		n += k
	}
	return n, wrap("purge", tx.Commit())
}
