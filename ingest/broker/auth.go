package broker

import (
	"crypto/sha256"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
)

// OutputTopicPrefix is the prefix of the topics citywatch itself publishes on (alerts, state). Network clients
// may not publish there and messages there are never ingested.
const OutputTopicPrefix = "citywatch/"

// reservedForPublish reports whether network clients may never publish on topic: the broker's own output
// topics and "$"-topics such as $SYS.
func reservedForPublish(topic string) bool {
	return strings.HasPrefix(topic, "$") || strings.HasPrefix(topic, OutputTopicPrefix)
}

// account is a configured user with its ACL filters, "{username}" already substituted.
type account struct {
	name      string
	hash      []byte
	publish   []string
	subscribe []string
}

// authHook authenticates CONNECTs and checks topic ACLs.
type authHook struct {
	mqtt.HookBase
	accounts       map[string]*account
	allowAnonymous bool
	dummyHash      []byte // compared for unknown users so that they take as long as known ones
	cache          *credCache
	limiter        *loginLimiter
	bcryptSem      chan struct{} // bounds concurrent bcrypt verifications
	clients        *mqtt.Clients // the server's clients, for client ID ownership
	m              *metrics
	logs           *limitedLogger
}

func (h *authHook) ID() string { return "citywatch-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnectAuthenticate checks the CONNECT credentials, then that the client ID is not a session of another
// user: mochi would otherwise let any authenticated user take over (disconnect) another user's device session.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if cl.Net.Inline {
		return true
	}
	if !h.authenticate(cl, pk) {
		return false
	}
	if existing, ok := h.clients.Get(cl.ID); ok && string(existing.Properties.Username) != string(pk.Connect.Username) {
		h.refuse(authClientIDTaken, remoteIP(cl.Net.Remote), string(pk.Connect.Username),
			"client id belongs to a session of another user", "client", cl.ID)
		return false
	}
	return true
}

// authenticate checks the CONNECT credentials. Successful bcrypt verifications are cached; a client IP with too
// many recent failures is refused without running bcrypt unless its credentials are cached, so a device
// sharing an address (NAT) with a misbehaving one keeps connecting.
func (h *authHook) authenticate(cl *mqtt.Client, pk packets.Packet) bool {
	username, password := string(pk.Connect.Username), pk.Connect.Password
	ip := remoteIP(cl.Net.Remote)
	if username == "" {
		if h.allowAnonymous && len(password) == 0 {
			return true
		}
		h.refuse(authAnonymousRefused, ip, "", "anonymous connection refused")
		return false
	}
	acc, known := h.accounts[username]
	if known && h.cache.has(acc.hash, password) {
		return true
	}
	// Reserving the attempt before bcrypt bounds concurrent checks per address, not only sequential ones.
	if !h.limiter.take(ip) {
		h.refuse(authRateLimited, ip, loggedUser(acc), "too many failed logins from this address; refused without checking")
		return false
	}
	hash := h.dummyHash
	if known {
		hash = acc.hash
	}
	h.bcryptSem <- struct{}{} // bcrypt is CPU-bound: don't let a login storm starve ingest
	err := bcrypt.CompareHashAndPassword(hash, password)
	<-h.bcryptSem
	if err == nil && known {
		h.limiter.refund(ip)
		h.cache.add(acc.hash, password)
		return true
	}
	h.refuse(authBadCredentials, ip, loggedUser(acc), "bad username or password")
	return false
}

// loggedUser names a known account for logs. Unknown usernames are not logged: people type passwords there.
func loggedUser(acc *account) string {
	if acc == nil {
		return "(unknown)"
	}
	return acc.name
}

func (h *authHook) refuse(reason, ip, user, msg string, args ...any) {
	h.m.authFailures.WithLabelValues(reason).Inc()
	h.logs.log(slog.LevelWarn, "auth/"+reason, "mqtt connection refused: "+msg,
		append([]any{"reason", reason, "remote_ip", ip, "username", user}, args...)...)
}

// OnACLCheck allows a publish (write) when the topic matches one of the user's publish filters and is not
// reserved, and a subscription or delivery (read) when one of the user's subscribe filters covers it.
// Anonymous clients (only connected when AllowAnonymous) may subscribe to anything and publish anywhere but
// the reserved topics.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	ok := h.allowed(string(cl.Properties.Username), topic, write)
	if !ok {
		action := actionSubscribe
		if write {
			action = actionPublish
		}
		h.m.denied.WithLabelValues(action).Inc()
		h.logs.log(slog.LevelWarn, "denied/"+action, "mqtt "+action+" denied by ACL",
			"client", cl.ID, "username", string(cl.Properties.Username), "topic", topic)
	}
	return ok
}

func (h *authHook) allowed(username, topic string, write bool) bool {
	if write && reservedForPublish(topic) {
		return false
	}
	if username == "" {
		return h.allowAnonymous
	}
	acc := h.accounts[username]
	if acc == nil {
		return false
	}
	if write {
		for _, f := range acc.publish {
			if Match(f, topic) {
				return true
			}
		}
		return false
	}
	for _, f := range acc.subscribe {
		if Covers(f, topic) {
			return true
		}
	}
	return false
}

func remoteIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

// credCache remembers successful (hash, password) verifications so that reconnect storms don't run bcrypt
// (~50 ms of CPU at cost 10) per connection. Entries are keyed by SHA-256(hash, 0, password): the cache holds
// no password, and a changed hash (new password) no longer matches. It is bounded; the oldest entry goes first.
type credCache struct {
	mu    sync.Mutex
	max   int
	keys  map[[sha256.Size]byte]struct{}
	order [][sha256.Size]byte // FIFO of keys for eviction
}

func newCredCache(max int) *credCache {
	return &credCache{max: max, keys: make(map[[sha256.Size]byte]struct{}, max)}
}

func credKey(hash, password []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(hash)
	h.Write([]byte{0})
	h.Write(password)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (c *credCache) has(hash, password []byte) bool {
	k := credKey(hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.keys[k]
	return ok
}

func (c *credCache) add(hash, password []byte) {
	k := credKey(hash, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.keys[k]; ok {
		return
	}
	if len(c.order) >= c.max {
		delete(c.keys, c.order[0])
		c.order = c.order[1:]
	}
	c.keys[k] = struct{}{}
	c.order = append(c.order, k)
}

// loginLimiter is a token bucket of password checks per client IP: each check takes a token and a successful
// one gives it back, so burst failures are allowed, then one more per refill interval. It is bounded: when full, fully refilled entries are dropped, then arbitrary ones.
type loginLimiter struct {
	burst  float64
	refill time.Duration // time to regain one failure
	max    int
	now    func() time.Time

	mu  sync.Mutex
	ips map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLoginLimiter(burst int, refill time.Duration, max int, now func() time.Time) *loginLimiter {
	return &loginLimiter{burst: float64(burst), refill: refill, max: max, now: now, ips: map[string]*bucket{}}
}

// tokens returns the refilled token count of ip at now; the caller holds mu.
func (l *loginLimiter) tokens(b *bucket, now time.Time) float64 {
	t := b.tokens + float64(now.Sub(b.at))/float64(l.refill)
	if t > l.burst {
		t = l.burst
	}
	return t
}

// take reserves one attempt for ip; it reports false when ip has no attempts left.
func (l *loginLimiter) take(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.ips[ip]
	if !ok {
		l.makeRoom(now)
		b = &bucket{tokens: l.burst, at: now}
		l.ips[ip] = b
	}
	t := l.tokens(b, now)
	if t < 1 {
		return false
	}
	b.tokens, b.at = t-1, now
	return true
}

// refund returns the attempt reserved by take after a successful login.
func (l *loginLimiter) refund(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.ips[ip]; ok {
		now := l.now()
		b.tokens, b.at = min(l.tokens(b, now)+1, l.burst), now
	}
}

func (l *loginLimiter) makeRoom(now time.Time) {
	if len(l.ips) < l.max {
		return
	}
	for ip, b := range l.ips {
		if l.tokens(b, now) >= l.burst {
			delete(l.ips, ip)
		}
	}
	for ip := range l.ips {
		if len(l.ips) < l.max {
			return
		}
		delete(l.ips, ip)
	}
}
