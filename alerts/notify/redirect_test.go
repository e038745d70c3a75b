package notify

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// secretHeaders are what a receiver's configuration and signing add to a request; none may reach a host
// other than the receiver's own.
var secretHeaders = []string{"X-Api-Key", "Authorization", HeaderWebhookSignature}

// TestRedirectToOtherHostGetsNoSecrets reproduces a receiver answering 307 to another host: citywatch sent
// the receiver's configured headers (X-Api-Key) and its signature there. Cross-origin redirects are not
// followed: the other host gets nothing, and the delivery is dead with a reason that says why.
func TestRedirectToOtherHostGetsNoSecrets(t *testing.T) {
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			db, _ := openTestDB(t)
			other := newHook(t)
			// Another host: another name and another port than the receiver's.
			otherURL := strings.Replace(other.srv.URL, "127.0.0.1", "localhost", 1) + "/collect?k=v"
			h := newHook(t)
			h.set(code, map[string]string{"Location": otherURL}, "")
			rcv := h.receiver("ops")
			rcv.Headers = map[string]string{"X-Api-Key": "APIKEYSECRET", "Authorization": "Bearer HEADERSECRET"}
			rcv.Secrets = []string{"0123456789abcdef0123"}
			o := startOutbox(t, db, Config{Receivers: []Receiver{rcv}}, nil, nil)
			enqueue(t, db, o, testChange("Bounce"))
			require.Eventually(t, func() bool {
				return countStatus(t, o, "ops", StatusDead)+countStatus(t, o, "ops", StatusDelivered) == 1
			}, waitFor, tick)

			other.mu.Lock()
			for _, r := range other.reqs {
				for _, k := range secretHeaders {
					require.Empty(t, r.header.Get(k), "%s reached the other host", k)
				}
			}
			require.Zero(t, other.hits, "the other host was sent the notification")
			other.mu.Unlock()
			d := deliveries(t, o, DeliveryFilter{})[0]
			require.Equal(t, StatusDead, d.Status)
			require.Contains(t, d.LastError, "redirect")
			require.NotContains(t, d.LastError, "APIKEYSECRET")
		})
	}
}

// TestRedirectSameOriginFollowed: a receiver moving its path on the same host (307/308) still gets the
// notification with its headers and signature, since they go where the operator configured them to.
func TestRedirectSameOriginFollowed(t *testing.T) {
	db, _ := openTestDB(t)
	h := newHook(t)
	h.srv.Config.Handler = redirectOnce(h.srv.Config.Handler, "/old", "/new")
	rcv := h.receiver("ops")
	rcv.URL = h.srv.URL + "/old"
	rcv.Headers = map[string]string{"X-Api-Key": "APIKEYSECRET"}
	rcv.Secrets = []string{"0123456789abcdef0123"}
	o := startOutbox(t, db, Config{Receivers: []Receiver{rcv}}, nil, nil)
	enqueue(t, db, o, testChange("Moved"))
	require.Eventually(t, func() bool { return countStatus(t, o, "ops", StatusDelivered) == 1 }, waitFor, tick)
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Equal(t, "APIKEYSECRET", h.reqs[len(h.reqs)-1].header.Get("X-Api-Key"))
	require.NotEmpty(t, h.reqs[len(h.reqs)-1].header.Get(HeaderWebhookSignature))
	require.NotEmpty(t, h.reqs[len(h.reqs)-1].body)
}

// redirectOnce answers 308 from one path to another and hands every other request to next.
func redirectOnce(next http.Handler, from, to string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == from {
			http.Redirect(w, r, to, http.StatusPermanentRedirect)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestRedirectChangingMethodIsDead: a 302 on the receiver's own host would make the client resend the POST as
// a GET without the body, and the receiver's 200 to that GET would mark a notification delivered that never
// arrived. It is a dead delivery instead.
func TestRedirectChangingMethodIsDead(t *testing.T) {
	db, _ := openTestDB(t)
	h := newHook(t)
	next := h.srv.Config.Handler
	h.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusFound)
			return
		}
		next.ServeHTTP(w, r)
	})
	rcv := h.receiver("ops")
	rcv.URL = h.srv.URL + "/old"
	o := startOutbox(t, db, Config{Receivers: []Receiver{rcv}}, nil, nil)
	enqueue(t, db, o, testChange("Found"))
	require.Eventually(t, func() bool {
		return countStatus(t, o, "ops", StatusDead)+countStatus(t, o, "ops", StatusDelivered) == 1
	}, waitFor, tick)
	d := deliveries(t, o, DeliveryFilter{})[0]
	require.Equal(t, StatusDead, d.Status, "the POST became a GET without its body: %s", d.LastError)
	require.Contains(t, d.LastError, "302")
	require.Zero(t, h.Hits())
}
