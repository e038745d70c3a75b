package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"citywatch/internal/testenv"
)

// mqttMessage is one line of mosquitto_sub -F "%r %t %p": the retain flag, the topic and the payload.
type mqttMessage struct {
	retained bool
	topic    string
	payload  string
}

// subscribe runs a real mosquitto_sub on the embedded broker at addr and returns a function that reads the
// messages it has printed so far.
func subscribe(t *testing.T, addr, filter, id string) func() []mqttMessage {
	t.Helper()
	bin := testenv.LookPath(t, "mosquitto_sub")
	host, port, _ := strings.Cut(addr, ":")
	p := testenv.StartProcess(t, bin, nil, "-h", host, "-p", port, "-i", id, "-q", "1", "-t", filter, "-F", "%r %t %p")
	return func() []mqttMessage {
		var out []mqttMessage
		for _, line := range strings.Split(p.Out.String(), "\n") {
			f := strings.SplitN(line, " ", 3)
			if len(f) < 2 || (f[0] != "0" && f[0] != "1") {
				continue
			}
			m := mqttMessage{retained: f[0] == "1", topic: f[1]}
			if len(f) == 3 {
				m.payload = f[2]
			}
			out = append(out, m)
		}
		return out
	}
}

// TestAlertsPublishedOnMQTT: with the default notify.mqtt.enabled, every alert change is published on the
// embedded broker, where a real mosquitto_sub receives it: two Fever alerts of one site get their own retained
// topics citywatch/alerts/<site>/<alert>/<fingerprint> carrying the citywatch JSON, and the resolve of one
// clears its topic only, so a subscriber that connects later sees exactly the alert still firing. The
// Alertmanager-format webhook sent alongside carries groupLabels and groupKey of the configured group_by.
func TestAlertsPublishedOnMQTT(t *testing.T) {
	e2e(t)
	am := &amHook{}
	srv := httptest.NewServer(am)
	defer srv.Close()
	cw := newServe(t, withRules(feverRules(`        annotations:
          summary: "{{ $labels.device }} reads {{ $value }}"
`)), withAlerts("group_wait: 0s", "group_interval: 1s", "group_by: [site, device]"), withYAML(fmt.Sprintf(`notify:
  receivers:
    - name: am
      url: %s/hook
      format: alertmanager
      allow_private: true
`, srv.URL)))
	mqttAddr := cw.mqttAddr
	p := cw.start(t)
	live := subscribe(t, mqttAddr, "citywatch/alerts/#", "e2e-siren")
	c := mqttClient(t, cw.broker(), "e2e-wearables")

	// Two wearables of one site report a fever until told otherwise.
	temps := map[string]string{"wearable-001": "39.2", "wearable-002": "39.5"}
	pub := func() {
		for dev, v := range temps {
			publish(t, c, "city/central/q-hotel-1/"+dev, 1, `{"body_temperature":`+v+`}`)
		}
	}
	firing := map[string]map[string]any{} // device → payload
	eventually(t, 30*time.Second, func() string {
		pub()
		for _, m := range live() {
			if m.payload == "" {
				continue
			}
			var p map[string]any
			if err := json.Unmarshal([]byte(m.payload), &p); err != nil {
				t.Fatalf("payload on %s is not JSON: %v: %q", m.topic, err, m.payload)
			}
			labels, _ := p["labels"].(map[string]any)
			dev, _ := labels["device"].(string)
			want := fmt.Sprintf("citywatch/alerts/q-hotel-1/Fever/%v", p["fingerprint"])
			if m.topic != want {
				t.Fatalf("message on %q, want %q: %s", m.topic, want, m.payload)
			}
			if p["alert"] != "Fever" || p["state"] != "firing" || p["site"] != "q-hotel-1" ||
				!strings.HasPrefix(fmt.Sprint(p["summary"]), dev+" reads 39") || p["version"] != "1" {
				t.Fatalf("unexpected payload on %s: %s", m.topic, m.payload)
			}
			firing[dev] = p
		}
		if len(firing) < 2 {
			return fmt.Sprintf("firing alerts published for %d of 2 devices: %+v", len(firing), live())
		}
		return ""
	})

	// The Alertmanager webhook's group fields follow group_by, in Alertmanager's groupKey form.
	eventually(t, 30*time.Second, func() string {
		for _, b := range am.all() {
			if b.GroupKey == `{}:{device="wearable-001", site="q-hotel-1"}` &&
				fmt.Sprint(b.GroupLabels) == "map[device:wearable-001 site:q-hotel-1]" {
				return ""
			}
		}
		return fmt.Sprintf("no alertmanager webhook grouped by site and device: %+v", am.all())
	})

	// wearable-001 recovers: its topic gets the empty retained message; wearable-002's stays.
	temps["wearable-001"] = "36.8"
	cleared := fmt.Sprintf("citywatch/alerts/q-hotel-1/Fever/%v", firing["wearable-001"]["fingerprint"])
	still := fmt.Sprintf("citywatch/alerts/q-hotel-1/Fever/%v", firing["wearable-002"]["fingerprint"])
	eventually(t, 30*time.Second, func() string {
		pub()
		for _, m := range live() {
			if m.topic == cleared && m.payload == "" {
				return ""
			}
		}
		return fmt.Sprintf("no resolve on %s: %+v", cleared, live())
	})

	// A subscriber connecting now gets the retained state: exactly the alert still firing.
	late := subscribe(t, mqttAddr, "citywatch/alerts/#", "e2e-late")
	eventually(t, 10*time.Second, func() string {
		msgs := late()
		if len(msgs) != 1 || msgs[0].topic != still || !msgs[0].retained || !strings.Contains(msgs[0].payload, `"state":"firing"`) {
			return fmt.Sprintf("late subscriber got %+v, want one retained firing message on %s", msgs, still)
		}
		return ""
	})
	p.stop()
}

// amHook keeps the group fields of the Alertmanager webhooks it receives.
type amHook struct {
	mu     sync.Mutex
	bodies []amBody
}

type amBody struct {
	GroupKey    string            `json:"groupKey"`
	GroupLabels map[string]string `json:"groupLabels"`
}

func (h *amHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b amBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.mu.Unlock()
}

func (h *amHook) all() []amBody {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]amBody(nil), h.bodies...)
}
