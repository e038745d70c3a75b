package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors of the user and token store.
var (
	// ErrNotFound means no such user or token (or not one the caller may see).
	ErrNotFound = errors.New("not found")
	// ErrExists means a user with that name exists.
	ErrExists = errors.New("already exists")
	// ErrLastAdmin refuses to delete, disable or demote the last enabled admin.
	ErrLastAdmin = errors.New("cannot remove the last enabled admin")
)

const schema = `
CREATE TABLE IF NOT EXISTS auth_users (
	username      TEXT PRIMARY KEY,
	password_hash TEXT NOT NULL,
	role          TEXT NOT NULL,
	sites         TEXT NOT NULL,
	video         INTEGER NOT NULL,
	disabled      INTEGER NOT NULL,
	created_ms    INTEGER NOT NULL,
	updated_ms    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_tokens (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL,
	hash         BLOB NOT NULL UNIQUE,
	owner        TEXT NOT NULL,
	created_by   TEXT NOT NULL,
	role         TEXT NOT NULL,
	sites        TEXT NOT NULL,
	video        INTEGER NOT NULL,
	created_ms   INTEGER NOT NULL,
	expires_ms   INTEGER NOT NULL,
	revoked_ms   INTEGER NOT NULL,
	last_used_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_tokens_owner ON auth_tokens(owner);
CREATE TABLE IF NOT EXISTS auth_sessions (
	id_hash      BLOB PRIMARY KEY,
	username     TEXT NOT NULL,
	csrf         TEXT NOT NULL,
	created_ms   INTEGER NOT NULL,
	last_seen_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions(username);
`

// User is a user account as the API shows it (never the password hash).
type User struct {
	Username  string    `json:"username"`
	Role      Role      `json:"role"`
	Sites     []string  `json:"sites"`
	Video     bool      `json:"video"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Token is an API token as the API shows it (never the secret or its hash).
type Token struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Owner is the user the token acts for, inheriting their current role and sites; "" for a standalone token
	// with its own role and sites (only admins create those).
	Owner     string     `json:"owner,omitempty"`
	CreatedBy string     `json:"created_by"`
	Role      Role       `json:"role"`
	Sites     []string   `json:"sites"`
	Video     bool       `json:"video"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	LastUsed  *time.Time `json:"last_used_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

type store struct{ db *sql.DB }

func encodeSites(s []string) string {
	if s == nil {
		s = []string{}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func decodeSites(s string) []string {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil || out == nil {
		return []string{}
	}
	return out
}

func fromMS(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func optMS(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := fromMS(ms)
	return &t
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func (s *store) countUsers(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM auth_users`).Scan(&n)
	return n, err
}

func (s *store) insertUser(ctx context.Context, u User, hash string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO auth_users
		(username, password_hash, role, sites, video, disabled, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?)`,
		u.Username, hash, string(u.Role), encodeSites(u.Sites), u.Video, u.Disabled,
		u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli())
	if isUnique(err) {
		return ErrExists
	}
	return err
}

const userCols = `username, role, sites, video, disabled, created_ms, updated_ms`

type scanner interface{ Scan(...any) error }

func scanUser(sc scanner, extra ...any) (User, error) {
	var u User
	var role, sites string
	var c, m int64
	err := sc.Scan(append([]any{&u.Username, &role, &sites, &u.Video, &u.Disabled, &c, &m}, extra...)...)
	u.Role, u.Sites, u.CreatedAt, u.UpdatedAt = Role(role), decodeSites(sites), fromMS(c), fromMS(m)
	return u, err
}

// getUser returns the user and their password hash.
func (s *store) getUser(ctx context.Context, name string) (User, string, error) {
	var hash string
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`SELECT `+userCols+`, password_hash FROM auth_users WHERE username = ?`, name), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", ErrNotFound
	}
	return u, hash, err
}

func (s *store) listUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM auth_users ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// userPatch is a validated change to a user; nil fields stay.
type userPatch struct {
	hash     *string
	role     *Role
	sites    *[]string
	video    *bool
	disabled *bool
}

// updateUser applies p in one transaction, refusing to leave no enabled admin, and ends the user's sessions
// when the password changes or the account is disabled. It returns the updated user.
func (s *store) updateUser(ctx context.Context, name string, p userPatch, now time.Time, check func(User) error) (User, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return User{}, err
	}
	defer func() { _ = tx.Rollback() }()
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM auth_users WHERE username = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	wasAdmin := u.Role == RoleAdmin && !u.Disabled
	if p.role != nil {
		u.Role = *p.role
	}
	if p.sites != nil {
		u.Sites = *p.sites
	}
	if p.video != nil {
		u.Video = *p.video
	}
	if p.disabled != nil {
		u.Disabled = *p.disabled
	}
	if err := check(u); err != nil {
		return User{}, err
	}
	if wasAdmin && (u.Role != RoleAdmin || u.Disabled) {
		if err := lastAdminCheck(ctx, tx, name); err != nil {
			return User{}, err
		}
	}
	u.UpdatedAt = now
	if _, err := tx.ExecContext(ctx, `UPDATE auth_users SET role=?, sites=?, video=?, disabled=?, updated_ms=?
		WHERE username=?`, string(u.Role), encodeSites(u.Sites), u.Video, u.Disabled, now.UnixMilli(), name); err != nil {
		return User{}, err
	}
	if p.hash != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE auth_users SET password_hash=? WHERE username=?`, *p.hash, name); err != nil {
			return User{}, err
		}
	}
	if p.hash != nil || u.Disabled {
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_sessions WHERE username=?`, name); err != nil {
			return User{}, err
		}
	}
	return u, tx.Commit()
}

func lastAdminCheck(ctx context.Context, tx *sql.Tx, except string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM auth_users WHERE role=? AND disabled=0 AND username<>?`,
		string(RoleAdmin), except).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

// deleteUser deletes the user, their sessions, and revokes the tokens acting for them.
func (s *store) deleteUser(ctx context.Context, name string, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM auth_users WHERE username = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if u.Role == RoleAdmin && !u.Disabled {
		if err := lastAdminCheck(ctx, tx, name); err != nil {
			return err
		}
	}
	for _, q := range []string{
		`DELETE FROM auth_users WHERE username=?`,
		`DELETE FROM auth_sessions WHERE username=?`,
	} {
		if _, err := tx.ExecContext(ctx, q, name); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE auth_tokens SET revoked_ms=? WHERE owner=? AND revoked_ms=0`,
		now.UnixMilli(), name); err != nil {
		return err
	}
	return tx.Commit()
}

// tokenRow is a token with what authentication needs.
type tokenRow struct {
	Token
	hash []byte
}

func (s *store) insertToken(ctx context.Context, t Token, hash []byte) error {
	var exp int64
	if t.ExpiresAt != nil {
		exp = t.ExpiresAt.UnixMilli()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO auth_tokens
		(id, name, hash, owner, created_by, role, sites, video, created_ms, expires_ms, revoked_ms, last_used_ms)
		VALUES (?,?,?,?,?,?,?,?,?,?,0,0)`,
		t.ID, t.Name, hash, t.Owner, t.CreatedBy, string(t.Role), encodeSites(t.Sites), t.Video,
		t.CreatedAt.UnixMilli(), exp)
	return err
}

// upsertSeedToken makes the token with id exist with exactly this hash, unrevoked.
func (s *store) upsertSeedToken(ctx context.Context, t Token, hash []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO auth_tokens
		(id, name, hash, owner, created_by, role, sites, video, created_ms, expires_ms, revoked_ms, last_used_ms)
		VALUES (?,?,?,'',?,?,'[]',0,?,0,0,0)
		ON CONFLICT(id) DO UPDATE SET hash=excluded.hash, role=excluded.role, revoked_ms=0, expires_ms=0,
			owner='', sites='[]'`,
		t.ID, t.Name, hash, t.CreatedBy, string(t.Role), t.CreatedAt.UnixMilli())
	return err
}

func (s *store) deleteToken(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM auth_tokens WHERE id=?`, id)
	return err
}

// tokenSelect joins a token with its owner so owned tokens carry the owner's current role, sites and video;
// a token whose owner is gone or disabled reads as disabled.
const tokenSelect = `SELECT t.id, t.name, t.hash, t.owner, t.created_by,
	CASE WHEN t.owner = '' THEN t.role ELSE coalesce(u.role, '') END,
	CASE WHEN t.owner = '' THEN t.sites ELSE coalesce(u.sites, '[]') END,
	CASE WHEN t.owner = '' THEN t.video ELSE coalesce(u.video, 0) END,
	t.created_ms, t.expires_ms, t.revoked_ms, t.last_used_ms,
	CASE WHEN t.owner = '' THEN 0 ELSE coalesce(u.disabled, 1) END
	FROM auth_tokens t LEFT JOIN auth_users u ON u.username = t.owner`

func scanToken(sc scanner) (tokenRow, bool, error) {
	var t tokenRow
	var role, sites string
	var c, e, r, l int64
	var ownerDisabled bool
	err := sc.Scan(&t.ID, &t.Name, &t.hash, &t.Owner, &t.CreatedBy, &role, &sites, &t.Video, &c, &e, &r, &l,
		&ownerDisabled)
	t.Role, t.Sites, t.CreatedAt = Role(role), decodeSites(sites), fromMS(c)
	t.ExpiresAt, t.RevokedAt, t.LastUsed = optMS(e), optMS(r), optMS(l)
	return t, ownerDisabled, err
}

func (s *store) tokenByHash(ctx context.Context, hash []byte) (tokenRow, bool, error) {
	t, dis, err := scanToken(s.db.QueryRowContext(ctx, tokenSelect+` WHERE t.hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, false, ErrNotFound
	}
	return t, dis, err
}

func (s *store) tokenByID(ctx context.Context, id string) (tokenRow, error) {
	t, _, err := scanToken(s.db.QueryRowContext(ctx, tokenSelect+` WHERE t.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// listTokens lists every token, or only owner's when owner is not "".
func (s *store) listTokens(ctx context.Context, owner string) ([]Token, error) {
	q, args := tokenSelect+` ORDER BY t.created_ms, t.id`, []any{}
	if owner != "" {
		q, args = tokenSelect+` WHERE t.owner = ? ORDER BY t.created_ms, t.id`, []any{owner}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, _, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t.Token)
	}
	return out, rows.Err()
}

func (s *store) revokeToken(ctx context.Context, id string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE auth_tokens SET revoked_ms=? WHERE id=? AND revoked_ms=0`,
		now.UnixMilli(), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *store) touchToken(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE auth_tokens SET last_used_ms=? WHERE id=?`, now.UnixMilli(), id)
	return err
}

// sessionRow is a session joined with its user.
type sessionRow struct {
	user     User
	csrf     string
	created  time.Time
	lastSeen time.Time
}

func (s *store) insertSession(ctx context.Context, idHash []byte, user, csrf string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO auth_sessions (id_hash, username, csrf, created_ms, last_seen_ms)
		VALUES (?,?,?,?,?)`, idHash, user, csrf, now.UnixMilli(), now.UnixMilli())
	return err
}

func (s *store) session(ctx context.Context, idHash []byte) (sessionRow, error) {
	var r sessionRow
	var c, l int64
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT u.username, u.role, u.sites, u.video, u.disabled,
		u.created_ms, u.updated_ms, s.csrf, s.created_ms, s.last_seen_ms
		FROM auth_sessions s JOIN auth_users u ON u.username = s.username WHERE s.id_hash = ?`, idHash),
		&r.csrf, &c, &l)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	r.user, r.created, r.lastSeen = u, fromMS(c), fromMS(l)
	return r, err
}

func (s *store) touchSession(ctx context.Context, idHash []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE auth_sessions SET last_seen_ms=? WHERE id_hash=?`, now.UnixMilli(), idHash)
	return err
}

func (s *store) deleteSession(ctx context.Context, idHash []byte) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM auth_sessions WHERE id_hash=?`, idHash)
	return err
}

// pruneSessions deletes sessions past their idle or absolute expiry.
func (s *store) pruneSessions(ctx context.Context, now time.Time, idle, max time.Duration) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM auth_sessions WHERE last_seen_ms < ? OR created_ms < ?`,
		now.Add(-idle).UnixMilli(), now.Add(-max).UnixMilli())
	if err != nil {
		return fmt.Errorf("prune sessions: %w", err)
	}
	return nil
}
