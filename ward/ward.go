package ward

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/alerts"
	"citywatch/dashboards/audit"
	"citywatch/internal/clock"
	"citywatch/internal/logx"
	"citywatch/store"
)

// Config configures the ward.
type Config struct {
	// Sites are the per-site settings; a site with rooms that is not listed gets DefaultSiteConfig.
	Sites []SiteConfig
	// Signals are the thresholds of the occupant signals.
	Signals SignalConfig
	// Interval is how often the engine publishes the ward series and evaluates rounds and signals. It defaults
	// to 15s (well inside PromQL's 5m lookback).
	Interval time.Duration
	// ExportStep is the resolution of wearable readings in the FHIR export (one Observation per step and
	// metric). It defaults to 5m.
	ExportStep time.Duration
	// RetentionAfterRelease and SiteRetention are the configured retention periods (privacy), shown as the
	// default of a site's settings; the settings' retention_days takes precedence (RetentionPeriods). They
	// default to 30 days and none.
	RetentionAfterRelease time.Duration
	SiteRetention         map[string]time.Duration
}

// AlertsSource lists alerts for the daily report (*alerts.Manager).
type AlertsSource interface {
	Alerts(context.Context, alerts.AlertFilter) ([]alerts.Alert, error)
}

// Deps are the ward's collaborators.
type Deps struct {
	// DB is the metadata database. Required.
	DB *sql.DB
	// Reader reads sensor data (the embedded TSDB). Required.
	Reader Reader
	// Appender receives the ward series. Nil publishes nothing (no occupant-aware alerts).
	Appender store.Appender
	// Audit records views of occupant records, check-ins, check-outs and manual readings. Nil records nothing.
	Audit *audit.Log
	// Alerts feeds the report's alert list. Nil leaves it empty.
	Alerts AlertsSource
	// ClientIP is the client address of a request, for the audit trail (auth.Auth.ClientIP). Nil records none.
	ClientIP func(*http.Request) string
	// Logger gets component=ward; nil discards.
	Logger *slog.Logger
	// Registerer receives citywatch_ward_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Clock tells the time (rounds, readings, reports) and runs the engine's ticker; nil is the real clock.
	Clock clock.Clock
}

// Ward is the quarantine ward: its store, HTTP API and engine.
type Ward struct {
	cfg   Config
	deps  Deps
	st    *Store
	log   *slog.Logger
	clk   clock.Clock
	sites map[string]SiteConfig // the configuration's

	mu       sync.RWMutex
	settings map[string]storedSettings // the sites' API settings (settings.go), over sites

	// engine state, owned by Run's goroutine
	published map[string]store.Sample
	doorOpen  map[string]bool

	evals, evalErrs prometheus.Counter
	occupants       prometheus.Gauge
}

// New builds the ward and creates its tables.
func New(cfg Config, deps Deps) (*Ward, error) {
	if deps.Reader == nil {
		return nil, errors.New("ward: no reader")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 15 * time.Second
	}
	if cfg.ExportStep <= 0 {
		cfg.ExportStep = 5 * time.Minute
	}
	if cfg.RetentionAfterRelease <= 0 {
		cfg.RetentionAfterRelease = 30 * 24 * time.Hour
	}
	cfg.Signals = cfg.Signals.withDefaults()
	w := &Ward{cfg: cfg, deps: deps, log: logx.Component(deps.Logger, "ward"), clk: clock.Or(deps.Clock), sites: map[string]SiteConfig{},
		published: map[string]store.Sample{}, doorOpen: map[string]bool{}}
	for _, s := range cfg.Sites {
		w.sites[s.Site] = s.withDefaults()
	}
	var err error
	if w.st, err = NewStore(deps.DB, w.clk); err != nil {
		return nil, err
	}
	if err := w.loadSettings(context.Background()); err != nil {
		return nil, err
	}
	f := promauto.With(deps.Registerer)
	w.evals = f.NewCounter(prometheus.CounterOpts{Name: "citywatch_ward_evaluations_total",
		Help: "Ward engine evaluations (series, rounds, signals)."})
	w.evalErrs = f.NewCounter(prometheus.CounterOpts{Name: "citywatch_ward_evaluation_errors_total",
		Help: "Ward engine evaluations that failed."})
	w.occupants = f.NewGauge(prometheus.GaugeOpts{Name: "citywatch_ward_occupants",
		Help: "Active ward occupants, every site."})
	return w, nil
}

// Store is the ward's store; it is retention by purpose's occupants store (retention.Occupants).
func (w *Ward) Store() *Store { return w.st }

// Site returns the settings of site: the configuration's (or the defaults), with the site settings set over
// the API on top (SetSiteSettings).
func (w *Ward) Site(site string) SiteConfig {
	c := w.configSite(site)
	w.mu.RLock()
	st, ok := w.settings[site]
	w.mu.RUnlock()
	if !ok {
		return c
	}
	if applied, err := st.apply(c); err == nil { // validated when set and when loaded
		return applied
	}
	return c
}

// Run evaluates every Interval until ctx ends.
func (w *Ward) Run(ctx context.Context) error {
	t := w.clk.NewTicker(w.cfg.Interval)
	defer t.Stop()
	lastErr := ""
	for {
		err := w.Evaluate(ctx)
		switch {
		case err != nil && ctx.Err() == nil && err.Error() != lastErr:
			w.log.Warn("ward evaluation failed", "err", err) // once per distinct error; counted always
			lastErr = err.Error()
		case err == nil && lastErr != "":
			w.log.Info("ward evaluation recovered")
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}
