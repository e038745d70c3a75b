package alerts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

const (
	defaultAlertLimit = 100
	maxAlertLimit     = 10000
)

// Alerts returns alerts from the history, newest first. Active alerts carry their current silences and
// inhibition.
func (m *Manager) Alerts(ctx context.Context, f AlertFilter) ([]Alert, error) {
	switch f.State {
	case "", StatePending, StateFiring, StateResolved:
	default:
		return nil, fmt.Errorf("%w: state must be pending, firing or resolved, got %q", ErrInvalid, f.State)
	}
	if f.Limit <= 0 {
		f.Limit = defaultAlertLimit
	}
	f.Limit = min(f.Limit, maxAlertLimit)
	rows, err := queryAlerts(ctx, m.db, f)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	live := m.liveByID()
	out := make([]Alert, 0, len(rows))
	for _, a := range rows {
		if l, ok := live[a.ID]; ok {
			a = l
		}
		out = append(out, publicCopy(a))
	}
	return out, nil
}

// Alert returns one alert by ID, or ErrAlertNotFound.
func (m *Manager) Alert(ctx context.Context, id int64) (Alert, error) {
	m.mu.Lock()
	if a, ok := m.liveByID()[id]; ok {
		defer m.mu.Unlock()
		return publicCopy(a), nil
	}
	m.mu.Unlock()
	row := m.db.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id)
	a, err := scanAlert(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Alert{}, ErrAlertNotFound
	}
	if err != nil {
		return Alert{}, fmt.Errorf("alerts: alert %d: %w", id, err)
	}
	return publicCopy(a), nil
}

// liveByID indexes the alerts held in memory. m.mu must be held.
func (m *Manager) liveByID() map[int64]*Alert {
	out := map[int64]*Alert{}
	for _, rs := range m.rules {
		for _, a := range rs.alerts {
			out[a.ID] = a
		}
	}
	for _, a := range m.resolved {
		out[a.ID] = a
	}
	return out
}

func publicCopy(a *Alert) Alert {
	c := *a
	c.SilencedBy = slices.Clone(a.SilencedBy)
	c.InhibitedBy = slices.Clone(a.InhibitedBy)
	c.Inhibits = slices.Clone(a.Inhibits)
	c.inhibitors = nil
	return c
}

// Ack acknowledges an alert: who and why are recorded, reminders stop. It does not resolve the alert, and a
// later new occurrence of the same condition is a new alert that needs its own acknowledgement.
func (m *Manager) Ack(ctx context.Context, id int64, who, comment string) error {
	who = strings.TrimSpace(who)
	if who == "" {
		return fmt.Errorf("%w: who is required", ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if err := m.updateRow(ctx, `UPDATE alerts SET acked_by = ?, acked_at = ?, ack_comment = ? WHERE id = ?`,
		id, who, now.UnixMilli(), comment, id); err != nil {
		return err
	}
	if a, ok := m.liveByID()[id]; ok {
		a.AckedBy, a.AckedAt, a.AckComment = who, now.UTC(), comment
	}
	return nil
}

// Assign sets who works on an alert; an empty who unassigns it.
func (m *Manager) Assign(ctx context.Context, id int64, who string) error {
	who = strings.TrimSpace(who)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.updateRow(ctx, `UPDATE alerts SET assignee = ? WHERE id = ?`, id, who, id); err != nil {
		return err
	}
	if a, ok := m.liveByID()[id]; ok {
		a.Assignee = who
	}
	return nil
}

func (m *Manager) updateRow(ctx context.Context, q string, id int64, args ...any) error {
	res, err := m.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("alerts: alert %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrAlertNotFound
	}
	return nil
}

// Silences returns all silences (active, pending and recently expired), newest first.
func (m *Manager) Silences() []Silence {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := make([]Silence, 0, len(m.silences))
	for i := len(m.silences) - 1; i >= 0; i-- {
		s := *m.silences[i]
		s.Matchers = slices.Clone(s.Matchers)
		s.compiled = nil
		s.Status = m.silences[i].status(now)
		out = append(out, s)
	}
	return out
}

// AddSilence validates and stores a silence and returns its ID. StartsAt defaults to now; EndsAt must be
// later and in the future; CreatedBy and Comment are required.
func (m *Manager) AddSilence(ctx context.Context, s Silence) (string, error) {
	now := m.now().UTC()
	c, err := compileMatchers(s.Matchers)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	switch {
	case strings.TrimSpace(s.CreatedBy) == "":
		return "", fmt.Errorf("%w: created_by is required", ErrInvalid)
	case strings.TrimSpace(s.Comment) == "":
		return "", fmt.Errorf("%w: comment is required", ErrInvalid)
	case !s.EndsAt.After(s.StartsAt):
		return "", fmt.Errorf("%w: ends_at must be after starts_at", ErrInvalid)
	case !s.EndsAt.After(now):
		return "", fmt.Errorf("%w: ends_at must be in the future", ErrInvalid)
	}
	s.ID, s.CreatedAt, s.compiled, s.Status = newSilenceID(), now, c, ""
	s.Matchers = slices.Clone(s.Matchers)
	s.StartsAt, s.EndsAt = s.StartsAt.UTC(), s.EndsAt.UTC()
	m.mu.Lock()
	defer m.mu.Unlock()
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("alerts: add silence: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	cut := now.Add(-m.cfg.SilenceRetention)
	if _, err := tx.ExecContext(ctx, `DELETE FROM silences WHERE ends_at < ?`, cut.UnixMilli()); err != nil {
		return "", fmt.Errorf("alerts: add silence: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment,
		created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`, s.ID, matchersJSON(s.Matchers), s.StartsAt.UnixMilli(),
		s.EndsAt.UnixMilli(), s.CreatedBy, s.Comment, now.UnixMilli()); err != nil {
		return "", fmt.Errorf("alerts: add silence: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("alerts: add silence: %w", err)
	}
	m.silences = slices.DeleteFunc(m.silences, func(x *Silence) bool { return x.EndsAt.Before(cut) })
	m.silences = append(m.silences, &s)
	return s.ID, nil
}

// ExpireSilence ends a silence now. Expiring an expired silence is a no-op; an unknown ID is
// ErrSilenceNotFound.
func (m *Manager) ExpireSilence(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UTC()
	i := slices.IndexFunc(m.silences, func(s *Silence) bool { return s.ID == id })
	if i < 0 {
		return ErrSilenceNotFound
	}
	s := *m.silences[i]
	if !s.EndsAt.After(now) {
		return nil
	}
	s.EndsAt = now
	if s.StartsAt.After(now) {
		s.StartsAt = now
	}
	if _, err := m.db.ExecContext(ctx, `UPDATE silences SET starts_at = ?, ends_at = ? WHERE id = ?`, s.StartsAt.UnixMilli(),
		s.EndsAt.UnixMilli(), id); err != nil {
		return fmt.Errorf("alerts: expire silence: %w", err)
	}
	m.silences[i] = &s
	return nil
}

func matchersJSON(ms []Matcher) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":%s,"op":%s,"value":%s}`, jsonQuote(m.Name), jsonQuote(m.Op), jsonQuote(m.Value))
	}
	b.WriteByte(']')
	return b.String()
}
