package safehttp

import (
	"net/url"
	"strings"
	"testing"
)

var originCases = []struct {
	a, b string
	same bool
}{
	{"https://hooks.example/a", "https://hooks.example/b?x=1", true},
	{"https://hooks.example/a", "https://HOOKS.example:443/b", true},
	{"http://hooks.example/a", "http://hooks.example:80/b", true},
	{"https://hooks.example./a", "https://hooks.example/b", true},
	{"https://u:p@hooks.example/a", "https://hooks.example/b", true},
	{"https://hooks.example/a", "http://hooks.example/a", false},
	{"https://hooks.example/a", "https://hooks.example:8443/a", false},
	{"https://hooks.example/a", "https://evil.hooks.example/a", false},
	{"https://hooks.example/a", "https://hooks.example.evil/a", false},
	{"http://127.0.0.1:8080/", "http://localhost:8080/", false},
	{"http://[::1]:8080/", "http://[::1]:8080/x", true},
	{"http://[::1]:8080/", "http://[::2]:8080/", false},
}

// TestSameOrigin: scheme, host and port decide; path, query and user info do not.
func TestSameOrigin(t *testing.T) {
	for _, c := range originCases {
		a, b := mustParse(t, c.a), mustParse(t, c.b)
		if got := SameOrigin(a, b); got != c.same {
			t.Errorf("SameOrigin(%s, %s) = %v, want %v", c.a, c.b, got, c.same)
		}
		if SameOrigin(b, a) != SameOrigin(a, b) {
			t.Errorf("SameOrigin(%s, %s) is not symmetric", c.a, c.b)
		}
	}
}

// FuzzSameOrigin: any Location a server sends parses to an origin without panicking, the relation is
// symmetric, and the origin never carries user info.
func FuzzSameOrigin(f *testing.F) {
	for _, c := range originCases {
		f.Add(c.a, c.b)
	}
	f.Fuzz(func(t *testing.T, sa, sb string) {
		a, err1 := url.Parse(sa)
		b, err2 := url.Parse(sb)
		if err1 != nil || err2 != nil {
			return
		}
		if SameOrigin(a, b) != SameOrigin(b, a) {
			t.Errorf("not symmetric: %q %q", sa, sb)
		}
		if o := Origin(a); a.User != nil && strings.Contains(o, "@") {
			t.Errorf("origin %q of %q carries user info", o, sa)
		}
	})
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
