package ward

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"citywatch/internal/clock"
)

// Store keeps the ward in the metadata database. It is safe for concurrent use.
type Store struct {
	db  *sql.DB
	clk clock.Clock
}

const schema = `
CREATE TABLE IF NOT EXISTS ward_rooms (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	site    TEXT NOT NULL,
	name    TEXT NOT NULL,
	floor   TEXT NOT NULL DEFAULT '',
	plan_x  REAL,
	plan_y  REAL,
	UNIQUE(site, name)
);
CREATE TABLE IF NOT EXISTS ward_bindings (
	room_id INTEGER NOT NULL REFERENCES ward_rooms(id),
	kind    TEXT NOT NULL,
	device  TEXT NOT NULL,
	zone    TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (room_id, kind, device)
);
CREATE TABLE IF NOT EXISTS ward_occupancies (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	site           TEXT NOT NULL,
	room_id        INTEGER NOT NULL REFERENCES ward_rooms(id),
	case_id        TEXT NOT NULL,
	start_ms       INTEGER NOT NULL,
	planned_end_ms INTEGER NOT NULL,
	status         TEXT NOT NULL,
	status_by      TEXT NOT NULL,
	status_at_ms   INTEGER NOT NULL,
	UNIQUE(site, case_id)
);
CREATE INDEX IF NOT EXISTS ward_occupancies_room ON ward_occupancies(room_id, status);
-- Personal fields, apart from the pseudonymous record so retention can delete them alone.
CREATE TABLE IF NOT EXISTS ward_personal (
	occupancy_id INTEGER PRIMARY KEY REFERENCES ward_occupancies(id),
	name         TEXT NOT NULL,
	contact      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ward_manual_readings (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	occupancy_id INTEGER NOT NULL REFERENCES ward_occupancies(id),
	site         TEXT NOT NULL,
	metric       TEXT NOT NULL,
	value        REAL NOT NULL,
	time_ms      INTEGER NOT NULL,
	round_ms     INTEGER NOT NULL,
	entered_by   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ward_manual_readings_occ ON ward_manual_readings(occupancy_id, time_ms);
CREATE TABLE IF NOT EXISTS ward_events (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	site    TEXT NOT NULL,
	room    TEXT NOT NULL,
	case_id TEXT NOT NULL,
	kind    TEXT NOT NULL,
	time_ms INTEGER NOT NULL,
	detail  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ward_events_site ON ward_events(site, time_ms);
`

// NewStore creates the ward tables in db if needed. A nil clk is the real clock.
func NewStore(db *sql.DB, clk clock.Clock) (*Store, error) {
	if db == nil {
		return nil, errors.New("ward: no database")
	}
	if _, err := db.Exec(schema + settingsSchema); err != nil {
		return nil, fmt.Errorf("ward: create schema: %w", err)
	}
	return &Store{db: db, clk: clock.Or(clk)}, nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// CreateRoom adds a room to a site.
func (s *Store) CreateRoom(ctx context.Context, r Room) (Room, error) {
	if !nameRE.MatchString(r.Name) {
		return Room{}, invalid("room name %q: letters, digits, '.', '_' and '-', at most 64", r.Name)
	}
	if len(r.Floor) > 64 {
		return Room{}, invalid("floor: at most 64 characters")
	}
	for _, p := range []*float64{r.PlanX, r.PlanY} {
		if p != nil && (*p < 0 || *p > 1) {
			return Room{}, invalid("plan_x and plan_y are fractions of the plan, 0 to 1")
		}
	}
	if err := ValidateBindings(r.Bindings); err != nil {
		return Room{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Room{}, fmt.Errorf("ward: create room: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	res, err := tx.ExecContext(ctx, `INSERT INTO ward_rooms (site, name, floor, plan_x, plan_y) VALUES (?, ?, ?, ?, ?)`,
		r.Site, r.Name, r.Floor, r.PlanX, r.PlanY)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return Room{}, fmt.Errorf("%w: room %q exists at %s", ErrConflict, r.Name, r.Site)
		}
		return Room{}, fmt.Errorf("ward: create room: %w", err)
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return Room{}, fmt.Errorf("ward: create room: %w", err)
	}
	if err := writeBindings(ctx, tx, r.Site, r.ID, r.Bindings); err != nil {
		return Room{}, err
	}
	return r, wrap("create room", tx.Commit())
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ward: %s: %w", op, err)
}

// writeBindings replaces room's bindings. A device is bound to one room of a site at most: two rooms would make
// the Fever rule's join ambiguous (and the occupant unknowable).
func writeBindings(ctx context.Context, tx *sql.Tx, site string, room int64, b Bindings) error {
	for _, d := range append(append([]string{}, b.Wearables...), b.Sensors...) {
		var other string
		err := tx.QueryRowContext(ctx, `SELECT r.name FROM ward_bindings b JOIN ward_rooms r ON r.id = b.room_id
			WHERE r.site = ? AND b.device = ? AND b.kind != 'camera' AND b.room_id != ?`, site, d, room).Scan(&other)
		if err == nil {
			return fmt.Errorf("%w: device %s is bound to room %s", ErrConflict, d, other)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return wrap("bindings", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM ward_bindings WHERE room_id = ?`, room); err != nil {
		return wrap("bindings", err)
	}
	add := func(kind, dev, zone string) error {
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO ward_bindings (room_id, kind, device, zone) VALUES (?, ?, ?, ?)`,
			room, kind, dev, zone)
		return wrap("bindings", err)
	}
	for _, d := range b.Wearables {
		if err := add("wearable", d, ""); err != nil {
			return err
		}
	}
	for _, d := range b.Sensors {
		if err := add("sensor", d, ""); err != nil {
			return err
		}
	}
	if b.Camera != "" {
		return add("camera", b.Camera, b.Zone)
	}
	return nil
}

// SetBindings replaces the bindings of a room of site.
func (s *Store) SetBindings(ctx context.Context, site string, room int64, b Bindings) error {
	if err := ValidateBindings(b); err != nil {
		return err
	}
	if _, err := s.Room(ctx, site, room); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("bindings", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := writeBindings(ctx, tx, site, room, b); err != nil {
		return err
	}
	return wrap("bindings", tx.Commit())
}

// Room returns one room of site; ErrNotFound when it is missing or at another site.
func (s *Store) Room(ctx context.Context, site string, id int64) (Room, error) {
	rooms, err := s.rooms(ctx, `WHERE r.site = ? AND r.id = ?`, site, id)
	if err != nil {
		return Room{}, err
	}
	if len(rooms) == 0 {
		return Room{}, fmt.Errorf("%w: room %d", ErrNotFound, id)
	}
	return rooms[0], nil
}

// Rooms returns the rooms of site ("" for every site), by name.
func (s *Store) Rooms(ctx context.Context, site string) ([]Room, error) {
	if site == "" {
		return s.rooms(ctx, ``)
	}
	return s.rooms(ctx, `WHERE r.site = ?`, site)
}

func (s *Store) rooms(ctx context.Context, where string, args ...any) ([]Room, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.site, r.name, r.floor, r.plan_x, r.plan_y,
		COALESCE(b.kind, ''), COALESCE(b.device, ''), COALESCE(b.zone, '')
		FROM ward_rooms r LEFT JOIN ward_bindings b ON b.room_id = r.id `+where+` ORDER BY r.site, r.name, b.kind, b.device`, args...)
	if err != nil {
		return nil, wrap("rooms", err)
	}
	defer rows.Close()
	var out []Room
	for rows.Next() {
		var r Room
		var px, py sql.NullFloat64
		var kind, dev, zone string
		if err := rows.Scan(&r.ID, &r.Site, &r.Name, &r.Floor, &px, &py, &kind, &dev, &zone); err != nil {
			return nil, wrap("rooms", err)
		}
		if len(out) == 0 || out[len(out)-1].ID != r.ID {
			if px.Valid {
				r.PlanX = &px.Float64
			}
			if py.Valid {
				r.PlanY = &py.Float64
			}
			r.Bindings = Bindings{Wearables: []string{}, Sensors: []string{}}
			out = append(out, r)
		}
		b := &out[len(out)-1].Bindings
		switch kind {
		case "wearable":
			b.Wearables = append(b.Wearables, dev)
		case "sensor":
			b.Sensors = append(b.Sensors, dev)
		case "camera":
			b.Camera, b.Zone = dev, zone
		}
	}
	return out, wrap("rooms", rows.Err())
}

// CheckIn is what the check-in form sends.
type CheckIn struct {
	RoomID int64 `json:"room_id"`
	// CaseID is the pseudonymous case id; empty generates one ("Q-" and 8 hex digits).
	CaseID     string    `json:"case_id"`
	Name       string    `json:"name"`
	Contact    string    `json:"contact"`
	Start      time.Time `json:"start"`
	PlannedEnd time.Time `json:"planned_end"`
}

// NewCaseID returns a random pseudonymous case id.
func NewCaseID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "Q-" + strings.ToUpper(hex.EncodeToString(b[:]))
}

// CheckIn starts an occupancy in a free room of site. by is who checked the occupant in.
func (s *Store) CheckIn(ctx context.Context, site string, in CheckIn, by string) (Occupancy, error) {
	now := s.clk.Now().UTC()
	if in.CaseID == "" {
		in.CaseID = NewCaseID()
	}
	if !caseIDRE.MatchString(in.CaseID) {
		return Occupancy{}, invalid("case_id %q: letters, digits, '.' and '-', at most 64", in.CaseID)
	}
	if len(in.Name) > 200 || len(in.Contact) > 200 {
		return Occupancy{}, invalid("name and contact: at most 200 characters")
	}
	if in.Start.IsZero() {
		in.Start = now
	}
	if in.PlannedEnd.IsZero() {
		in.PlannedEnd = in.Start.Add(14 * 24 * time.Hour)
	}
	if !in.PlannedEnd.After(in.Start) {
		return Occupancy{}, invalid("planned_end must be after start")
	}
	room, err := s.Room(ctx, site, in.RoomID)
	if err != nil {
		return Occupancy{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Occupancy{}, wrap("check in", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	var busy int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ward_occupancies WHERE room_id = ? AND status = ?`,
		room.ID, StatusActive).Scan(&busy); err != nil {
		return Occupancy{}, wrap("check in", err)
	}
	if busy > 0 {
		return Occupancy{}, fmt.Errorf("%w: room %s is occupied", ErrConflict, room.Name)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO ward_occupancies
		(site, room_id, case_id, start_ms, planned_end_ms, status, status_by, status_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		site, room.ID, in.CaseID, ms(in.Start), ms(in.PlannedEnd), StatusActive, by, ms(now))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return Occupancy{}, fmt.Errorf("%w: case id %s exists at %s", ErrConflict, in.CaseID, site)
		}
		return Occupancy{}, wrap("check in", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return Occupancy{}, wrap("check in", err)
	}
	if in.Name != "" || in.Contact != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ward_personal (occupancy_id, name, contact) VALUES (?, ?, ?)`,
			id, in.Name, in.Contact); err != nil {
			return Occupancy{}, wrap("check in", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return Occupancy{}, wrap("check in", err)
	}
	return s.Occupancy(ctx, site, id, true)
}

// SetStatus changes an occupancy's status (check-out: released, transferred, hospitalised).
func (s *Store) SetStatus(ctx context.Context, site string, id int64, st Status, by string) (Occupancy, error) {
	if !st.Valid() {
		return Occupancy{}, invalid("status %q: one of active, released, transferred, hospitalised", st)
	}
	cur, err := s.Occupancy(ctx, site, id, false)
	if err != nil {
		return Occupancy{}, err
	}
	if cur.Status != StatusActive {
		return Occupancy{}, fmt.Errorf("%w: occupancy %d is %s already", ErrConflict, id, cur.Status)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE ward_occupancies SET status = ?, status_by = ?, status_at_ms = ? WHERE id = ?`,
		st, by, ms(s.clk.Now()), id); err != nil {
		return Occupancy{}, wrap("set status", err)
	}
	return s.Occupancy(ctx, site, id, false)
}

const occupancyCols = `SELECT o.id, o.site, o.room_id, r.name, o.case_id, o.start_ms, o.planned_end_ms, o.status,
	o.status_by, o.status_at_ms, p.name, p.contact
	FROM ward_occupancies o JOIN ward_rooms r ON r.id = o.room_id
	LEFT JOIN ward_personal p ON p.occupancy_id = o.id `

// Occupancy returns one occupancy of site, with its personal fields when personal is true.
func (s *Store) Occupancy(ctx context.Context, site string, id int64, personal bool) (Occupancy, error) {
	list, err := s.occupancies(ctx, personal, `WHERE o.site = ? AND o.id = ?`, site, id)
	if err != nil {
		return Occupancy{}, err
	}
	if len(list) == 0 {
		return Occupancy{}, fmt.Errorf("%w: occupancy %d", ErrNotFound, id)
	}
	return list[0], nil
}

// Occupancies returns site's occupancies ("" for every site), with personal fields when personal is true;
// activeOnly keeps the active ones.
func (s *Store) Occupancies(ctx context.Context, site string, activeOnly, personal bool) ([]Occupancy, error) {
	var where []string
	var args []any
	if site != "" {
		where, args = append(where, "o.site = ?"), append(args, site)
	}
	if activeOnly {
		where, args = append(where, "o.status = ?"), append(args, StatusActive)
	}
	w := ""
	if len(where) > 0 {
		w = "WHERE " + strings.Join(where, " AND ")
	}
	return s.occupancies(ctx, personal, w, args...)
}

func (s *Store) occupancies(ctx context.Context, personal bool, where string, args ...any) ([]Occupancy, error) {
	rows, err := s.db.QueryContext(ctx, occupancyCols+where+` ORDER BY o.site, r.name, o.id`, args...)
	if err != nil {
		return nil, wrap("occupancies", err)
	}
	defer rows.Close()
	out := []Occupancy{}
	for rows.Next() {
		var o Occupancy
		var start, end, at int64
		var name, contact sql.NullString
		if err := rows.Scan(&o.ID, &o.Site, &o.RoomID, &o.Room, &o.CaseID, &start, &end, &o.Status, &o.StatusBy, &at,
			&name, &contact); err != nil {
			return nil, wrap("occupancies", err)
		}
		o.Start, o.PlannedEnd, o.StatusAt = fromMS(start), fromMS(end), fromMS(at)
		if personal && name.Valid {
			o.Personal = &Personal{Name: name.String, Contact: contact.String}
		}
		out = append(out, o)
	}
	return out, wrap("occupancies", rows.Err())
}

// AddManualReading records a nurse's reading for an active occupancy of site.
func (s *Store) AddManualReading(ctx context.Context, site string, m ManualReading) (ManualReading, error) {
	switch m.Metric {
	case "":
		m.Metric = MetricBodyTemperature
	case MetricBodyTemperature, MetricHeartRate:
	default:
		return ManualReading{}, invalid("metric %q: body_temperature or heart_rate", m.Metric)
	}
	if lo, hi := plausible(m.Metric); !(m.Value >= lo && m.Value <= hi) {
		return ManualReading{}, invalid("%s %v is outside %v..%v", m.Metric, m.Value, lo, hi)
	}
	occ, err := s.Occupancy(ctx, site, m.OccupancyID, false)
	if err != nil {
		return ManualReading{}, err
	}
	if occ.Status != StatusActive {
		return ManualReading{}, fmt.Errorf("%w: occupancy %d is %s", ErrConflict, occ.ID, occ.Status)
	}
	now := s.clk.Now().UTC()
	if m.Time.IsZero() {
		m.Time = now
	}
	if m.Time.After(now.Add(5 * time.Minute)) {
		return ManualReading{}, invalid("time is in the future")
	}
	if m.Round.After(now.Add(24 * time.Hour)) {
		return ManualReading{}, invalid("round is more than a day ahead")
	}
	m.Site = site
	res, err := s.db.ExecContext(ctx, `INSERT INTO ward_manual_readings
		(occupancy_id, site, metric, value, time_ms, round_ms, entered_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		m.OccupancyID, site, m.Metric, m.Value, ms(m.Time), ms(m.Round), m.EnteredBy)
	if err != nil {
		return ManualReading{}, wrap("manual reading", err)
	}
	m.ID, err = res.LastInsertId()
	return m, wrap("manual reading", err)
}

// plausible is the range a manual reading must fall in (typing errors, not medicine).
func plausible(metric string) (float64, float64) {
	if metric == MetricHeartRate {
		return 20, 250
	}
	return 30, 45
}

// ManualReadings returns the manual readings of site's occupancies in [from, to), or with a round in it.
func (s *Store) ManualReadings(ctx context.Context, site string, from, to time.Time) ([]ManualReading, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, occupancy_id, site, metric, value, time_ms, round_ms, entered_by
		FROM ward_manual_readings WHERE site = ? AND ((time_ms >= ? AND time_ms < ?) OR (round_ms >= ? AND round_ms < ?))
		ORDER BY time_ms, id`, site, ms(from), ms(to), ms(from), ms(to))
	if err != nil {
		return nil, wrap("manual readings", err)
	}
	defer rows.Close()
	out := []ManualReading{}
	for rows.Next() {
		var m ManualReading
		var t, r int64
		if err := rows.Scan(&m.ID, &m.OccupancyID, &m.Site, &m.Metric, &m.Value, &t, &r, &m.EnteredBy); err != nil {
			return nil, wrap("manual readings", err)
		}
		m.Time, m.Round = fromMS(t), fromMS(r)
		out = append(out, m)
	}
	return out, wrap("manual readings", rows.Err())
}

// AddEvent records an event for the daily report.
func (s *Store) AddEvent(ctx context.Context, e Event) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO ward_events (site, room, case_id, kind, time_ms, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		e.Site, e.Room, e.CaseID, e.Kind, ms(e.Time), e.Detail)
	return wrap("event", err)
}

// Events returns site's events in [from, to).
func (s *Store) Events(ctx context.Context, site string, from, to time.Time) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, site, room, case_id, kind, time_ms, detail FROM ward_events
		WHERE site = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms, id`, site, ms(from), ms(to))
	if err != nil {
		return nil, wrap("events", err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var t int64
		if err := rows.Scan(&e.ID, &e.Site, &e.Room, &e.CaseID, &e.Kind, &t, &e.Detail); err != nil {
			return nil, wrap("events", err)
		}
		e.Time = fromMS(t)
		out = append(out, e)
	}
	return out, wrap("events", rows.Err())
}
