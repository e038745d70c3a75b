package alerts

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"citywatch/alerts/notify"
)

// inhibitLabel on a firing alert names the labels (comma-separated, e.g. "site") whose equal values mark the
// alerts it inhibits: an uplink-down alert with inhibit_scope=site mutes the notifications of the other alerts
// of that site, which are listed under it.
const inhibitLabel = "inhibit_scope"

// groupState is the notification timing of one group.
type groupState struct {
	created   time.Time
	lastFlush time.Time
}

// note is one notification to send.
type note struct {
	a    *Alert
	kind string // "firing", "resolved" or "reminder"
}

// dispatch computes silences and inhibition for the staged alerts and decides which notifications are due,
// following Alertmanager's group_wait / group_interval / repeat_interval.
func (m *Manager) dispatch(t *tick) {
	now, g := t.now, m.cfg.Grouping
	var active []*Alert
	for _, next := range t.next {
		for _, a := range next {
			active = append(active, a)
		}
	}
	var silences []*Silence
	for _, s := range m.silences {
		if s.status(now) == "active" {
			silences = append(silences, s)
		}
	}
	for _, a := range append(slices.Clip(active), t.resolved...) {
		a.SilencedBy, a.inhibitors, a.InhibitedBy, a.Inhibits = nil, nil, nil, nil
		for _, s := range silences {
			if s.matches(a.Labels) {
				a.SilencedBy = append(a.SilencedBy, s.ID)
			}
		}
	}
	for _, src := range active {
		scope := src.Labels[inhibitLabel]
		if src.State != StateFiring || scope == "" {
			continue
		}
		for _, a := range active {
			if a != src && a.Labels[inhibitLabel] == "" && sameScope(src.Labels, a.Labels, scope) {
				a.inhibitors = append(a.inhibitors, src)
			}
		}
	}

	groups := map[string][]*Alert{}
	for _, a := range append(slices.Clip(active), t.resolved...) {
		if a.State == StatePending {
			continue
		}
		k := groupKey(a.Labels, g.GroupBy)
		groups[k] = append(groups[k], a)
	}
	for k := range t.groups {
		if _, ok := groups[k]; !ok {
			delete(t.groups, k)
		}
	}
	for k, as := range groups {
		slices.SortFunc(as, func(a, b *Alert) int { return a.ActiveAt.Compare(b.ActiveAt) })
		var notes []note
		var lastNotified time.Time
		for _, a := range as {
			if a.LastNotifiedAt.After(lastNotified) {
				lastNotified = a.LastNotifiedAt
			}
			muted := len(a.SilencedBy) > 0 || len(a.inhibitors) > 0 || a.flapMuted
			switch {
			case a.State == StateResolved:
				// Whoever was told it fired is told it ended, even if it is muted now.
				notes = append(notes, note{a, "resolved"})
			case muted:
			case a.NotifiedState != string(StateFiring):
				notes = append(notes, note{a, "firing"})
			case a.flapSettled:
				notes = append(notes, note{a, "settled"})
			case a.AckedBy == "" && now.Sub(a.LastNotifiedAt) >= g.RepeatInterval:
				notes = append(notes, note{a, "reminder"})
			}
		}
		if len(notes) == 0 {
			continue
		}
		gs := t.groups[k]
		if gs == nil {
			gs = &groupState{created: now, lastFlush: lastNotified}
			t.groups[k] = gs
		}
		if gs.lastFlush.IsZero() {
			if now.Sub(gs.created) < g.GroupWait {
				continue
			}
		} else if now.Sub(gs.lastFlush) < g.GroupInterval {
			continue
		}
		gs.lastFlush = now
		for _, n := range notes {
			a := n.a
			a.NotifiedState = string(a.State)
			a.LastNotifiedAt, a.NotifyCount, a.dirty = now, a.NotifyCount+1, true
			a.flapSettled = false
			t.notes = append(t.notes, n)
		}
	}
}

func sameScope(src, dst map[string]string, scope string) bool {
	for l := range strings.SplitSeq(scope, ",") {
		l = strings.TrimSpace(l)
		if l == "" || dst[l] == "" || dst[l] != src[l] {
			return false
		}
	}
	return true
}

func groupKey(lbls map[string]string, by []string) string {
	var b strings.Builder
	for _, l := range by {
		b.WriteString(l)
		b.WriteByte('=')
		b.WriteString(lbls[l])
		b.WriteByte(0xff)
	}
	return b.String()
}

// change renders a notification for the outbox.
func (m *Manager) change(n note) notify.Change {
	a := n.a
	c := notify.Change{Fingerprint: a.Fingerprint, Name: a.Rule, State: string(a.State),
		Reminder: n.kind == "reminder" || n.kind == "settled", Flapping: a.Flapping, FlapCount: a.FlapCount,
		Labels: a.Labels, Annotations: a.Annotations, Value: a.Value, StartsAt: a.ActiveAt, AckedBy: a.AckedBy,
		GeneratorURL: fmt.Sprintf("%s/api/alerts/%d", m.cfg.ExternalURL, a.ID)}
	if c.Reminder {
		c.Seq = a.NotifyCount - 1 // the first notification was the firing one
	}
	if a.State == StateResolved {
		// The outage runs from when the condition started (a camera going offline), not from when the
		// alert fired after its `for` wait.
		c.EndsAt, c.OutageDuration = a.ResolvedAt, a.ResolvedAt.Sub(a.ActiveAt)
	}
	return c
}

// resolveInhibitors turns the staged inhibitor pointers into IDs once the IDs are known.
func resolveInhibitors(as []*Alert) {
	for _, a := range as {
		a.InhibitedBy = nil
		a.Inhibits = nil
	}
	for _, a := range as {
		for _, src := range a.inhibitors {
			a.InhibitedBy = append(a.InhibitedBy, src.ID)
			src.Inhibits = append(src.Inhibits, a.ID)
		}
	}
}
