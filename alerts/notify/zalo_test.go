package notify

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

const testZaloToken = "zalo-oa-ACCESS-token_7f3c9a1e5b"

// zaloReceiver is a zalo receiver posting to h instead of openapi.zalo.me.
// newZaloAPI is a local Zalo OA API that accepts every message.
func newZaloAPI(t *testing.T) *hook {
	h := newHook(t)
	h.set(200, map[string]string{"Content-Type": "application/json"}, `{"error":0,"message":"Success"}`)
	return h
}

func zaloReceiver(h *hook) Receiver {
	return Receiver{Name: "zalo", Format: FormatZalo, URL: h.srv.URL + "/v3.0/oa/message/cs", AllowPrivate: true,
		ZaloUserID: "2512523625412515", ZaloAccessToken: testZaloToken}
}

// TestZaloDelivery sends a Vietnamese fever alert through the outbox to a local Zalo API: the request is the
// OA API's text message with the token in the access_token header, and the diacritics arrive intact.
func TestZaloDelivery(t *testing.T) {
	h := newZaloAPI(t)
	c := testChange("SốtCao")
	c.Annotations = map[string]string{"summary": "Sốt 38,9 °C — Phòng 203"}
	req := deliverFirst(t, h, zaloReceiver(h), c)
	require.Equal(t, testZaloToken, req.header.Get("access_token"))
	require.Equal(t, "application/json", req.header.Get("Content-Type"))
	var body struct {
		Recipient struct {
			UserID string `json:"user_id"`
		} `json:"recipient"`
		Message struct {
			Text string `json:"text"`
		} `json:"message"`
	}
	dec := json.NewDecoder(bytes.NewReader(req.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&body), "%s", req.body)
	require.Equal(t, "2512523625412515", body.Recipient.UserID)
	require.True(t, strings.HasPrefix(body.Message.Text, "[FIRING] SốtCao @ siteA\n"), body.Message.Text)
	require.Contains(t, body.Message.Text, "Summary: Sốt 38,9 °C — Phòng 203")
	require.Contains(t, string(req.body), "Sốt 38,9 °C — Phòng 203", "diacritics must be sent as UTF-8, not escaped")
	require.NotContains(t, string(req.body), testZaloToken)
}

// zaloAnswers are Zalo API answers and what the outbox makes of them.
var zaloAnswers = []struct {
	name   string
	status int
	body   string
	want   string // delivery status
}{
	{"ok", 200, `{"error":0,"message":"Success"}`, StatusDelivered},
	{"invalid token is not retried", 200, `{"error":-216,"message":"Access token is invalid"}`, StatusDead},
	{"user not following is not retried", 200, `{"error":-213,"message":"User has not followed OA"}`, StatusDead},
	{"rate limit is retried", 200, `{"error":-32,"message":"Request exceeded limit"}`, StatusPending},
	{"not the API's answer is retried", 200, `<html>gateway</html>`, StatusPending},
	{"5xx is retried", 502, `bad gateway`, StatusPending},
	{"4xx is not retried", 400, `{"error":-201,"message":"bad"}`, StatusDead},
}

func TestZaloAnswers(t *testing.T) {
	for _, tc := range zaloAnswers {
		t.Run(tc.name, func(t *testing.T) {
			db, _ := openTestDB(t)
			h := newHook(t)
			h.set(tc.status, nil, tc.body)
			o := startOutbox(t, db, Config{Receivers: []Receiver{zaloReceiver(h)}, MinBackoff: time.Hour, MaxBackoff: time.Hour}, nil, nil)
			enqueue(t, db, o, testChange("Fever"))
			require.Eventually(t, func() bool {
				d := deliveries(t, o, DeliveryFilter{})
				return len(d) == 1 && d[0].Attempts == 1 && d[0].Status != StatusDelivering
			}, waitFor, tick)
			d := deliveries(t, o, DeliveryFilter{})[0]
			require.Equal(t, tc.want, d.Status, d.LastError)
		})
	}
}

// TestZaloTokenNeverLeaks: a Zalo API (or a proxy in front of it) that echoes the access token in its error
// message must not put the token in the delivery log or the logs.
func TestZaloTokenNeverLeaks(t *testing.T) {
	db, _ := openTestDB(t)
	h := newHook(t)
	h.set(200, nil, `{"error":-216,"message":"Access token `+testZaloToken+` is invalid"}`)
	var logs syncBuffer
	cfg := testConfig(Config{Receivers: []Receiver{zaloReceiver(h)}})
	o, err := NewOutbox(cfg, Deps{DB: db, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	require.NoError(t, o.Start())
	t.Cleanup(o.Close)
	enqueue(t, db, o, testChange("Fever"))
	require.Eventually(t, func() bool { return countStatus(t, o, "zalo", StatusDead) == 1 }, waitFor, tick)
	o.Close()
	d := deliveries(t, o, DeliveryFilter{})[0]
	require.Contains(t, d.LastError, "zalo error -216")
	require.NotContains(t, d.LastError, testZaloToken)
	require.NotContains(t, d.LastError, testZaloToken[:8])
	require.Contains(t, logs.String(), "zalo error -216")
	require.NotContains(t, logs.String(), testZaloToken[:8])
	js, err := json.Marshal(d)
	require.NoError(t, err)
	require.NotContains(t, string(js), testZaloToken[:8])
	require.NotContains(t, zaloReceiver(h).String(), testZaloToken[:8])
	require.True(t, utf8.ValidString(d.LastError))
}

// syncBuffer is a bytes.Buffer that the outbox's goroutines may log to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FuzzZaloAnswer: whatever the Zalo API (or something in front of it) answers, reading it does not panic, a
// delivery is accepted only for error 0, and the access token never reaches the error.
func FuzzZaloAnswer(f *testing.F) {
	for _, tc := range zaloAnswers {
		f.Add([]byte(tc.body))
	}
	f.Add([]byte(`{"error":-216,"message":"` + testZaloToken + `"}`))
	f.Add([]byte(`{"error":null}`))
	f.Add([]byte(`{"error":1e400}`))
	s := &httpSender{secrets: []string{testZaloToken}}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := zaloAccept(s, body)
		if err == nil {
			var r struct{ Error int }
			if json.Unmarshal(body, &r) != nil || r.Error != 0 {
				t.Fatalf("accepted %q", body)
			}
			return
		}
		if strings.Contains(err.Error(), testZaloToken) {
			t.Fatalf("token in error %q", err)
		}
	})
}
