package notify

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var blockedCases = []struct {
	ip      string
	blocked bool
}{
	{"127.0.0.1", true}, {"127.255.0.9", true}, {"::1", true},
	{"10.1.2.3", true}, {"172.16.0.1", true}, {"172.31.255.255", true}, {"192.168.1.1", true},
	{"169.254.169.254", true}, {"169.254.0.1", true}, {"fe80::1", true},
	{"fc00::1", true}, {"fd12:3456::1", true},
	{"0.0.0.0", true}, {"::", true}, {"0.1.2.3", true},
	{"224.0.0.1", true}, {"239.255.255.250", true}, {"ff02::1", true},
	{"100.64.0.1", true}, {"100.127.255.254", true},
	{"::ffff:127.0.0.1", true}, {"::ffff:169.254.169.254", true}, {"::ffff:10.0.0.1", true},
	{"64:ff9b::7f00:1", true}, {"2002:7f00:1::", true}, {"::127.0.0.1", true},
	{"255.255.255.255", true}, {"198.18.0.1", true},
	{"8.8.8.8", false}, {"1.1.1.1", false}, {"172.32.0.1", false}, {"100.128.0.1", false},
	{"2606:4700:4700::1111", false}, {"::ffff:8.8.8.8", false}, {"64:ff9b::808:808", false},
}

func TestBlockedRanges(t *testing.T) {
	for _, tc := range blockedCases {
		t.Run(tc.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(tc.ip)
			require.Equal(t, tc.blocked, blockedReason(ip) != "", "reason %q", blockedReason(ip))
			err := guard{}.control("tcp", netip.AddrPortFrom(ip, 443).String(), nil)
			require.Equal(t, tc.blocked, err != nil)
			require.NoError(t, guard{allowPrivate: true}.control("tcp", netip.AddrPortFrom(ip, 443).String(), nil))
		})
	}
}

func TestSSRFClient(t *testing.T) {
	var internalHits int
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { internalHits++ }))
	defer internal.Close()
	var redirectTo string
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if redirectTo != "" {
			http.Redirect(w, r, redirectTo, http.StatusTemporaryRedirect)
		}
	}))
	defer public.Close()
	pubAddr := strings.TrimPrefix(public.URL, "http://")
	// The "public" server lives on loopback, so it is exempted by address: everything else is checked.
	client := newHTTPClient(guard{exempt: map[string]bool{pubAddr: true}}, 1)
	post := func(target string) error {
		resp, err := client.Post(target, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	internalURL, _ := url.Parse(internal.URL)
	for _, tc := range []struct {
		name, target, redirect string
		blocked                bool
	}{
		{"public ok", public.URL, "", false},
		{"loopback literal", internal.URL, "", true},
		{"name resolving to loopback", "http://localhost:" + internalURL.Port(), "", true},
		{"redirect to loopback", public.URL, internal.URL, true},
		{"redirect to metadata", public.URL, "http://169.254.169.254/latest/meta-data/", true},
		{"redirect to private", public.URL, "http://10.0.0.1/", true},
		{"redirect to mapped v6", public.URL, "http://[::ffff:127.0.0.1]:" + internalURL.Port() + "/", true},
		{"redirect to bad scheme", public.URL, "file:///etc/passwd", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			redirectTo = tc.redirect
			err := post(tc.target)
			if tc.blocked {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
		})
	}
	require.Zero(t, internalHits)

	// AllowPrivate permits internal targets.
	allowed := newHTTPClient(guard{allowPrivate: true}, 1)
	resp, err := allowed.Post("http://localhost:"+internalURL.Port(), "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 1, internalHits)

	// Redirect loops stop.
	redirectTo = public.URL
	require.ErrorContains(t, post(public.URL), "stopped after 3 redirects")
}
