// Package auth is citywatch's access control: users with roles and sites, API tokens, browser sessions with
// CSRF protection, login throttling, the permission model every HTTP route is checked against, and a Router
// that lets tests prove every route has an access rule.
package auth

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/dashboards/audit"
	"citywatch/internal/clock"
	"citywatch/internal/logx"
)

// Config configures access control.
type Config struct {
	// DataDir receives initial-admin.txt (mode 0600) when the first start creates the admin user. When empty,
	// only Deps.OnInitialAdmin learns the password, and New fails if that is nil too.
	DataDir string
	// SessionIdle ends a session unused for this long. It defaults to 30m.
	SessionIdle time.Duration
	// SessionMax ends a session this long after login, used or not. It defaults to 12h.
	SessionMax time.Duration
	// SecureCookies marks the session cookie Secure even on plain-HTTP requests (set it behind a TLS-terminating
	// proxy). Requests that arrive over TLS always get Secure cookies. It defaults to false.
	SecureCookies bool
	// AdminToken, when set, makes an admin API token with exactly this value exist (CITYWATCH_ADMIN_TOKEN). Only
	// its SHA-256 is stored; starting again with the same value is a no-op, with another value replaces it, and
	// without a value deletes it. It must be at least 16 characters.
	AdminToken string
	// TokenTTL is the lifetime of a new API token that asks for none. It defaults to 90 days.
	TokenTTL time.Duration
	// LoginFreeAttempts is how many failed logins per user name are free before backoff starts. It defaults
	// to 5.
	LoginFreeAttempts int
	// LoginFreeAttemptsPerIP is the same per client address (one office shares an address). It defaults to 20.
	LoginFreeAttemptsPerIP int
	// LoginBackoff is the first lockout after the free attempts; each further failure doubles it. It defaults
	// to 1s.
	LoginBackoff time.Duration
	// LoginBackoffMax caps the lockout. It defaults to 15m.
	LoginBackoffMax time.Duration
	// LoginForget forgets a key's failures after this long without one. It defaults to 1h.
	LoginForget time.Duration
	// TrustedProxies are reverse proxies whose X-Forwarded-For is believed for the client address (rate
	// limiting and audit). It defaults to none: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// PublicPaths are reachable without authentication: "METHOD /path" for an exact path, "METHOD /prefix/" for
	// a subtree; GET also allows HEAD. It defaults to DefaultPublicPaths.
	PublicPaths []string
	// LoginPath is where anonymous browser page requests are redirected. It defaults to /login.
	LoginPath string
	// Argon2 sets the password hashing cost.
	Argon2 Argon2Params
}

// DefaultPublicPaths are the routes reachable without authentication.
var DefaultPublicPaths = []string{
	"GET /healthz", "GET /readyz", "GET /login", "GET /ui/", "GET /favicon.ico", "POST /api/login",
}

// Deps are access control's collaborators. DB is required; the rest are optional.
type Deps struct {
	// DB holds users, tokens and sessions (tables auth_*); open it with OpenDB.
	DB *sql.DB
	// Audit receives login, logout, user and token records; nil records nothing.
	Audit *audit.Log
	// Logger defaults to discarding. Passwords and tokens are never logged.
	Logger *slog.Logger
	// Registerer receives the auth metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Clock tells the time (sessions, tokens, login backoff, audit times); nil is the real clock.
	Clock clock.Clock
	// OnInitialAdmin is called once, on the first start, with the generated admin credentials (the caller
	// prints them to the operator's terminal, never to a log file).
	OnInitialAdmin func(user, password string)
}

// Auth authenticates requests and manages users, tokens and sessions. It is safe for concurrent use. It starts
// no goroutines (expired sessions are pruned at each login), so it needs no Close.
type Auth struct {
	cfg     Config
	deps    Deps
	st      *store
	log     *slog.Logger
	now     func() time.Time
	public  []publicPath
	byUser  *limiter
	byIP    *limiter
	dummy   string        // a password hash verified for unknown users, so they cost the same time
	hashSem chan struct{} // bounds concurrent argon2 work (memory)
	// checkHook, when set (tests only), runs just before a login's password check.
	checkHook func()
	logins    *prometheus.CounterVec
	rejected  *prometheus.CounterVec
}

// InitialAdminFile is the name, under Config.DataDir, of the first start's admin credentials.
const InitialAdminFile = "initial-admin.txt"

// SessionCookie is the name of the session cookie.
const SessionCookie = "citywatch_session"

// CSRFHeader carries the session's CSRF token on state-changing requests.
const CSRFHeader = "X-CSRF-Token"

const (
	seedTokenID   = "env-admin"
	minPassword   = 12
	maxPassword   = 1024
	minAdminToken = 16
)

// New creates the tables if needed, creates the initial admin on an empty user table and seeds the admin token.
func New(cfg Config, deps Deps) (*Auth, error) {
	if deps.DB == nil {
		return nil, errors.New("auth: no database")
	}
	cfg = withDefaults(cfg)
	if cfg.SessionIdle > cfg.SessionMax {
		return nil, fmt.Errorf("auth: session idle timeout %s exceeds the maximum session age %s", cfg.SessionIdle, cfg.SessionMax)
	}
	if cfg.AdminToken != "" && len(cfg.AdminToken) < minAdminToken {
		return nil, fmt.Errorf("auth: admin token must be at least %d characters", minAdminToken)
	}
	public, err := parsePublic(cfg.PublicPaths)
	if err != nil {
		return nil, err
	}
	a := &Auth{cfg: cfg, deps: deps, st: &store{db: deps.DB}, log: logx.Component(deps.Logger, "auth"), now: clock.Or(deps.Clock).Now, public: public,
		hashSem: make(chan struct{}, 4)}
	a.byUser = newLimiter(cfg.LoginFreeAttempts, cfg.LoginBackoff, cfg.LoginBackoffMax, cfg.LoginForget, 100000)
	a.byIP = newLimiter(cfg.LoginFreeAttemptsPerIP, cfg.LoginBackoff, cfg.LoginBackoffMax, cfg.LoginForget, 100000)
	f := promauto.With(deps.Registerer)
	a.logins = f.NewCounterVec(prometheus.CounterOpts{
		Name: "citywatch_auth_logins_total",
		Help: "Login attempts by result: success, failure (bad credentials or disabled), throttled, error.",
	}, []string{"result"})
	a.rejected = f.NewCounterVec(prometheus.CounterOpts{
		Name: "citywatch_auth_rejected_requests_total",
		Help: "Requests refused by access control, by reason: unauthenticated, invalid_credentials, csrf, forbidden.",
	}, []string{"reason"})
	if a.dummy, err = hashPassword("citywatch-dummy-password", cfg.Argon2); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if _, err := deps.DB.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("auth: create schema: %w", err)
	}
	if err := a.bootstrapAdmin(ctx); err != nil {
		return nil, err
	}
	if err := a.seedAdminToken(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

func withDefaults(c Config) Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.SessionIdle, 30*time.Minute)
	def(&c.SessionMax, 12*time.Hour)
	def(&c.TokenTTL, 90*24*time.Hour)
	def(&c.LoginBackoff, time.Second)
	def(&c.LoginBackoffMax, 15*time.Minute)
	def(&c.LoginForget, time.Hour)
	if c.LoginFreeAttempts <= 0 {
		c.LoginFreeAttempts = 5
	}
	if c.LoginFreeAttemptsPerIP <= 0 {
		c.LoginFreeAttemptsPerIP = 20
	}
	if c.PublicPaths == nil {
		c.PublicPaths = DefaultPublicPaths
	}
	if c.LoginPath == "" {
		c.LoginPath = "/login"
	}
	c.Argon2 = c.Argon2.withDefaults()
	return c
}

// bootstrapAdmin creates "admin" with a random password when there are no users at all.
func (a *Auth) bootstrapAdmin(ctx context.Context) error {
	n, err := a.st.countUsers(ctx)
	if err != nil {
		return fmt.Errorf("auth: count users: %w", err)
	}
	if n > 0 {
		return nil
	}
	if a.cfg.DataDir == "" && a.deps.OnInitialAdmin == nil {
		return errors.New("auth: no users yet, and neither a data directory nor OnInitialAdmin to hand the initial admin password to")
	}
	pw, err := randomToken(18)
	if err != nil {
		return err
	}
	hash, err := hashPassword(pw, a.cfg.Argon2)
	if err != nil {
		return err
	}
	now := a.now()
	if a.cfg.DataDir != "" {
		if err := writeSecretFile(filepath.Join(a.cfg.DataDir, InitialAdminFile),
			fmt.Sprintf("# citywatch initial admin; change the password, then delete this file\nusername: admin\npassword: %s\n", pw)); err != nil {
			return err
		}
	}
	if err := a.st.insertUser(ctx, User{Username: "admin", Role: RoleAdmin, Sites: []string{}, CreatedAt: now, UpdatedAt: now}, hash); err != nil {
		return fmt.Errorf("auth: create initial admin: %w", err)
	}
	a.log.Info("created the initial admin user", "user", "admin", "credentials_file", a.initialAdminPath())
	if a.deps.OnInitialAdmin != nil {
		a.deps.OnInitialAdmin("admin", pw)
	}
	return nil
}

func (a *Auth) initialAdminPath() string {
	if a.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(a.cfg.DataDir, InitialAdminFile)
}

// writeSecretFile writes content to path with mode 0600 atomically, whatever mode an older file had.
func writeSecretFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("auth: create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".initial-admin-*")
	if err != nil {
		return fmt.Errorf("auth: write initial admin file: %w", err)
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("auth: write initial admin file: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		_ = f.Close()
		return fmt.Errorf("auth: write initial admin file: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("auth: write initial admin file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("auth: write initial admin file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("auth: write initial admin file: %w", err)
	}
	return nil
}

// seedAdminToken makes the configured admin token exist, or removes a previously seeded one.
func (a *Auth) seedAdminToken(ctx context.Context) error {
	if a.cfg.AdminToken == "" {
		if err := a.st.deleteToken(ctx, seedTokenID); err != nil {
			return fmt.Errorf("auth: remove the seeded admin token: %w", err)
		}
		return nil
	}
	h := sha256.Sum256([]byte(a.cfg.AdminToken))
	t := Token{ID: seedTokenID, Name: "CITYWATCH_ADMIN_TOKEN", CreatedBy: "config", Role: RoleAdmin, CreatedAt: a.now()}
	if err := a.st.upsertSeedToken(ctx, t, h[:]); err != nil {
		return fmt.Errorf("auth: seed the admin token: %w", err)
	}
	return nil
}

// Audit records rec on behalf of the request's principal: it fills Actor, Role and IP (when empty) and Time.
// The lead's handlers use it for live_view_start, clip_play, alert_ack and the like. Failures are counted and
// logged by the audit log; with no audit log it does nothing.
func (a *Auth) Audit(r *http.Request, rec audit.Record) {
	if a.deps.Audit == nil {
		return
	}
	if p, ok := FromContext(r.Context()); ok {
		if rec.Actor == "" {
			rec.Actor = p.Actor()
		}
		if rec.Role == "" {
			rec.Role = string(p.Role)
		}
	}
	if rec.IP == "" {
		rec.IP = a.ClientIP(r)
	}
	if rec.Time.IsZero() {
		rec.Time = a.now()
	}
	_ = a.deps.Audit.Record(context.WithoutCancel(r.Context()), rec) // the log counts and logs a failure
}
