// Package app wires citywatch together: configuration → components, run them as one, reload on SIGHUP, stop
// gracefully in reverse order. Tests import it to run the whole platform in process.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"citywatch/alerts"
	"citywatch/alerts/canary"
	"citywatch/alerts/notify"
	"citywatch/cameras"
	"citywatch/cameras/analyze"
	"citywatch/cameras/media"
	"citywatch/config"
	"citywatch/dashboards"
	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
	"citywatch/dashboards/live"
	"citywatch/dashboards/promapi"
	"citywatch/dashboards/siteplan"
	"citywatch/ingest"
	"citywatch/ingest/broker"
	"citywatch/ingest/mapping"
	"citywatch/internal/clock"
	"citywatch/internal/logx"
	"citywatch/internal/sqlitedb"
	"citywatch/retention"
	"citywatch/store"
	"citywatch/store/influx"
	"citywatch/store/remotequery"
	"citywatch/store/remotewrite"
	"citywatch/store/tsdb"
	"citywatch/ward"
)

// Options are the parts of a run that do not come from the configuration file.
type Options struct {
	// Logger is the process logger. Nil discards.
	Logger *slog.Logger
	// Cameras are monitored in addition to the configured ones (the demo's simulated cameras).
	Cameras []cameras.CameraConfig
	// CameraAnalysisFPS is the analysis rate of Cameras (analysis_fps of a configured camera; the demo's
	// --analysis-fps). Zero means the analyzer's default.
	CameraAnalysisFPS float64
	// AdminToken, when set, is an admin API token with exactly this value (CITYWATCH_ADMIN_TOKEN).
	AdminToken string
	// Demo runs the demo rule pack and groups and repeats notifications on demo timescales (seconds, not
	// minutes).
	Demo bool
	// OnInitialAdmin is told the login of the admin created on first start, once. Nil logs where the password
	// file is instead.
	OnInitialAdmin func(user, password string)
	// LivePingInterval is how often the live event stream pings the dashboards (live.Config.PingInterval): a
	// page calls itself stale after two intervals without news. It defaults to 5s; tests shorten it.
	LivePingInterval time.Duration
	// Flags are the command-line flags by name, for /api/v1/status/flags. Nil reports none.
	Flags map[string]string
	// ReloadSignals asks for a reload per value received (cmd/citywatch relays SIGHUP); ReloadConfig loads the
	// configuration to apply. Run owns the goroutine that waits for them. Either nil: no signal reloads.
	ReloadSignals <-chan os.Signal
	ReloadConfig  func() (*config.Config, error)
	// RetentionClock runs retention by purpose (app/privacy.go); nil is the real clock. Tests move a
	// clock.Fake past a retention period.
	RetentionClock clock.Clock
	// PasswordHashing is the argon2id cost of the password hashes New and the API make (auth.Config.Argon2);
	// zero is auth's default (19 MiB, 2 passes), which serve and demo use. Tests lower it: every New hashes
	// at least twice (the dummy hash and the first admin), and at the default that was most of New's CPU.
	PasswordHashing auth.Argon2Params
}

// App is a configured citywatch: New builds every component, Run starts them and stops them when ctx ends.
type App struct {
	cfg  *config.Config
	opts Options
	log  *slog.Logger
	reg  *prometheus.Registry

	db        *tsdb.DB
	influx    *influx.Writer
	appender  store.Appender
	mapper    *swapMapper
	pipeline  *ingest.Pipeline
	devices   *ingest.DeviceStore // the pipeline's device registry in the metadata database (app/devices.go)
	broker    *broker.Broker
	externals []*ingest.External
	cams      *cameras.Monitor
	analyzer  *analyze.Analyzer
	media     *media.Media
	api       *promapi.API
	remote    *remotequery.Client // storage.query: a centre's engine; nil on an edge
	listings  *centreListings     // a centre's camera and device lists
	meta      *sql.DB
	outbox    *notify.Outbox
	alerts    *alerts.Manager
	canary    *canary.Canary
	audit     *audit.Log
	auth      *auth.Auth
	bus       *live.Bus
	http      *dashboards.Server
	ward      *ward.Ward      // app/ward.go
	plans     *siteplan.Plans // app/siteplan.go

	// remoteWrite are the storage.remote_write forwarders (app/remote_write.go).
	remoteWrite []*remotewrite.Writer
	// retention is retention by purpose (app/privacy.go); nil without an occupants store.
	retention *retention.Engine
	// running is what a reload may change while citywatch runs (app/reload.go).
	running running

	ready atomic.Bool
	// reloadMu serializes reloads (SIGHUP, POST /api/rules/reload) and guards the rule-file list they read.
	reloadMu sync.Mutex
	// reload is the last configuration reload, for /api/v1/status/runtimeinfo.
	reload reloadStatus
}

// New builds every component from cfg without starting anything that listens. The data directory is opened
// (and locked) here, so a second instance on the same directory fails at once with a clear message.
func New(cfg *config.Config, opts Options) (*App, error) {
	a := &App{cfg: cfg, opts: opts, log: logx.Or(opts.Logger), reg: prometheus.NewRegistry()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	if err := a.build(); err != nil {
		a.closeStores()
		return nil, err
	}
	return a, nil
}

func (a *App) build() error {
	cfg := a.cfg
	var err error
	// The TSDB replays its write-ahead log in the background (tsdb.Start) while the rest is built: the metadata
	// database, the device registry's restore, the rules. Its methods wait for the open, and nothing appends
	// or queries before Run; build waits for it at the end, so New still returns an open TSDB or its error.
	a.db, err = tsdb.Start(tsdb.ConfigFromConfig(cfg), tsdb.Deps{Logger: a.log, Registerer: a.reg})
	if err != nil {
		return err
	}
	a.appender = a.db
	if ic := cfg.Storage.Influx; ic.Enabled() {
		a.influx, err = influx.New(influx.ConfigFromConfig(ic, cfg.Edge), influx.Deps{Logger: a.log, Registerer: a.reg})
		if err != nil {
			return err
		}
	}
	if err := a.buildRemoteWrite(); err != nil {
		return err
	}
	a.appender = a.storeAppender()
	m, err := newMapper(cfg)
	if err != nil {
		return err
	}
	a.mapper = &swapMapper{}
	a.mapper.cur.Store(m)
	a.pipeline, err = ingest.NewPipeline(ingest.PipelineFromConfig(cfg),
		ingest.PipelineDeps{Mapper: a.mapper, Appender: a.appender, Logger: a.log, Registerer: a.reg,
			OnReject: a.ingestRejected, OnStatus: a.ingestStatus})
	if err != nil {
		return err
	}
	if cfg.BrokerEnabled() {
		if a.broker, err = a.newBroker(); err != nil {
			return err
		}
	}
	for _, src := range cfg.Ingest.Sources {
		ext, err := a.newExternal(src)
		if err != nil {
			return err
		}
		a.externals = append(a.externals, ext)
	}
	cams, acams, mcams, err := a.cameraSets(a.cfg.Cameras)
	if err != nil {
		return err
	}
	if len(cams) > 0 {
		// Motion and tamper analysis decodes the monitor's own access units with ffmpeg: no second connection to
		// the camera. Without ffmpeg the analyzer says why and the cameras keep their health monitoring.
		a.warnZonesBehindMask(acams)
		a.running.analysed = acams
		a.analyzer, err = analyze.New(analyze.Config{Cameras: acams}, analyze.Deps{Appender: a.appender,
			Events: a.analysisEvent, Logger: a.log, Registerer: a.reg})
		if err != nil {
			return err
		}
		mc := media.ConfigFromConfig(a.cfg.DataDir, a.cfg.Media)
		mc.Cameras = mcams
		a.running.media = mcams
		a.media, err = media.New(mc, media.Deps{Logger: a.log, Registerer: a.reg})
		if err != nil {
			return err
		}
		a.cams, err = cameras.New(cameras.Config{Cameras: cams}, cameras.Deps{
			Appender: a.appender, Logger: a.log, Registerer: a.reg, Events: a.cameraEvent,
			Sink: cameras.Sinks{a.analyzer, a.media},
		})
		if err != nil {
			return err
		}
	}
	if err := a.buildAuth(); err != nil {
		return err
	}
	if err := a.buildDeviceStore(); err != nil {
		return err
	}
	a.api, err = a.newQueryAPI()
	if err != nil {
		return err
	}
	if err := a.buildAlerting(); err != nil {
		return err
	}
	if err := a.buildWard(); err != nil {
		return err
	}
	if err := a.buildPlans(); err != nil {
		return err
	}
	a.bus = live.New(live.Config{PingInterval: a.opts.LivePingInterval}, live.Deps{Registerer: a.reg})
	hc := dashboards.ConfigFromConfig(cfg.HTTP)
	hc.AnonymousRead, hc.Plans = a.opts.Demo && loopback(cfg.HTTP.Listen), a.planPage()
	a.http, err = dashboards.New(hc, dashboards.Deps{
		Logger: a.log, Gatherer: a.reg, Registerer: a.reg, Ingest: a.ingestInfo(), Cameras: a.camerasInfo(),
		Analysis: a.analysisInfo(), Media: a.mediaAPI(),
		PromAPI: a.api, Auth: a.auth, Audit: a.audit, Checks: a.checks(), MoreChecks: a.sourceChecks,
		Alerts: a.alerts, Deliveries: a.outbox, ReloadRules: a.ReloadRules, Live: a.bus,
		Routes: append(a.wardRoutes(), a.planRoutes()...),
	})
	if err != nil {
		return err
	}
	return a.db.WaitOpen()
}

// buildAuth opens the metadata database (users, tokens, sessions, audit) and access control. On first start
// it creates the admin whose login OnInitialAdmin is told once.
func (a *App) buildAuth() error {
	var err error
	if a.meta, err = sqlitedb.Open(filepath.Join(a.cfg.DataDir, "citywatch.db")); err != nil {
		return fmt.Errorf("metadata database: %w", err)
	}
	if a.audit, err = audit.New(a.meta, audit.Config{}, audit.Deps{Logger: a.log, Registerer: a.reg}); err != nil {
		return err
	}
	onAdmin := a.opts.OnInitialAdmin
	if onAdmin == nil {
		onAdmin = func(user, _ string) {
			a.log.Warn("created the first admin; its password is in the initial admin file, change it after signing in",
				"user", user, "file", filepath.Join(a.cfg.DataDir, auth.InitialAdminFile))
		}
	}
	ac, err := a.authConfig()
	if err != nil {
		return err
	}
	if a.opts.PasswordHashing != (auth.Argon2Params{}) {
		ac.Argon2 = a.opts.PasswordHashing
	}
	a.auth, err = auth.New(ac, auth.Deps{DB: a.meta, Audit: a.audit, Logger: a.log, Registerer: a.reg, OnInitialAdmin: onAdmin})
	return err
}

func (a *App) mediaAPI() dashboards.MediaAPI {
	if a.media == nil {
		return nil
	}
	return a.media
}

func (a *App) analysisInfo() dashboards.AnalysisInfo {
	if a.analyzer == nil {
		return nil
	}
	return analysisStatus{a.analyzer}
}

// analysisStatus gives the camera API each camera's analysis status.
type analysisStatus struct{ a *analyze.Analyzer }

func (s analysisStatus) AnalysisStatus(id string) any { return s.a.Status(id) }

func (a *App) camerasInfo() dashboards.CameraInfo {
	if a.remote != nil {
		return a.centreListings()
	}
	if a.cams == nil {
		return nil
	}
	return a.cams
}

func newMapper(cfg *config.Config) (*mapping.Mapper, error) {
	return mapping.New(cfg.Ingest.Rules, mapping.OptionsFromConfig(cfg.Ingest))
}

// swapMapper lets a reload replace the topic mapping while messages flow.
type swapMapper struct {
	cur atomic.Pointer[mapping.Mapper]
}

func (s *swapMapper) Map(topic string, payload []byte, now time.Time) (mapping.Result, error) {
	return s.cur.Load().Map(topic, payload, now)
}

func (a *App) newBroker() (*broker.Broker, error) {
	bc := a.cfg.Broker
	var tlsCfg *tls.Config
	if bc.TLS.Enabled() {
		cert, err := tls.LoadX509KeyPair(bc.TLS.CertFile, bc.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("broker.tls: %w", err)
		}
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if bc.TLS.ClientCAFile != "" {
			pool, err := certPool(bc.TLS.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("broker.tls.client_ca_file: %w", err)
			}
			tlsCfg.ClientCAs = pool
			tlsCfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	bcfg, err := broker.ConfigFromConfig(bc, tlsCfg)
	if err != nil {
		return nil, err
	}
	return broker.New(bcfg, broker.Deps{Sink: a.pipeline, Logger: a.log, Registerer: a.reg})
}

// clientTLS is the TLS client configuration of t, reading its files; nil when t sets nothing (the system
// roots, no client certificate). Errors name the key ("tls.ca_file: ...").
func clientTLS(t config.ClientTLSConfig) (*tls.Config, error) {
	if t.CAFile == "" && t.CertFile == "" && !t.InsecureSkipVerify {
		return nil, nil
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // explicit opt-in in the config
	if t.CAFile != "" {
		pool, err := certPool(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		tlsCfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	return tlsCfg, nil
}

func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

func (a *App) newExternal(src config.SourceConfig) (*ingest.External, error) {
	tlsCfg, err := clientTLS(src.TLS)
	if err != nil {
		return nil, fmt.Errorf("ingest.sources %q: %w", src.Name, err)
	}
	return ingest.NewExternal(ingest.ExternalFromConfig(src, tlsCfg), a.pipeline, ingest.ExternalDeps{Logger: a.log, Registerer: a.reg})
}

func (a *App) checks() []dashboards.Check {
	checks := []dashboards.Check{{Name: "started", Err: func() error {
		if !a.ready.Load() {
			return errors.New("starting")
		}
		return nil
	}}}
	checks = append(checks, a.storageChecks()...)
	checks = append(checks, a.centreChecks()...)
	if a.influx != nil {
		checks = append(checks, dashboards.Check{Name: "influx", Degraded: true, Err: func() error {
			st := a.influx.Status()
			if st.Up {
				return nil
			}
			return fmt.Errorf("%s: %s (%d samples queued, data kept)", st.State, st.LastError, st.QueueSamples)
		}})
	}
	checks = append(checks, a.remoteWriteChecks()...)
	return checks
}

// Registry is the self-metrics registry served at /metrics.
func (a *App) Registry() *prometheus.Registry { return a.reg }

// HTTPAddr is the bound HTTP address (after Run has started the server).
func (a *App) HTTPAddr() string { return a.http.Addr() }

// BrokerAddr is the embedded broker's bound TCP address, or "" without an embedded broker.
func (a *App) BrokerAddr() string {
	if a.broker == nil {
		return ""
	}
	return a.broker.Addrs().TCP
}

// Run starts every component, serves until ctx ends, then stops them in reverse order and closes the stores.
// started, if not nil, is closed once everything listens.
func (a *App) Run(ctx context.Context) error {
	return a.run(ctx, nil)
}

func (a *App) run(ctx context.Context, started chan<- struct{}) error {
	r := &runner{}
	r.add(a.components(started)...)
	err := r.Run(ctx)
	// Cancelled before the runner reached the stores: they are closed here instead.
	return errors.Join(err, a.closeStoresOnce())
}

// closeStores closes the outbox, the InfluxDB queue, the TSDB and the metadata database; safe to call twice.
// Run has stopped rule evaluation (and everything that appends) before.
func (a *App) closeStores() error {
	var errs []error
	if a.outbox != nil {
		a.outbox.Close()
	}
	if a.alerts != nil {
		errs = append(errs, a.alerts.Close())
	}
	if a.influx != nil {
		errs = append(errs, a.influx.Close())
	}
	errs = append(errs, a.closeRemoteWrite()...)
	if a.db != nil {
		errs = append(errs, a.db.Close())
	}
	a.saveDevices()
	if a.meta != nil {
		errs = append(errs, a.meta.Close())
		a.meta = nil
	}
	return errors.Join(errs...)
}

// loopback reports whether addr listens on a loopback address only (the demo's anonymous read stays local).
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// queryOptions are the Prometheus API's options from http.query: the budget of every API and UI query. Rule
// evaluation has its own engine (alerts.New), so a saturated API never delays an alert.
func queryOptions(q config.HTTPQueryConfig, client func(*http.Request) string, log *slog.Logger, reg prometheus.Registerer) promapi.Options {
	opts := promapi.OptionsFromConfig(q)
	opts.ClientKey, opts.Logger, opts.Registerer = client, log, reg
	return opts
}

// queryClient is whose query r is, for http.query.max_concurrent_per_client and rate_per_client: the user or
// API token, or the client address for anonymous requests (the demo's loopback viewers share the principal
// "anonymous").
func (a *App) queryClient(r *http.Request) string {
	if p, ok := auth.FromContext(r.Context()); ok && p.ID != "" && !(a.opts.Demo && p.ID == "anonymous") {
		return string(p.Kind) + ":" + p.ID
	}
	return "addr:" + a.auth.ClientIP(r)
}
