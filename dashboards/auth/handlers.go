package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"time"

	"citywatch/dashboards/audit"
)

// Mux is where Register adds routes; *http.ServeMux and *Router satisfy it.
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Register adds the login, session, user and token API to mux:
//
//	POST   /api/login            public; {username,password} → session cookie and {user,role,sites,video,csrf_token}
//	POST   /api/logout           any principal; ends the cookie's session
//	GET    /api/me               any principal; who am I, my permissions, my CSRF token
//	GET    /api/users            admin
//	POST   /api/users            admin
//	PATCH  /api/users/{name}     admin
//	DELETE /api/users/{name}     admin
//	GET    /api/tokens           admin: every token; others: the tokens acting for them
//	POST   /api/tokens           admin: any role and sites; other users: a token acting for themselves
//	DELETE /api/tokens/{id}      admin: any; others: their own (others' answer 404)
//
// Routes returns the matching access rules.
func (a *Auth) Register(mux Mux) {
	mux.Handle("POST /api/login", http.HandlerFunc(a.login))
	mux.Handle("POST /api/logout", a.Require(ActionSelf, http.HandlerFunc(a.logout)))
	mux.Handle("GET /api/me", a.Require(ActionSelf, http.HandlerFunc(a.me)))
	mux.Handle("GET /api/users", a.Require(ActionManageUsers, http.HandlerFunc(a.listUsers)))
	mux.Handle("POST /api/users", a.Require(ActionManageUsers, http.HandlerFunc(a.createUser)))
	mux.Handle("PATCH /api/users/{name}", a.Require(ActionManageUsers, http.HandlerFunc(a.updateUser)))
	mux.Handle("DELETE /api/users/{name}", a.Require(ActionManageUsers, http.HandlerFunc(a.deleteUser)))
	mux.Handle("GET /api/tokens", a.Require(ActionSelf, http.HandlerFunc(a.listTokens)))
	mux.Handle("POST /api/tokens", a.Require(ActionSelf, http.HandlerFunc(a.createToken)))
	mux.Handle("DELETE /api/tokens/{id}", a.Require(ActionSelf, http.HandlerFunc(a.revokeToken)))
}

// Routes are the access rules of the routes Register adds, for the access matrix test. The bodies make the
// allowed requests fail validation or miss, so running the matrix changes nothing.
func Routes() []RouteRule {
	return []RouteRule{
		{Method: "POST", Pattern: "/api/login", Public: true, Body: `{"username":"x"}`, OK: http.StatusBadRequest},
		{Method: "POST", Pattern: "/api/logout", Action: ActionSelf},
		{Method: "GET", Pattern: "/api/me", Action: ActionSelf},
		{Method: "GET", Pattern: "/api/users", Action: ActionManageUsers},
		{Method: "POST", Pattern: "/api/users", Action: ActionManageUsers, Body: `{}`, OK: http.StatusBadRequest},
		{Method: "PATCH", Pattern: "/api/users/{name}", Action: ActionManageUsers, Body: `{"video":true}`, OK: http.StatusNotFound},
		{Method: "DELETE", Pattern: "/api/users/{name}", Action: ActionManageUsers, OK: http.StatusNotFound},
		{Method: "GET", Pattern: "/api/tokens", Action: ActionSelf},
		{Method: "POST", Pattern: "/api/tokens", Action: ActionSelf, Body: `{}`, OK: http.StatusBadRequest},
		{Method: "DELETE", Pattern: "/api/tokens/{id}", Action: ActionSelf, OK: http.StatusNotFound},
	}
}

// loginResponse is the body of a successful login and of /api/me.
type loginResponse struct {
	User        string   `json:"user"`
	Kind        Kind     `json:"kind"`
	Role        Role     `json:"role"`
	Sites       []string `json:"sites"`
	Video       bool     `json:"video"`
	Permissions []Action `json:"permissions"`
	// CSRFToken goes in the X-CSRF-Token header of every state-changing request made with the session cookie.
	CSRFToken string     `json:"csrf_token,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func permissions(p Principal) []Action {
	out := []Action{}
	for _, act := range Actions {
		if p.Can(act) {
			out = append(out, act)
		}
	}
	return out
}

func (a *Auth) login(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest(w, r, maxLoginBody, parseLogin, "invalid request body")
	if !ok {
		return
	}
	ip := a.ClientIP(r)
	userKey, ipKey := "u:"+req.Username, "ip:"+ip
	wait, err := a.admitLogin(r.Context(), userKey, ipKey)
	if err != nil {
		return // the client left while its attempt waited for those in flight
	}
	now := a.now()
	rec := audit.Record{Time: now, Actor: req.Username, IP: ip, Action: audit.LoginFailure}
	if wait > 0 {
		a.logins.WithLabelValues("throttled").Inc()
		rec.Detail = "throttled"
		a.record(r.Context(), rec)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "too many failed logins; try again later",
			map[string]int{"retry_after_seconds": int(math.Ceil(wait.Seconds()))})
		return
	}
	u, why, err := a.verify(r.Context(), req)
	now = a.now()
	lockU := a.byUser.release(userKey, err == nil && why != "", now)
	lockIP := a.byIP.release(ipKey, err == nil && why != "", now)
	if err != nil {
		a.logins.WithLabelValues("error").Inc()
		a.log.Error("login failed on an internal error", "user", req.Username, "err", err)
		writeError(w, http.StatusInternalServerError, "login failed", nil)
		return
	}
	if why != "" {
		a.logins.WithLabelValues("failure").Inc()
		if lockU > 0 || lockIP > 0 {
			a.log.Warn("failed logins: backing off", "user", req.Username, "ip", ip, "lockout", max(lockU, lockIP))
		}
		rec.Detail = why
		a.record(r.Context(), rec)
		writeError(w, http.StatusUnauthorized, "invalid username or password", nil)
		return
	}
	a.byUser.reset(userKey)
	resp, err := a.startSession(w, r, u, now)
	if err != nil {
		a.logins.WithLabelValues("error").Inc()
		a.log.Error("starting a session failed", "user", u.Username, "err", err)
		writeError(w, http.StatusInternalServerError, "login failed", nil)
		return
	}
	a.logins.WithLabelValues("success").Inc()
	rec.Action, rec.Role, rec.Success = audit.LoginSuccess, string(u.Role), true
	a.record(r.Context(), rec)
	writeJSON(w, http.StatusOK, resp)
}

// admitLogin reserves a login attempt against both the user name's and the client address's limits before any
// password is hashed, waiting while the attempts in flight use them up, so a parallel burst is checked no more
// often than the same attempts made in turn. It returns the lockout when either key is locked (then nothing is
// reserved); otherwise the caller must release both keys once the attempt is decided. It never waits while
// holding a reservation.
func (a *Auth) admitLogin(ctx context.Context, userKey, ipKey string) (time.Duration, error) {
	for {
		now := a.now()
		lock, busy := a.byUser.reserve(userKey, now)
		if lock > 0 {
			return lock, nil
		}
		if busy == nil {
			lock, busy = a.byIP.reserve(ipKey, now)
			if lock > 0 || busy != nil {
				a.byUser.release(userKey, false, now)
			}
			if lock > 0 {
				return lock, nil
			}
			if busy == nil {
				return 0, nil
			}
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return 0, fmt.Errorf("auth: waiting for a login slot: %w", ctx.Err())
		}
	}
}

// verify checks the credentials. why is the failure reason for the audit trail ("" on success); the client
// only ever learns "invalid username or password", after the same argon2 work whether the user exists or not.
func (a *Auth) verify(ctx context.Context, req loginRequest) (u User, why string, err error) {
	select {
	case a.hashSem <- struct{}{}:
		defer func() { <-a.hashSem }()
	case <-ctx.Done():
		return u, "", ctx.Err()
	}
	if a.checkHook != nil {
		a.checkHook()
	}
	u, hash, err := a.st.getUser(ctx, req.Username)
	if errors.Is(err, ErrNotFound) {
		_, _ = checkPassword(req.Password, a.dummy)
		return u, "unknown user", nil
	}
	if err != nil {
		return u, "", fmt.Errorf("look up user: %w", err)
	}
	ok, err := checkPassword(req.Password, hash)
	if err != nil {
		a.log.Error("stored password hash is unusable", "user", u.Username, "err", err)
		return u, "unusable password hash", nil
	}
	switch {
	case !ok:
		return u, "wrong password", nil
	case u.Disabled:
		return u, "account disabled", nil
	}
	return u, "", nil
}

func (a *Auth) startSession(w http.ResponseWriter, r *http.Request, u User, now time.Time) (loginResponse, error) {
	if err := a.st.pruneSessions(r.Context(), now, a.cfg.SessionIdle, a.cfg.SessionMax); err != nil {
		a.log.Warn("pruning expired sessions failed", "err", err)
	}
	id, err := randomToken(32)
	if err != nil {
		return loginResponse{}, err
	}
	csrf, err := randomToken(32)
	if err != nil {
		return loginResponse{}, err
	}
	h := sha256.Sum256([]byte(id))
	if err := a.st.insertSession(r.Context(), h[:], u.Username, csrf, now); err != nil {
		return loginResponse{}, fmt.Errorf("store session: %w", err)
	}
	exp := now.Add(a.cfg.SessionMax)
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: id, Path: "/", Expires: exp, MaxAge: int(a.cfg.SessionMax.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: a.cfg.SecureCookies || r.TLS != nil,
	})
	p := Principal{Kind: KindUser, ID: u.Username, Name: u.Username, Role: u.Role, Sites: u.Sites, Video: u.Video}
	return loginResponse{User: u.Username, Kind: KindUser, Role: u.Role, Sites: u.Sites, Video: u.Video,
		Permissions: permissions(p), CSRFToken: csrf, ExpiresAt: &exp}, nil
}

func (a *Auth) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: a.cfg.SecureCookies || r.TLS != nil})
}

func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	if p.Kind == KindUser {
		if c, err := r.Cookie(SessionCookie); err == nil {
			h := sha256.Sum256([]byte(c.Value))
			if err := a.st.deleteSession(r.Context(), h[:]); err != nil {
				a.log.Error("ending a session failed", "user", p.Name, "err", err)
				writeError(w, http.StatusInternalServerError, "logout failed", nil)
				return
			}
		}
		a.clearCookie(w, r)
		a.Audit(r, audit.Record{Action: audit.Logout, Success: true})
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

func (a *Auth) me(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	resp := loginResponse{User: p.Name, Kind: p.Kind, Role: p.Role, Sites: p.Sites, Video: p.Video,
		Permissions: permissions(p)}
	if p.Kind == KindUser {
		if c, err := r.Cookie(SessionCookie); err == nil {
			h := sha256.Sum256([]byte(c.Value))
			if s, err := a.st.session(r.Context(), h[:]); err == nil {
				resp.CSRFToken = s.csrf
				exp := s.created.Add(a.cfg.SessionMax)
				resp.ExpiresAt = &exp
			}
		}
	}
	if resp.Sites == nil {
		resp.Sites = []string{}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *Auth) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := a.st.listUsers(r.Context())
	if err != nil {
		a.internal(w, "listing users", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
}

func (a *Auth) createUser(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest(w, r, maxBody, parseUserCreate, "invalid user")
	if !ok {
		return
	}
	hash, err := a.hash(r.Context(), req.Password)
	if err != nil {
		a.internal(w, "hashing a password", err)
		return
	}
	now := a.now()
	u := User{Username: req.Username, Role: req.Role, Sites: req.Sites, Video: req.Video, Disabled: req.Disabled,
		CreatedAt: now, UpdatedAt: now}
	if err := a.st.insertUser(r.Context(), u, hash); err != nil {
		if errors.Is(err, ErrExists) {
			writeError(w, http.StatusConflict, "user exists", req.Username)
			return
		}
		a.internal(w, "creating a user", err)
		return
	}
	a.Audit(r, audit.Record{Action: audit.UserCreate, Target: u.Username, Success: true,
		Detail: fmt.Sprintf("role=%s sites=%v video=%t disabled=%t", u.Role, u.Sites, u.Video, u.Disabled)})
	writeJSON(w, http.StatusCreated, u)
}

func (a *Auth) updateUser(w http.ResponseWriter, r *http.Request) {
	name := normalizeUsername(r.PathValue("name"))
	req, ok := readRequest(w, r, maxBody, parseUserUpdate, "invalid user change")
	if !ok {
		return
	}
	patch := userPatch{role: req.Role, sites: req.Sites, video: req.Video, disabled: req.Disabled}
	var changed []string
	if req.Password != nil {
		hash, err := a.hash(r.Context(), *req.Password)
		if err != nil {
			a.internal(w, "hashing a password", err)
			return
		}
		patch.hash = &hash
		changed = append(changed, "password")
	}
	var scopeErr error
	u, err := a.st.updateUser(r.Context(), name, patch, a.now(), func(u User) error {
		scopeErr = checkScope(u)
		return scopeErr
	})
	if userNotChanged(w, name, err) {
		return
	}
	switch {
	case err != nil && errors.Is(err, scopeErr):
		writeError(w, http.StatusBadRequest, "invalid user change", err.Error())
		return
	case err != nil:
		a.internal(w, "updating a user", err)
		return
	}
	if req.Role != nil {
		changed = append(changed, "role="+string(u.Role))
	}
	if req.Sites != nil {
		changed = append(changed, fmt.Sprintf("sites=%v", u.Sites))
	}
	if req.Video != nil {
		changed = append(changed, fmt.Sprintf("video=%t", u.Video))
	}
	if req.Disabled != nil {
		changed = append(changed, fmt.Sprintf("disabled=%t", u.Disabled))
	}
	if req.Password != nil && name == "admin" && a.cfg.DataDir != "" {
		// The generated password is no longer valid: do not leave a stale credential file around.
		if err := os.Remove(a.initialAdminPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log.Warn("removing the initial admin credentials file failed", "err", err)
		}
	}
	a.Audit(r, audit.Record{Action: audit.UserUpdate, Target: name, Success: true, Detail: fmt.Sprint(changed)})
	writeJSON(w, http.StatusOK, u)
}

// userNotChanged answers the refusals a change of user name can meet (no such user: 404; it would remove
// the last admin: 409) and reports whether it answered.
func userNotChanged(w http.ResponseWriter, name string, err error) bool {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "user not found", name)
	case errors.Is(err, ErrLastAdmin):
		writeError(w, http.StatusConflict, ErrLastAdmin.Error(), name)
	default:
		return false
	}
	return true
}

func (a *Auth) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := normalizeUsername(r.PathValue("name"))
	err := a.st.deleteUser(r.Context(), name, a.now())
	if userNotChanged(w, name, err) {
		return
	}
	if err != nil {
		a.internal(w, "deleting a user", err)
		return
	}
	a.Audit(r, audit.Record{Action: audit.UserDelete, Target: name, Success: true})
	w.WriteHeader(http.StatusNoContent)
}

// tokenOwner is the user whose tokens a non-admin principal manages ("" when none: a standalone token).
func tokenOwner(p Principal) string {
	if p.Kind == KindUser {
		return p.ID
	}
	return p.Owner
}

func (a *Auth) listTokens(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	var toks []Token
	var err error
	switch owner := tokenOwner(p); {
	case p.Can(ActionManageUsers):
		toks, err = a.st.listTokens(r.Context(), "")
	case owner != "":
		toks, err = a.st.listTokens(r.Context(), owner)
	default:
		toks = []Token{}
	}
	if err != nil {
		a.internal(w, "listing tokens", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": toks})
}

// tokenCreated is the body of POST /api/tokens: the only time the secret is shown.
type tokenCreated struct {
	Token
	Secret string `json:"token"`
}

func (a *Auth) createToken(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	req, ok := readRequest(w, r, maxBody, parseTokenCreate, "invalid token request")
	if !ok {
		return
	}
	admin := p.Can(ActionManageUsers)
	now := a.now()
	t := Token{Name: req.Name, CreatedBy: p.Actor(), CreatedAt: now}
	switch {
	case req.Role != "" && !admin:
		writeError(w, http.StatusForbidden, "forbidden", "only admins create tokens with their own role and sites")
		return
	case req.Role != "":
		t.Role, t.Sites, t.Video = req.Role, req.Sites, req.Video
	case tokenOwner(p) == "":
		writeError(w, http.StatusBadRequest, "invalid token request", "role: required when the caller is a standalone token")
		return
	default:
		t.Owner, t.Role, t.Sites, t.Video = tokenOwner(p), p.Role, p.Sites, p.Video
	}
	switch req.ExpiresIn {
	case "never":
		if !admin {
			writeError(w, http.StatusForbidden, "forbidden", "only admins create tokens that never expire")
			return
		}
	case "":
		exp := now.Add(a.cfg.TokenTTL)
		t.ExpiresAt = &exp
	default:
		d, _ := time.ParseDuration(req.ExpiresIn) // validated by parseTokenCreate
		exp := now.Add(d)
		t.ExpiresAt = &exp
	}
	secretPart, err := randomToken(32)
	if err != nil {
		a.internal(w, "creating a token", err)
		return
	}
	idPart, err := randomToken(9)
	if err != nil {
		a.internal(w, "creating a token", err)
		return
	}
	t.ID = "tok_" + idPart
	secret := "cw_" + secretPart
	h := sha256.Sum256([]byte(secret))
	if err := a.st.insertToken(r.Context(), t, h[:]); err != nil {
		a.internal(w, "creating a token", err)
		return
	}
	a.Audit(r, audit.Record{Action: audit.TokenCreate, Target: t.ID, Success: true,
		Detail: fmt.Sprintf("name=%q owner=%q role=%s sites=%v", t.Name, t.Owner, t.Role, t.Sites)})
	writeJSON(w, http.StatusCreated, tokenCreated{Token: t, Secret: secret})
}

func (a *Auth) revokeToken(w http.ResponseWriter, r *http.Request) {
	p, _ := FromContext(r.Context())
	id := r.PathValue("id")
	t, err := a.st.tokenByID(r.Context(), id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		a.internal(w, "revoking a token", err)
		return
	}
	// Someone else's token answers like a missing one: ids of other users' tokens are not confirmed.
	if errors.Is(err, ErrNotFound) || t.RevokedAt != nil ||
		(!p.Can(ActionManageUsers) && (t.Owner == "" || t.Owner != tokenOwner(p))) {
		writeError(w, http.StatusNotFound, "token not found", id)
		return
	}
	if err := a.st.revokeToken(r.Context(), id, a.now()); err != nil {
		if errors.Is(err, ErrNotFound) {
			writeError(w, http.StatusNotFound, "token not found", id)
			return
		}
		a.internal(w, "revoking a token", err)
		return
	}
	a.Audit(r, audit.Record{Action: audit.TokenRevoke, Target: id, Success: true, Detail: fmt.Sprintf("name=%q", t.Name)})
	w.WriteHeader(http.StatusNoContent)
}

// hash hashes a new password under the concurrency bound.
func (a *Auth) hash(ctx context.Context, pw string) (string, error) {
	select {
	case a.hashSem <- struct{}{}:
		defer func() { <-a.hashSem }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return hashPassword(pw, a.cfg.Argon2)
}

func (a *Auth) internal(w http.ResponseWriter, what string, err error) {
	a.log.Error(what+" failed", "err", err)
	writeError(w, http.StatusInternalServerError, what+" failed", nil)
}

func (a *Auth) record(ctx context.Context, rec audit.Record) {
	if a.deps.Audit != nil {
		_ = a.deps.Audit.Record(context.WithoutCancel(ctx), rec) // the log counts and logs a failure
	}
}
