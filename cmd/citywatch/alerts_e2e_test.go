package main_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhookSecret is a Standard Webhooks secret: "whsec_" and the base64 of the HMAC key.
var webhookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("e2e-signing-key-0123456789"))

// hook is a webhook receiver that verifies every signature with its own HMAC code (not citywatch's) and keeps
// the payloads it accepted.
type hook struct {
	t        *testing.T
	mu       sync.Mutex
	payloads []map[string]any
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(400)
		return
	}
	id, ts, sigs := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(webhookSecret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	valid := false
	for _, s := range strings.Fields(sigs) {
		valid = valid || hmac.Equal([]byte(s), []byte(want))
	}
	if id == "" || ts == "" || !valid {
		h.t.Errorf("webhook with a bad signature: id %q ts %q sig %q", id, ts, sigs)
		w.WriteHeader(401)
		return
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		h.t.Errorf("webhook body is not JSON: %v: %s", err, body)
		w.WriteHeader(400)
		return
	}
	h.mu.Lock()
	h.payloads = append(h.payloads, p)
	h.mu.Unlock()
	w.WriteHeader(204)
}

// count returns how many accepted payloads match state and reminder.
func (h *hook) count(state string, reminder bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.payloads {
		if p["state"] == state && p["reminder"] == reminder {
			n++
		}
	}
	return n
}

func (h *hook) last() map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.payloads) == 0 {
		return nil
	}
	return h.payloads[len(h.payloads)-1]
}

// TestFeverAlertWebhook drives alerting end to end: a fever reading published over MQTT fires the rule, a
// receiver gets the signed webhook with the expected payload, reminders repeat until the alert is acknowledged
// through the API, and a normal reading resolves it with a recovery notice that carries the outage length.
func TestFeverAlertWebhook(t *testing.T) {
	e2e(t)
	h := &hook{t: t}
	srv := httptest.NewServer(h)
	defer srv.Close()

	cw := newServe(t, withRules(feverRules(`        for: 1s
        annotations:
          summary: "Fever at {{ $labels.site }}: {{ $labels.device }} reads {{ $value }}"
`)), withAlerts("group_wait: 1s", "group_interval: 1s", "repeat_interval: 3s"), withYAML(fmt.Sprintf(`notify:
  receivers:
    - name: health-post
      url: %s/hook
      format: citywatch
      secrets: [%q]
      allow_private: true
`, srv.URL, webhookSecret)))
	base := cw.base()
	p := cw.start(t)
	c := mqttClient(t, cw.broker(), "e2e-wearable")

	// The wearable reports a fever every 200 ms until the test says otherwise.
	temp := make(chan string, 1)
	temp <- "39.2"
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		cur := <-temp
		for {
			select {
			case v := <-temp:
				cur = v
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			tok := c.Publish("city/central/q-hotel-1/wearable-001", 1, false, `{"body_temperature":`+cur+`}`)
			tok.WaitTimeout(5 * time.Second)
		}
	}()
	defer func() { close(stop); <-done }()

	eventually(t, 30*time.Second, func() string {
		if h.count("firing", false) == 0 {
			return "no firing notification yet"
		}
		return ""
	})
	first := h.last()
	if first["alert"] != "Fever" || first["site"] != "q-hotel-1" || !strings.Contains(fmt.Sprint(first["summary"]), "wearable-001 reads 39.2") {
		t.Fatalf("unexpected firing payload: %v", first)
	}
	if h.count("firing", false) != 1 {
		t.Fatalf("%d firing notifications, want exactly 1", h.count("firing", false))
	}
	// Unacknowledged, it is repeated every repeat_interval.
	eventually(t, 30*time.Second, func() string {
		if h.count("firing", true) == 0 {
			return "no reminder yet"
		}
		return ""
	})

	// Acknowledge through the API: reminders stop, the alert keeps firing.
	var list struct {
		Alerts []struct {
			ID    int64  `json:"id"`
			State string `json:"state"`
			Rule  string `json:"rule"`
		} `json:"alerts"`
	}
	if code, err := getJSON(base, "/api/alerts?state=firing", &list); err != nil || code != 200 || len(list.Alerts) != 1 {
		t.Fatalf("firing alerts: %d %v %+v", code, err, list)
	}
	var acked struct {
		AckedAt time.Time `json:"acked_at"`
	}
	if code := send(t, "POST", fmt.Sprintf("%s/api/alerts/%d/ack", base, list.Alerts[0].ID), `{"comment":"nurse on the way"}`, &acked); code != 200 || acked.AckedAt.IsZero() {
		t.Fatalf("ack: %d, answer %+v", code, acked)
	}
	reminders := h.count("firing", true)
	// Three repeat intervals of the server's evaluations with no new reminder: poll the rule's last evaluation
	// (server time) rather than sleeping. (A reminder already being sent when the ack landed may still arrive:
	// allow one.)
	const repeatInterval = 3 * time.Second
	eventually(t, 60*time.Second, func() string {
		var rules struct {
			Rules []struct {
				Rule struct {
					Alert string
				} `json:"rule"`
				LastEval time.Time `json:"last_eval"`
			} `json:"rules"`
		}
		if code, err := getJSON(base, "/api/rules", &rules); err != nil || code != 200 {
			return fmt.Sprintf("rules: %d %v", code, err)
		}
		for _, r := range rules.Rules {
			if r.Rule.Alert != "Fever" {
				continue
			}
			if r.LastEval.Before(acked.AckedAt.Add(3 * repeatInterval)) {
				return fmt.Sprintf("Fever last evaluated %s, not yet three repeat intervals after the ack at %s", r.LastEval, acked.AckedAt)
			}
			return ""
		}
		return fmt.Sprintf("no Fever rule in %+v", rules)
	})
	if got := h.count("firing", true); got > reminders+1 {
		t.Fatalf("reminders went on after the ack: %d before, %d after", reminders, got)
	}

	// Back to normal: the recovery notice says how long the fever lasted.
	temp <- "36.8"
	eventually(t, 30*time.Second, func() string {
		if h.count("resolved", false) == 0 {
			return "no recovery notice yet"
		}
		return ""
	})
	resolved := h.last()
	if out, ok := resolved["outage_seconds"].(float64); !ok || out <= 0 {
		t.Fatalf("recovery notice without an outage length: %v", resolved)
	}
	if resolved["acked_by"] == "" {
		t.Errorf("recovery notice does not say who acknowledged: %v", resolved)
	}
	p.stop()
}
