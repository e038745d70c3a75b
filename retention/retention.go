// Package retention applies retention by purpose: the personal data of a quarantine ward's occupant are kept
// for their purpose (care during the stay, and a site-set period after it for follow-up, 30 days by default)
// and then deleted or pseudonymised, everywhere they are: the occupant's personal fields and manual readings
// (through Occupants, the ward's store), the event clips of their room's camera during the stay (through
// Clips, the media store; files included), the audit records that name them (through AuditLog), and the alert
// history and notification outbox rows that name them (through Alerts: a fever alert carries the room and case
// id). Each purge
// leaves one deletion record in the audit trail (action retention_purge) that names a fresh pseudonym, not
// the person, and says what was deleted.
//
// The Engine is a loop over a pure decision (which occupancies are due, per site) with I/O at the edges; a
// sweep is idempotent, so a failure is retried by the next one.
package retention

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/cameras/media"
	"citywatch/dashboards/audit"
	"citywatch/internal/clock"
	"citywatch/internal/logx"
)

// DefaultAfterRelease is how long an occupant's personal data are kept after their stay ended.
const DefaultAfterRelease = 30 * 24 * time.Hour

// Occupancy is an occupant's stay that has ended (released, transferred or hospitalised): what a sweep needs
// to find their data.
type Occupancy struct {
	// Site is the occupancy's site; its retention setting applies.
	Site string
	// ID identifies the occupancy in the Occupants store.
	ID string
	// CaseID is the pseudonymous case id audit records name the occupant by.
	CaseID string
	// Names are the other strings audit records may name the occupant by (name, contact). Optional.
	Names []string
	// Cameras watch the occupant's room; their clips during the stay are the occupant's. Optional.
	Cameras []string
	// Start is when the stay began; End when it ended (the release).
	Start, End time.Time
	// Pseudonym is set by the engine before Purge: the fresh pseudonym the deletion record and the audit trail
	// name the occupant by from then on, for the store's own records that name the case id.
	Pseudonym string
}

// Occupants is the store of occupancies (the ward). EndedBefore lists occupancies that ended before t;
// it should leave out those already purged, but a sweep is idempotent either way (nothing left to delete is
// no deletion record). Purge deletes the occupancy's personal fields and manual readings and returns how many
// items it deleted.
type Occupants interface {
	EndedBefore(ctx context.Context, t time.Time) ([]Occupancy, error)
	Purge(ctx context.Context, o Occupancy) (int64, error)
}

// Clips deletes a camera's stored clips overlapping a period (cameras/media.Media).
type Clips interface {
	PurgeClips(cameraID string, from, to time.Time) ([]media.Clip, error)
}

// AuditLog pseudonymises the records naming an occupant and takes the deletion record (audit.Log).
type AuditLog interface {
	Pseudonymise(ctx context.Context, site string, subjects []string, pseudonym string) (int64, error)
	Record(ctx context.Context, r audit.Record) error
}

// Alerts pseudonymises the settled alerts and notification deliveries of site that name an occupant (the alert
// manager's history and the outbox, see app) and returns how many it rewrote. An error (an alert naming them
// still firing, a delivery still queued) fails the occupancy's purge, so the next sweep retries it; what was
// rewritten stays rewritten.
type Alerts interface {
	Pseudonymise(ctx context.Context, site string, subjects []string, pseudonym string) (int64, error)
}

// Periods are retention periods per site set at run time (the ward's site settings, set over its API); they take
// precedence over Config.Sites and Config.AfterRelease. RetentionPeriods is read once per sweep.
type Periods interface {
	RetentionPeriods() map[string]time.Duration
}

// Series deletes the time series that name an occupant (the ward's ward_occupant_info, ward_round_missed, ... with
// their case_id label, in the embedded TSDB). DeleteSeries marks every series of site with label case_id = caseID
// deleted, over all time, and returns how many there were; CleanTombstones then removes them from the TSDB's
// files (once per sweep that deleted any).
type Series interface {
	DeleteSeries(ctx context.Context, site, caseID string) (int, error)
	CleanTombstones() error
}

// Config configures the Engine.
type Config struct {
	// AfterRelease is how long personal data are kept after a stay ended, for sites without their own
	// setting. It defaults to 30 days.
	AfterRelease time.Duration
	// Sites overrides AfterRelease per site. It defaults to none.
	Sites map[string]time.Duration
	// Interval is the time between sweeps. It defaults to 1h.
	Interval time.Duration
}

// Deps are the Engine's collaborators. Occupants is required; Clips and Audit are optional (nil: nothing of
// that kind is kept, so nothing to purge).
type Deps struct {
	Occupants Occupants
	Clips     Clips
	Audit     AuditLog
	// Alerts rewrites the alert history and outbox rows naming the occupant; nil: none kept.
	Alerts Alerts
	// Series deletes the time series labelled with the occupant's case id; nil: none kept.
	Series Series
	// Periods are the sites' retention periods set at run time, over Config's; nil: none.
	Periods Periods
	// DB is the metadata database (opened with secure_delete, see internal/sqlitedb). The engine remembers
	// there which occupancies it purged completely (table retention_purged: site, occupancy id, time), so
	// later sweeps skip them instead of scanning the clips and the audit trail again; and after a sweep that
	// deleted anything it checkpoints and truncates the write-ahead log, so no deleted data linger in the
	// -wal file. Optional: without it every sweep reconsiders every ended occupancy (still idempotent).
	DB *sql.DB
	// Logger logs with component=retention; nil discards.
	Logger *slog.Logger
	// Registerer registers the metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Clock tells the sweeps' time and runs their ticker; nil is the real clock. Tests pass a clock.Fake to
	// move past a retention period without waiting.
	Clock clock.Clock
}

// Engine runs retention by purpose.
type Engine struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	clk  clock.Clock

	purged   *prometheus.CounterVec
	failures prometheus.Counter
	last     prometheus.Gauge
}

// Report is what one sweep did.
type Report struct {
	// Occupancies counts the occupancies something was deleted for.
	Occupancies int
	// Personal counts the personal fields and manual readings deleted.
	Personal int64
	// Clips counts the clips deleted.
	Clips int
	// AuditRecords counts the audit records pseudonymised.
	AuditRecords int64
	// Alerts counts the alerts and notification deliveries pseudonymised.
	Alerts int64
	// Series counts the time series deleted.
	Series int
}

// New validates cfg and returns an Engine.
func New(cfg Config, deps Deps) (*Engine, error) {
	if cfg.AfterRelease == 0 {
		cfg.AfterRelease = DefaultAfterRelease
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour
	}
	if cfg.AfterRelease < 0 || cfg.Interval < 0 {
		return nil, fmt.Errorf("retention: after_release and interval must be > 0, got %s and %s", cfg.AfterRelease, cfg.Interval)
	}
	for site, d := range cfg.Sites {
		if d <= 0 {
			return nil, fmt.Errorf("retention: sites[%q]: after_release must be > 0, got %s", site, d)
		}
	}
	if deps.Occupants == nil {
		return nil, errors.New("retention: no occupants store")
	}
	e := &Engine{cfg: cfg, deps: deps, log: logx.Component(deps.Logger, "retention"), clk: clock.Or(deps.Clock)}
	f := promauto.With(deps.Registerer)
	e.purged = f.NewCounterVec(prometheus.CounterOpts{
		Name: "citywatch_retention_purged_total",
		Help: "Items deleted or pseudonymised by retention by purpose, by kind (personal, clip, audit_record, alert, series).",
	}, []string{"kind"})
	for _, k := range []string{"personal", "clip", "audit_record", "alert", "series"} {
		e.purged.WithLabelValues(k)
	}
	e.failures = f.NewCounter(prometheus.CounterOpts{
		Name: "citywatch_retention_failures_total",
		Help: "Occupancies whose purge failed (retried at the next sweep).",
	})
	e.last = f.NewGauge(prometheus.GaugeOpts{
		Name: "citywatch_retention_last_sweep_timestamp_seconds",
		Help: "The time the last sweep was made for: every occupancy due by then is purged (or counted as failed).",
	})
	if deps.DB != nil {
		if _, err := deps.DB.Exec(purgedSchema); err != nil {
			return nil, fmt.Errorf("retention: create schema: %w", err)
		}
	}
	return e, nil
}

const purgedSchema = `CREATE TABLE IF NOT EXISTS retention_purged (
	site      TEXT NOT NULL,
	occupancy TEXT NOT NULL,
	time_ms   INTEGER NOT NULL,
	PRIMARY KEY (site, occupancy)
)`

// done reports whether the occupancy was purged completely by an earlier sweep.
func (e *Engine) done(ctx context.Context, o Occupancy) (bool, error) {
	if e.deps.DB == nil {
		return false, nil
	}
	var n int
	err := e.deps.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM retention_purged WHERE site = ? AND occupancy = ?`,
		o.Site, o.ID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("retention: %w", err)
	}
	return n > 0, nil
}

// markDone remembers a complete purge.
func (e *Engine) markDone(ctx context.Context, o Occupancy) error {
	if e.deps.DB == nil {
		return nil
	}
	_, err := e.deps.DB.ExecContext(ctx, `INSERT OR REPLACE INTO retention_purged (site, occupancy, time_ms) VALUES (?, ?, ?)`,
		o.Site, o.ID, e.clk.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	return nil
}

// AfterRelease returns the retention period of site: its run-time setting (Deps.Periods), its configured one, or
// the default.
func (e *Engine) AfterRelease(site string) time.Duration { return e.periods().of(site) }

// periodTable is the retention periods in force for one sweep.
type periodTable struct {
	runtime, config map[string]time.Duration
	dflt            time.Duration
}

func (e *Engine) periods() periodTable {
	p := periodTable{config: e.cfg.Sites, dflt: e.cfg.AfterRelease}
	if e.deps.Periods != nil {
		p.runtime = e.deps.Periods.RetentionPeriods()
	}
	return p
}

func (p periodTable) of(site string) time.Duration {
	if d, ok := p.runtime[site]; ok && d > 0 {
		return d
	}
	if d, ok := p.config[site]; ok {
		return d
	}
	return p.dflt
}

// due returns the occupancies whose retention period ended at now: a pure decision over the candidates.
func due(cands []Occupancy, now time.Time, after func(site string) time.Duration) []Occupancy {
	var out []Occupancy
	for _, o := range cands {
		if !o.End.IsZero() && o.End.Before(now.Add(-after(o.Site))) {
			out = append(out, o)
		}
	}
	return out
}

// shortest is the shortest retention period of any site: occupancies that ended before now minus it are the
// candidates of a sweep.
func (p periodTable) shortest() time.Duration {
	d := p.dflt
	for _, m := range []map[string]time.Duration{p.config, p.runtime} {
		for _, s := range m {
			if s > 0 {
				d = min(d, s)
			}
		}
	}
	return d
}

// Sweep purges every occupancy whose retention period has ended. An occupancy that fails is counted,
// logged and left for the next sweep; the others go on. The error joins the failures.
func (e *Engine) Sweep(ctx context.Context) (Report, error) {
	var rep Report
	now := e.clk.Now()
	periods := e.periods()
	cands, err := e.deps.Occupants.EndedBefore(ctx, now.Add(-periods.shortest()))
	if err != nil {
		e.failures.Inc()
		return rep, fmt.Errorf("retention: list ended occupancies: %w", err)
	}
	var errs []error
	for _, o := range due(cands, now, periods.of) {
		if done, err := e.done(ctx, o); err != nil || done {
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		err := e.purge(ctx, o, periods.of(o.Site), &rep)
		if err == nil {
			err = e.markDone(ctx, o)
		}
		if err != nil {
			e.failures.Inc()
			errs = append(errs, err)
		}
	}
	if rep.Series > 0 {
		// Deleted series are tombstoned; rewriting the blocks that hold them removes them from the files.
		if err := e.deps.Series.CleanTombstones(); err != nil {
			errs = append(errs, fmt.Errorf("retention: clean deleted series: %w", err))
		}
	}
	if rep.Occupancies > 0 && e.deps.DB != nil {
		// The old pages of what was deleted sit in the write-ahead log until a checkpoint copies the new ones
		// over them; TRUNCATE then empties the log file.
		if _, err := e.deps.DB.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			errs = append(errs, fmt.Errorf("retention: checkpoint: %w", err))
		}
	}
	// The sweep's own time, not the clock's when it ends: everything due by now is purged (a moved clock can
	// be read at any instant of its move).
	e.last.Set(float64(now.Unix()))
	return rep, errors.Join(errs...)
}

// purge deletes one occupancy's data everywhere and writes the deletion record when anything was deleted.
func (e *Engine) purge(ctx context.Context, o Occupancy, after time.Duration, rep *Report) error {
	pseudonym := newPseudonym()
	var clips int
	var errs []error
	if e.deps.Clips != nil {
		for _, cam := range o.Cameras {
			gone, err := e.deps.Clips.PurgeClips(cam, o.Start, o.End)
			clips += len(gone)
			if err != nil && !errors.Is(err, media.ErrCameraNotFound) {
				errs = append(errs, fmt.Errorf("clips of camera %s: %w", cam, err))
			}
		}
	}
	o.Pseudonym = pseudonym
	personal, err := e.deps.Occupants.Purge(ctx, o)
	if err != nil {
		errs = append(errs, fmt.Errorf("personal fields: %w", err))
	}
	subjects := slices.DeleteFunc(append([]string{o.CaseID}, o.Names...), func(s string) bool { return s == "" })
	var alerted int64
	if e.deps.Alerts != nil {
		alerted, err = e.deps.Alerts.Pseudonymise(ctx, o.Site, subjects, pseudonym)
		if err != nil {
			errs = append(errs, fmt.Errorf("alerts: %w", err))
		}
	}
	var series int
	if e.deps.Series != nil && o.CaseID != "" {
		series, err = e.deps.Series.DeleteSeries(ctx, o.Site, o.CaseID)
		if err != nil {
			errs = append(errs, fmt.Errorf("time series: %w", err))
		}
	}
	var records int64
	if e.deps.Audit != nil {
		records, err = e.deps.Audit.Pseudonymise(ctx, o.Site, subjects, pseudonym)
		if err != nil {
			errs = append(errs, fmt.Errorf("audit records: %w", err))
		}
	}
	e.purged.WithLabelValues("personal").Add(float64(personal))
	e.purged.WithLabelValues("clip").Add(float64(clips))
	e.purged.WithLabelValues("audit_record").Add(float64(records))
	e.purged.WithLabelValues("alert").Add(float64(alerted))
	e.purged.WithLabelValues("series").Add(float64(series))
	rep.Series += series
	if personal+int64(clips)+records+alerted+int64(series) > 0 {
		rep.Occupancies++
		rep.Personal += personal
		rep.Clips += clips
		rep.AuditRecords += records
		rep.Alerts += alerted
		e.log.Info("personal data purged", "site", o.Site, "pseudonym", pseudonym, "personal", personal,
			"clips", clips, "audit_records", records, "alerts", alerted, "series", series)
		if e.deps.Audit != nil {
			detail := fmt.Sprintf("retention by purpose (%s after release): %d personal fields and manual readings "+
				"deleted, %d clips deleted, %d audit records pseudonymised, %d alerts and notifications pseudonymised, "+
				"%d time series deleted; stay ended %s",
				after, personal, clips, records, alerted, series, o.End.UTC().Format(time.RFC3339))
			if err := e.deps.Audit.Record(ctx, audit.Record{Actor: "citywatch", Role: "system",
				Action: audit.RetentionPurge, Site: o.Site, Target: pseudonym, Detail: detail,
				Success: len(errs) == 0}); err != nil {
				errs = append(errs, fmt.Errorf("deletion record: %w", err))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("occupancy %s of site %s: %w", o.ID, o.Site, errors.Join(errs...))
	}
	return nil
}

// newPseudonym returns a fresh random pseudonym: unlike a hash of the case id, it cannot be recomputed to
// find the person again.
func newPseudonym() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "purged-" + hex.EncodeToString(b[:])
}

// Run sweeps at once and then every Interval until ctx is done. It returns nil when ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	t := e.clk.NewTicker(e.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := e.Sweep(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("sweep incomplete; retried at the next one", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}
