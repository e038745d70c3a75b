package alerts

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"citywatch/alerts/notify"
)

// saveEvery is how often an otherwise unchanged active alert's value and last_eval are written.
const saveEvery = time.Minute

// tick is the staged result of one evaluation, installed only once committed.
type tick struct {
	now      time.Time
	next     map[*ruleState]map[string]*Alert
	resolved []*Alert // resolved alerts awaiting a resolution notice (carried over and new)
	saves    []*Alert // resolved alerts that need no notice, still to be saved
	deletes  []int64  // pending alerts that vanished
	groups   map[string]*groupState
	notes    []note
	flaps    map[*ruleState]map[string][]time.Time // staged fire times (flap detection)
}

type job struct {
	rs  *ruleState
	c   *compiledRule
	res []activeItem
	err error
	dur time.Duration
}

// evalOnce evaluates every due rule, updates the alerts, dispatches notifications and commits it all in one
// transaction. If the commit fails nothing changes in memory, and the next evaluation retries.
func (m *Manager) evalOnce(ctx context.Context) {
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	now := m.now()

	m.mu.Lock()
	var jobs []*job
	for _, rs := range m.rules {
		if rs.Expr != "" && m.due(rs, now) {
			jobs = append(jobs, &job{rs: rs, c: rs.compiledRule})
		}
	}
	m.mu.Unlock()

	// Queries run without the lock so that the API stays responsive during slow evaluations.
	for _, j := range jobs {
		start := time.Now()
		j.res, j.err = m.query(ctx, j.c.Expr, now)
		j.dur = time.Since(start)
		m.metrics.evalDuration.WithLabelValues(j.c.Group).Observe(j.dur.Seconds())
		if j.err != nil {
			m.metrics.evalFailures.WithLabelValues(j.c.Group).Inc()
		}
	}

	m.settle(ctx, now, jobs)
}

// settle applies the waiting events and the query results of jobs, commits the alert changes with their
// notifications, and installs them.
func (m *Manager) settle(ctx context.Context, now time.Time, jobs []*job) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drainEvents()
	t := m.stage(ctx, now, jobs)
	if err := m.commit(ctx, t); err != nil {
		m.metrics.commitErrors.Inc()
		m.log.Error("saving alert state failed; retrying at the next evaluation", "err", err)
		return
	}
	m.install(t)
}

// eventSettle is how long Run waits after an event before evaluating the event rules.
const eventSettle = 20 * time.Millisecond

// evalEvents is an evaluation round without PromQL queries: event rules move and their notifications are
// committed, while expression rules keep their state until their next scheduled evaluation.
func (m *Manager) evalEvents(ctx context.Context) {
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	m.settle(ctx, m.now(), nil)
}

func (m *Manager) due(rs *ruleState, now time.Time) bool {
	iv := rs.Interval
	if iv <= m.cfg.EvalInterval {
		return true
	}
	return rs.lastEval.IsZero() || !now.Before(rs.lastEval.Add(iv-m.cfg.EvalInterval/2))
}

func (m *Manager) drainEvents() {
	for {
		select {
		case ev := <-m.events:
			m.applyEvent(ev)
		default:
			return
		}
	}
}

func (m *Manager) applyEvent(ev Event) {
	for _, rs := range m.rules {
		if rs.ev != nil && !rs.ev.apply(&ev) {
			m.metrics.eventsDropped.Inc()
		}
	}
}

func (m *Manager) query(ctx context.Context, expr string, now time.Time) ([]activeItem, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.QueryTimeout)
	defer cancel()
	v, err := m.eval(ctx, expr, now)
	if err != nil {
		return nil, err
	}
	out := make([]activeItem, 0, len(v))
	for _, s := range v {
		lb := labels.NewBuilder(s.Metric)
		lb.Del(labels.MetricName)
		f := s.F
		if s.H != nil {
			f = math.NaN()
		}
		out = append(out, activeItem{labels: lb.Labels().Map(), value: f})
	}
	return out, nil
}

func (m *Manager) templateQuery(ctx context.Context, q string, ts time.Time) (promql.Vector, error) {
	if m.eval == nil {
		return nil, fmt.Errorf("no queryable")
	}
	return m.eval(ctx, q, ts)
}

// stage computes the next state of every alert on copies.
func (m *Manager) stage(ctx context.Context, now time.Time, jobs []*job) *tick {
	t := &tick{now: now, next: map[*ruleState]map[string]*Alert{}, groups: map[string]*groupState{},
		flaps: map[*ruleState]map[string][]time.Time{}}
	for k, g := range m.groups {
		c := *g
		t.groups[k] = &c
	}
	for _, rs := range m.rules {
		next := make(map[string]*Alert, len(rs.alerts))
		for fp, a := range rs.alerts {
			c := *a
			next[fp] = &c
		}
		t.next[rs] = next
		t.flaps[rs] = maps.Clone(rs.flaps)
		if t.flaps[rs] == nil {
			t.flaps[rs] = map[string][]time.Time{}
		}
	}
	for _, a := range m.resolved {
		c := *a
		t.resolved = append(t.resolved, &c)
	}
	results := map[*ruleState]*job{}
	for _, j := range jobs {
		results[j.rs] = j
	}
	for _, rs := range m.rules {
		var items []activeItem
		switch {
		case rs.ev != nil:
			start := time.Now()
			items = rs.ev.active(now)
			rs.duration = time.Since(start)
		default:
			j, ok := results[rs]
			if !ok || j.c != rs.compiledRule {
				continue // not due, or the rule changed while it was evaluated
			}
			rs.duration = j.dur
			if j.err != nil {
				if rs.lastErr != j.err.Error() {
					m.log.Warn("rule evaluation failed; its alerts keep their state", "rule", rs.Alert,
						"rule_group", rs.Group, "err", j.err)
				}
				rs.lastEval, rs.health, rs.lastErr = now, "err", j.err.Error()
				continue // alerts stay as they are: a failing query must not resolve them
			}
			items = j.res
		}
		rs.lastEval = now
		if rs.health == "err" {
			m.log.Info("rule evaluation works again", "rule", rs.Alert, "rule_group", rs.Group)
		}
		if err := m.updateRule(ctx, t, rs, items); err != nil {
			if rs.lastErr != err.Error() {
				m.log.Warn("rule evaluation failed; its alerts keep their state", "rule", rs.Alert,
					"rule_group", rs.Group, "err", err)
			}
			rs.health, rs.lastErr = "err", err.Error()
			m.metrics.evalFailures.WithLabelValues(rs.Group).Inc()
			continue
		}
		rs.health, rs.lastErr = "ok", ""
	}
	// Alerts of rules that no longer exist (reload, or a rule file changed across a restart) resolve.
	orphans := m.orphans
	for _, as := range m.loaded {
		orphans = append(orphans, as...)
	}
	for _, a := range orphans {
		c := *a
		m.finish(t, &c)
	}
	m.dispatch(t)
	return t
}

// updateRule applies one evaluation of rs to its staged alerts.
func (m *Manager) updateRule(ctx context.Context, t *tick, rs *ruleState, items []activeItem) error {
	now := t.now
	next := t.next[rs]
	flap := rs.Flap.over(m.cfg.Flap)
	pruneFlaps(t.flaps[rs], flap, now)
	type built struct {
		labels, anns map[string]string
		it           activeItem
	}
	byFP := make(map[string]built, len(items))
	query := func(ctx context.Context, q string, ts time.Time) (promql.Vector, error) {
		return m.templateQuery(ctx, q, ts)
	}
	for _, it := range items {
		lbls := maps.Clone(it.labels)
		if lbls == nil {
			lbls = map[string]string{}
		}
		for _, k := range slices.Sorted(maps.Keys(rs.Labels)) {
			lbls[k] = expandTemplate(ctx, rs.Labels[k], it.labels, it.value, now, query, m.cfg.ExternalURL)
		}
		lbls[model.AlertNameLabel] = rs.Alert
		for k, v := range lbls {
			if v == "" {
				delete(lbls, k)
			}
		}
		fp := fingerprint(lbls)
		if _, dup := byFP[fp]; dup {
			return fmt.Errorf("vector contains metrics with the same labelset after applying alert labels")
		}
		anns := make(map[string]string, len(rs.Annotations))
		for k, v := range rs.Annotations {
			anns[k] = expandTemplate(ctx, v, lbls, it.value, now, query, m.cfg.ExternalURL)
		}
		byFP[fp] = built{lbls, anns, it}
	}
	for fp, b := range byFP {
		a, ok := next[fp]
		if !ok {
			since := b.it.since
			if since.IsZero() || since.After(now) {
				since = now
			}
			a = &Alert{Fingerprint: fp, Rule: rs.Alert, Group: rs.Group, ruleKey: rs.key, Labels: b.labels,
				Annotations: b.anns, State: StatePending, ActiveAt: since, dirty: true}
			next[fp] = a
		}
		a.Value, a.LastEval, a.lastActiveAt, a.keepFiringSince = b.it.value, now, now, time.Time{}
		if !maps.Equal(a.Annotations, b.anns) {
			a.Annotations, a.dirty = b.anns, true
		}
		if a.Group != rs.Group {
			a.Group, a.dirty = rs.Group, true
		}
		switch {
		case a.State == StatePending && now.Sub(a.ActiveAt) >= rs.For:
			a.State, a.FiredAt, a.dirty = StateFiring, now, true
			recordFire(t.flaps[rs], flap, a, now)
		case a.Flapping:
			flapPresent(a, flap, now)
		}
		a.flapMuted = a.Flapping && flap.Notify == FlapNotifyNone
	}
	for fp, a := range next {
		if _, ok := byFP[fp]; ok {
			continue
		}
		if a.Flapping && flapAbsentKeep(a, flap, now) {
			a.flapMuted = flap.Notify == FlapNotifyNone
			continue
		}
		if a.State == StateFiring && rs.KeepFiringFor > 0 {
			// As in Prometheus, keep_firing_for counts from the first evaluation without the condition.
			if a.keepFiringSince.IsZero() {
				a.keepFiringSince = now
			}
			if now.Sub(a.keepFiringSince) < rs.KeepFiringFor {
				a.LastEval = now
				continue
			}
		}
		delete(next, fp)
		m.finish(t, a)
	}
	return nil
}

// finish ends an active alert: a pending one is forgotten, a firing one resolves.
func (m *Manager) finish(t *tick, a *Alert) {
	if a.State == StatePending {
		if a.ID != 0 {
			t.deletes = append(t.deletes, a.ID)
		}
		return
	}
	a.State, a.ResolvedAt, a.LastEval, a.dirty = StateResolved, t.now, t.now, true
	if a.NotifiedState == string(StateFiring) {
		t.resolved = append(t.resolved, a)
		return
	}
	t.saves = append(t.saves, a)
}

func fingerprint(lbls map[string]string) string {
	return fmt.Sprintf("%016x", labels.FromMap(lbls).Hash())
}

// commit saves the staged alerts and enqueues the notifications in one transaction.
func (m *Manager) commit(ctx context.Context, t *tick) error {
	var save []*Alert
	for _, next := range t.next {
		for _, a := range next {
			if a.dirty || t.now.Sub(a.lastSaved) >= saveEvery {
				save = append(save, a)
			}
		}
	}
	for _, a := range t.resolved {
		if a.dirty {
			save = append(save, a)
		}
	}
	save = append(save, t.saves...)
	if len(save) == 0 && len(t.deletes) == 0 && len(t.notes) == 0 {
		return nil
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	// Save in ID order (new ones last) so that concurrent writers lock rows in one order.
	slices.SortFunc(save, func(a, b *Alert) int {
		switch {
		case a.ID == 0 || b.ID == 0:
			return cmp.Compare(b.ID, a.ID) // 0 sorts last
		default:
			return cmp.Compare(a.ID, b.ID)
		}
	})
	// On failure the staged copies, with the IDs of rolled-back rows, are discarded.
	for _, a := range save {
		if err := saveAlert(ctx, tx, a); err != nil {
			return err
		}
	}
	for _, id := range t.deletes {
		if _, err := tx.ExecContext(ctx, `DELETE FROM alerts WHERE id = ? AND state = 'pending'`, id); err != nil {
			return fmt.Errorf("delete alert %d: %w", id, err)
		}
	}
	if len(t.notes) > 0 {
		changes := make([]notify.Change, 0, len(t.notes))
		for _, n := range t.notes {
			changes = append(changes, m.change(n))
		}
		if err := m.outbox.Enqueue(ctx, tx, changes...); err != nil {
			return fmt.Errorf("enqueue notifications: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, a := range save {
		a.dirty, a.lastSaved = false, t.now
	}
	for _, n := range t.notes {
		m.metrics.notifications.WithLabelValues(n.kind).Inc()
	}
	return nil
}

// install makes a committed tick the current state.
func (m *Manager) install(t *tick) {
	var all []*Alert
	for rs, next := range t.next {
		rs.alerts = next
		rs.flaps = t.flaps[rs]
		for _, a := range next {
			all = append(all, a)
		}
	}
	resolveInhibitors(all)
	var keep []*Alert
	for _, a := range t.resolved {
		if a.NotifiedState == string(StateFiring) {
			keep = append(keep, a)
		}
	}
	m.resolved = keep
	m.orphans = nil
	clear(m.loaded)
	m.groups = t.groups
}
