package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// limiterCases: failures at the given offsets from t0 and the lockout each returns (free=2, base=1s, max=8s,
// forget=1m).
var limiterCases = []struct {
	name  string
	at    []time.Duration
	locks []time.Duration
}{
	{"free attempts", []time.Duration{0, 0}, []time.Duration{0, 0}},
	{"doubling", []time.Duration{0, 0, 0, 1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 23 * time.Second},
		[]time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second}},
	{"forgotten", []time.Duration{0, 0, 0, 2 * time.Minute}, []time.Duration{0, 0, time.Second, 0}},
}

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range limiterCases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(2, time.Second, 8*time.Second, time.Minute, 10)
			for i, at := range tc.at {
				assert.Equal(t, tc.locks[i], l.fail("k", t0.Add(at)), "failure %d", i+1)
				assert.Equal(t, tc.locks[i], l.wait("k", t0.Add(at)))
			}
			l.reset("k")
			assert.Zero(t, l.wait("k", t0))
		})
	}
}

func TestLimiterBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(1, time.Second, time.Minute, time.Hour, 3)
	for i, k := range []string{"a", "b", "c", "d", "e"} {
		l.fail(k, t0.Add(time.Duration(i)*time.Millisecond))
	}
	assert.Len(t, l.keys, 3)
	assert.Contains(t, l.keys, "e")
	assert.NotContains(t, l.keys, "a", "the stalest key goes first")
}

func TestPasswordHash(t *testing.T) {
	p := Argon2Params{Memory: 64, Time: 1, Threads: 1}
	h, err := hashPassword("correct horse", p)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$"))
	ok, err := checkPassword("correct horse", h)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = checkPassword("correct horsf", h)
	require.NoError(t, err)
	assert.False(t, ok)
	h2, _ := hashPassword("correct horse", p)
	assert.NotEqual(t, h, h2, "salted")
	for _, bad := range []string{"", "$2a$10$abc", "$argon2id$v=19$m=64,t=1,p=1$$",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=99,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"} {
		_, err := checkPassword("x", bad)
		assert.ErrorIs(t, err, errBadHash, bad)
	}
}

// loginBodies, userBodies, patchBodies and tokenBodies are decoder cases; they also seed the fuzz targets.
var (
	loginBodies = []struct {
		body string
		err  string
	}{
		{`{"username":" Admin ","password":"pw"}`, ""},
		{`{"username":"admin"}`, "password: required"},
		{`{"password":"pw"}`, "username: required"},
		{`{"username":"a","password":"b","x":1}`, `json: unknown field "x"`},
		{`{"username":"a","password":"b"}{}`, "trailing data after the JSON value"},
		{`[]`, `field "": want auth.loginRequest, got JSON array`},
		{``, "empty body"},
		{`{"username":"a","password":`, "truncated JSON"},
		{`{"username":"a","password":"` + strings.Repeat("p", 1025) + `"}`, "password: too long"},
	}
	userBodies = []struct {
		body string
		err  string
	}{
		{`{"username":"nurse","password":"long-enough-pw","role":"health_staff","sites":["a"]}`, ""},
		{`{"username":"nurse","password":"long-enough-pw","role":"health_staff"}`, `sites: role health_staff needs at least one site (or ["*"] for a viewer of every site)`},
		{`{"username":"nurse","password":"long-enough-pw","role":"viewer","sites":[""]}`, "sites[0]: 1 to 128 printable characters"},
		{`{"username":"wall","password":"long-enough-pw","role":"viewer","sites":["*"]}`, ""},
		{`{"username":"nurse","password":"long-enough-pw","role":"health_staff","sites":["*"]}`, `sites: "*" (every site) must stand alone, and health staff always have named sites`},
		{`{"username":"wall","password":"long-enough-pw","role":"viewer","sites":["a","*"]}`, `sites: "*" (every site) must stand alone, and health staff always have named sites`},
		{`{"username":"","password":"long-enough-pw","role":"viewer","sites":["a"]}`, "username: 1 to 64 characters"},
		{`{"username":"-x","password":"long-enough-pw","role":"viewer","sites":["a"]}`, "username: letters, digits and . _ @ - only, starting with a letter or digit"},
	}
	patchBodies = []struct {
		body string
		err  string
	}{
		{`{"video":true}`, ""},
		{`{"sites":null,"role":null}`, "nothing to change"},
		{`{"role":"god"}`, `role: must be one of [admin operator health_staff viewer], got "god"`},
		{`{"password":"short"}`, "password: at least 12 characters"},
		{`{"disabled":"yes"}`, `field "disabled": want bool, got JSON string`},
	}
	tokenBodies = []struct {
		body string
		err  string
	}{
		{`{"name":"ci"}`, ""},
		{`{"name":"ci","role":"viewer","sites":["a"],"video":true,"expires_in":"720h"}`, ""},
		{`{"name":"ci","sites":["a"]}`, "sites and video need a role"},
		{`{"name":""}`, "name: required"},
		{`{"name":"ci","expires_in":"forever"}`, `expires_in: want a positive duration up to 87600h0m0s or "never", got "forever"`},
	}
)

func TestDecoders(t *testing.T) {
	check := func(body, want string, err error) {
		t.Helper()
		if want == "" {
			assert.NoError(t, err, body)
		} else {
			assert.EqualError(t, err, want, body)
		}
	}
	for _, tc := range loginBodies {
		req, err := parseLogin([]byte(tc.body))
		check(tc.body, tc.err, err)
		if err == nil {
			assert.Equal(t, "admin", req.Username, "names are trimmed and lower-cased")
		}
	}
	for _, tc := range userBodies {
		_, err := parseUserCreate([]byte(tc.body))
		check(tc.body, tc.err, err)
	}
	for _, tc := range patchBodies {
		_, err := parseUserUpdate([]byte(tc.body))
		check(tc.body, tc.err, err)
	}
	for _, tc := range tokenBodies {
		_, err := parseTokenCreate([]byte(tc.body))
		check(tc.body, tc.err, err)
	}
}

// fuzzNoSecret checks a decoder never panics and never echoes a password value in an error.
func fuzzNoSecret(t *testing.T, data []byte, err error) {
	if err != nil && strings.Contains(err.Error(), "s3cret-value") {
		t.Errorf("error %q echoes the input", err)
	}
}

func FuzzParseLogin(f *testing.F) {
	for _, tc := range loginBodies {
		f.Add([]byte(tc.body))
	}
	f.Add([]byte(`{"username":"a","password":s3cret-value}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseLogin(data)
		fuzzNoSecret(t, data, err)
		if err == nil && (req.Username == "" || req.Password == "" || len(req.Password) > maxPassword) {
			t.Errorf("accepted an invalid login %q", data)
		}
	})
}

func FuzzParseUser(f *testing.F) {
	for _, tc := range userBodies {
		f.Add([]byte(tc.body))
	}
	for _, tc := range patchBodies {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := parseUserCreate(data)
		fuzzNoSecret(t, data, err)
		if err == nil {
			if validUsername(u.Username) != nil || validPassword(u.Password) != nil || validScope(u.Role, u.Sites) != nil {
				t.Errorf("accepted an invalid user %q", data)
			}
		}
		p, err := parseUserUpdate(data)
		fuzzNoSecret(t, data, err)
		if err == nil && p.Role != nil && !p.Role.Valid() {
			t.Errorf("accepted an invalid role %q", data)
		}
	})
}

func FuzzParseTokenCreate(f *testing.F) {
	for _, tc := range tokenBodies {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseTokenCreate(data)
		fuzzNoSecret(t, data, err)
		if err == nil && (req.Name == "" || len(req.Name) > maxNameLen) {
			t.Errorf("accepted an invalid token request %q", data)
		}
	})
}

// reserveSteps drive one key of a limiter (free=2, base=1s): "r" reserves (want "ok", "busy" or "locked"),
// "f" and "s" release one reserved attempt as failed or succeeded.
var reserveSteps = []struct{ op, want string }{
	{"r", "ok"}, {"r", "ok"}, {"r", "busy"}, // the free attempts are all in flight
	{"s", ""}, {"r", "ok"}, // a success frees its place
	{"f", ""}, {"f", ""}, // two failures: the free attempts are used up
	{"r", "ok"}, {"r", "busy"}, // past them, one at a time
	{"f", ""}, {"r", "locked"}, // the third failure locks
}

func TestLimiterReserve(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(2, time.Second, 8*time.Second, time.Minute, 10)
	for i, st := range reserveSteps {
		switch st.op {
		case "r":
			lock, busy := l.reserve("k", t0)
			got := "ok"
			if lock > 0 {
				got = "locked"
			} else if busy != nil {
				got = "busy"
			}
			require.Equal(t, st.want, got, "step %d", i)
		case "f", "s":
			l.release("k", st.op == "f", t0)
		}
	}
	_, busy := l.reserve("k", t0.Add(2*time.Minute))
	assert.Nil(t, busy, "failures are forgotten")
}
