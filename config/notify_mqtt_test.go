package config

import "testing"

// mqttReceiverCases are notify sections with a receiver of format mqtt and the exact error parse gives ("" =
// valid). Format mqtt publishes on the embedded broker: it has no URL, and it would duplicate
// notify.mqtt.enabled, which publishes every alert on the same topics.
var mqttReceiverCases = []parseCase{
	{"valid with notify.mqtt disabled", `notify:
  receivers:
    - name: siren
      format: mqtt
  routes:
    - receiver: siren
      match: {severity: critical}
  default_receiver: siren
  mqtt: {enabled: false}`, ""},
	{"duplicates notify.mqtt.enabled", `notify:
  receivers:
    - name: siren
      format: mqtt`, `c.yaml:4: notify.receivers[0].format: mqtt would publish alerts that notify.mqtt.enabled (default true) already publishes on the same topics; set notify.mqtt.enabled: false to publish only what the routes send to this receiver`},
	{"webhook keys", `notify:
  receivers:
    - name: siren
      format: mqtt
      url: https://hooks.example/x
      secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]
      headers: {X-Key: abc}
  mqtt: {enabled: false}`, "c.yaml:5: notify.receivers[0].url: is not used with format mqtt, which publishes on the embedded broker; remove it\n" +
		"c.yaml:6: notify.receivers[0].secrets: are not used with format mqtt (MQTT messages are not signed); remove them\n" +
		"c.yaml:7: notify.receivers[0].headers: are not used with format mqtt; remove them"},
	{"broker disabled", `broker: {enabled: false}
ingest:
  sources:
    - name: central
      url: tcp://mqtt.example:1883
      topics: ["city/#"]
notify:
  receivers:
    - name: siren
      format: mqtt
  mqtt: {enabled: false}`, `c.yaml:10: notify.receivers[0].format: mqtt publishes on the embedded broker, which is disabled (broker.enabled)`},
}

func TestMQTTReceiver(t *testing.T) {
	runParseCases(t, mqttReceiverCases, func(t *testing.T, cfg *Config) {
		if r := cfg.Notify.Receivers[0]; r.Format != NotifyFormatMQTT || r.URL != "" {
			t.Errorf("receiver = %+v", r)
		}
	})
}
