package audit

import (
	"context"
	"fmt"
	"strings"
)

// Actions about the occupants of a quarantine ward (recorded by the ward with the occupant's case id as
// Target), and the deletion record of retention by purpose. A view of an occupant's record is audited like a
// view of video.
const (
	OccupantView     Action = "ward_occupant_view"
	RosterView       Action = "ward_roster_view"
	RoomCreate       Action = "ward_room_create"
	BindingsChange   Action = "ward_bindings_change"
	CheckIn          Action = "ward_check_in"
	StatusChange     Action = "ward_status_change"
	ManualReading    Action = "ward_manual_reading"
	WardExport       Action = "ward_export"
	RetentionPurge   Action = "retention_purge"
	minSubjectInText        = 4 // shorter subjects are matched in Target only, never inside Detail
)

// OccupantActions lists the ward and retention actions, in the order above. KnownAction accepts them.
var OccupantActions = []Action{
	OccupantView, RosterView, RoomCreate, BindingsChange, CheckIn, StatusChange, ManualReading, WardExport,
	RetentionPurge,
}

// Pseudonymise rewrites the records of site that name one of subjects (an occupant's case id, name or
// contact): a Target equal to a subject becomes pseudonym, and the Detail of every such record, or of any
// record of the site whose Detail contains a subject of at least 4 characters, is cleared (it may hold a
// reading or a name). Who acted, what, when and from where stay: the trail keeps its shape, the person
// leaves it. It returns how many records it changed.
func (l *Log) Pseudonymise(ctx context.Context, site string, subjects []string, pseudonym string) (int64, error) {
	var conds []string
	var args []any
	for _, s := range subjects {
		if s == "" {
			continue
		}
		s = clip(s, maxFieldLength)
		conds = append(conds, "target = ?")
		args = append(args, s)
		if len(s) >= minSubjectInText {
			conds = append(conds, "instr(detail, ?) > 0")
			args = append(args, s)
		}
	}
	if len(conds) == 0 {
		return 0, nil
	}
	var targets []string
	var targs []any
	for _, s := range subjects {
		if s != "" {
			targets = append(targets, "?")
			targs = append(targs, clip(s, maxFieldLength))
		}
	}
	q := `UPDATE audit_log SET
		target = CASE WHEN target IN (` + strings.Join(targets, ",") + `) THEN ? ELSE target END,
		detail = ''
		WHERE site = ? AND (` + strings.Join(conds, " OR ") + `)`
	all := append(append(targs, clip(pseudonym, maxFieldLength), site), args...)
	res, err := l.db.ExecContext(ctx, q, all...)
	if err != nil {
		return 0, fmt.Errorf("audit: pseudonymise: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("audit: pseudonymise: %w", err)
	}
	return n, nil
}
