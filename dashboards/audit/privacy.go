package audit

import (
	"context"
	"strings"
)

// RetentionPurge is the deletion record of retention by purpose: one per occupant whose personal data were
// deleted or pseudonymised (the ward's own actions are in ward.go).
const RetentionPurge Action = "retention_purge"

// minSubjectInText: shorter subjects are matched in Target only, never inside Detail.
const minSubjectInText = 4

// OccupantActions lists the actions that concern a ward's occupants: the ward's and the deletion record.
// KnownAction accepts them.
var OccupantActions = append(wardActions[:len(wardActions):len(wardActions)], RetentionPurge)

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
	return l.change(ctx, "pseudonymise", q, all...)
}
