package app

import (
	"crypto/tls"
	"reflect"
	"testing"
	"time"

	"citywatch/alerts"
	"citywatch/alerts/canary"
	"citywatch/alerts/notify"
	"citywatch/cameras"
	"citywatch/cameras/analyze"
	"citywatch/cameras/media"
	"citywatch/config"
	"citywatch/dashboards"
	"citywatch/dashboards/auth"
	"citywatch/dashboards/promapi"
	"citywatch/dashboards/siteplan"
	"citywatch/ingest"
	"citywatch/ingest/broker"
	"citywatch/ingest/mapping"
	"citywatch/retention"
	"citywatch/store/influx"
	"citywatch/store/remotequery"
	"citywatch/store/remotewrite"
	"citywatch/store/tsdb"
	"citywatch/ward"
)

// internalFields are the component configuration fields that deliberately have no YAML key, with the reason.
// A field missing here and reached by no key fails TestEveryComponentFieldHasAYAMLKey: that is how
// cameras' TLSFingerprint, KeyframeTimeout, MinFPSRatio and MaxLossRatio and influx's RetryInitial, RetryMax,
// Tags and DeadLetterMaxBytes went unreachable before issue 13.
var internalFields = map[string]string{
	"analyze.CameraConfig.Feed":               "decoder feed mode: chosen automatically from the measured GOP; a test knob",
	"analyze.CameraConfig.MotionThreshold":    "detector tuning, calibrated on the test clips; not a user setting yet",
	"analyze.CameraConfig.MotionOffThreshold": "detector tuning",
	"analyze.CameraConfig.MotionOnFrames":     "detector tuning",
	"analyze.CameraConfig.MotionOffFrames":    "detector tuning",
	"analyze.CameraConfig.MotionPixelNoise":   "detector tuning",
	"analyze.CameraConfig.BlackLuma":          "detector tuning",
	"analyze.CameraConfig.CoveredVariance":    "detector tuning",
	"analyze.CameraConfig.TamperAfter":        "detector tuning",
	"analyze.CameraConfig.FrozenAfter":        "detector tuning",
	"analyze.CameraConfig.FrozenDiff":         "detector tuning",
	"analyze.CameraConfig.MovedThreshold":     "detector tuning",
	"analyze.CameraConfig.MovedAfter":         "detector tuning",
	"analyze.CameraConfig.LearnFrames":        "detector tuning",
	"analyze.CameraConfig.ReferenceRate":      "detector tuning",

	"siteplan.Config.MaxImageSide":   "bound on a plan image's side; a safety limit, not a setting",
	"siteplan.Config.MaxImagePixels": "bound on a plan image's pixels; a safety limit",

	"media.Config.FFmpegPath":       "found on PATH; tests point it at a fake",
	"media.Config.Cameras":          "set by the caller: configured cameras (media.CameraFromConfig) and the demo's",
	"media.Config.PreSeconds":       "per camera (cameras[].clip_pre)",
	"media.Config.PostSeconds":      "per camera (cameras[].clip_post)",
	"media.Config.MaxClipSeconds":   "bound on one clip's length; a safety limit, not a setting",
	"media.Config.JanitorInterval":  "housekeeping period; a test knob",
	"media.Config.ClipIdleTimeout":  "housekeeping; a test knob",
	"media.Config.SnapshotTimeout":  "bounded by the HTTP request; a test knob",
	"media.Config.LiveQueueFrames":  "live-view backpressure bound; a safety limit",
	"media.Config.LiveWriteTimeout": "live-view slow-client bound; a safety limit",
	"media.Config.ClipQueueFrames":  "clip writer backpressure bound; a safety limit",

	"ingest.ExternalConfig.Workers":        "derived from max_inflight",
	"ingest.ExternalConfig.ConnectTimeout": "network timeout; a test knob",
	"ingest.ExternalConfig.KeepAlive":      "MQTT keep-alive; a test knob",
	"ingest.ExternalConfig.StoreRetryMin":  "store retry backoff while the store fails; a test knob",
	"ingest.ExternalConfig.StoreRetryMax":  "store retry backoff; a test knob",
	"ingest.ExternalConfig.StoreRetryFor":  "store retry budget; a test knob",
	"ingest.ExternalConfig.DrainTimeout":   "shutdown bound; a test knob",

	"ingest.PipelineConfig.DeadLetterPayloadBytes": "bound of a dead-letter entry; a safety limit",
	"ingest.PipelineConfig.MaxMetricsPerDevice":    "registry bound; a safety limit (issue 12 may expose it)",
	"ingest.PipelineConfig.DeviceExportInterval":   "device_last_seen_seconds period; a test knob",
	"ingest.PipelineConfig.RejectLogInterval":      "log rate limit; a test knob",
	"ingest.PipelineConfig.BatchMaxMessages":       "group-commit bound; a safety limit (docs/operations.md, ingest batching)",
	"ingest.PipelineConfig.BatchMaxSamples":        "group-commit bound; a safety limit",
	"ingest.PipelineConfig.QueueSize":              "back-pressure bound before sources wait; a safety limit",

	"broker.Config.MaxClients": "connection bound; a safety limit",

	"promapi.Options.WriteTimeout":  "slow-client bound of an answer; a safety limit",
	"promapi.Options.LookbackDelta": "Prometheus' 5m, which Grafana assumes",
	"promapi.Options.ClientKey":     "runtime: who a request is (app.queryClient)",
	"promapi.Options.Logger":        "runtime",
	"promapi.Options.Registerer":    "runtime",
	"promapi.Options.Rules":         "runtime: the alert manager",
	"promapi.Options.Status":        "runtime: what the status endpoints report",

	"remotewrite.Config.TLSServerName": "tests dial 127.0.0.1 with a certificate for another name; tls.server_name is not a key yet",
	"remotequery.Config.MaxBodyBytes":  "bound of an engine answer; a safety limit",

	"auth.Config.LoginFreeAttempts":      "login throttling; a security default, not a setting",
	"auth.Config.LoginFreeAttemptsPerIP": "login throttling",
	"auth.Config.LoginBackoff":           "login throttling",
	"auth.Config.LoginBackoffMax":        "login throttling",
	"auth.Config.LoginForget":            "login throttling",
	"auth.Config.PublicPaths":            "the routes without auth are part of the HTTP contract, not configuration",
	"auth.Config.LoginPath":              "the login page's route",
	"auth.Config.Argon2":                 "password hashing cost; tests lower it",

	"notify.Config.PollInterval":     "how often the outbox looks for due rows; a test knob",
	"notify.Config.MinBackoff":       "retry backoff; a test knob",
	"notify.Config.MaxBackoff":       "retry backoff; a test knob",
	"notify.Config.MaxRetryAfter":    "bound of a receiver's Retry-After; a safety limit",
	"notify.Config.RetryFor":         "retry budget; a test knob",
	"notify.Config.BreakerThreshold": "circuit breaker tuning; a test knob",
	"notify.Config.BreakerCooldown":  "circuit breaker tuning; a test knob",
	"notify.Config.Retention":        "delivery log retention; a test knob",
	"notify.Config.MQTTTopicPrefix":  "the MQTT alert topic is part of the MQTT contract",
	"notify.Config.PublishMQTT":      "runtime: notify.mqtt.enabled, and only with the embedded broker (app.buildAlerting)",

	"canary.Config.RepeatInterval": "how often a failing canary re-alarms the fallback; a test knob",
	"canary.Config.PollInterval":   "how often the canary looks for its alert; a test knob",

	"alerts.Config.Rules":            "runtime: loaded from alerts.rule_files by app.loadRules, again on reload",
	"alerts.Config.DBPath":           "runtime: app passes the metadata database (Deps.DB)",
	"alerts.Config.LookbackDelta":    "Prometheus' 5m, as the query API's",
	"alerts.Config.QueryTimeout":     "bound of one rule evaluation; a safety limit",
	"alerts.Config.EventQueueSize":   "bound of the queue of events not yet evaluated; a safety limit",
	"alerts.Config.MaxEventKeys":     "bound of the keys an event rule tracks; a safety limit",
	"alerts.Config.SilenceRetention": "how long expired silences are kept; a test knob",

	"dashboards.Config.ShutdownTimeout": "shutdown bound; a test knob",
	"dashboards.Config.AnonymousRead":   "runtime: only the demo, and only on loopback",
	"dashboards.Config.Plans":           "runtime: the site plans page (app.planPage)",

	"ingest.DeviceStoreConfig.BatchRows": "bound of the rows one save writes per transaction; a safety limit",

	"cameras.Config.MetricsInterval": "camera metrics period; a test knob",
	"cameras.Config.CheckInterval":   "health check period; a test knob",
	"cameras.Config.EventBuffer":     "bound of the event queue; a safety limit",

	"analyze.Config.FFmpegPath":          "found on PATH; tests point it at a fake",
	"analyze.Config.QueueFrames":         "decoder back-pressure bound; a safety limit",
	"analyze.Config.RestartMin":          "decoder restart backoff; a test knob",
	"analyze.Config.RestartMax":          "decoder restart backoff; a test knob",
	"analyze.Config.DecoderStallTimeout": "decoder hang bound; a test knob",
	"analyze.Config.EventBuffer":         "bound of the event queue; a safety limit",
	"analyze.Config.SampleBuffer":        "bound of the sample queue; a safety limit",
}

// coverageCases convert a configuration whose every YAML key is set (fillConfig) into each component's
// configuration.
var coverageCases = []struct {
	name    string
	convert func(t *testing.T, c *config.Config) any
}{
	{"cameras.CameraConfig", func(_ *testing.T, c *config.Config) any { return cameras.CameraFromConfig(c.Cameras[0]) }},
	{"analyze.CameraConfig", func(t *testing.T, c *config.Config) any {
		out, err := analyze.CameraFromConfig(c.Cameras[0])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}},
	{"media.CameraConfig", func(t *testing.T, c *config.Config) any {
		cc, err := media.CameraFromConfig(c.Cameras[0])
		if err != nil {
			t.Fatal(err)
		}
		return cc
	}},
	{"media.Config", func(_ *testing.T, c *config.Config) any { return media.ConfigFromConfig(c.DataDir, c.Media) }},
	{"ingest.ExternalConfig", func(_ *testing.T, c *config.Config) any {
		return ingest.ExternalFromConfig(c.Ingest.Sources[0], &tls.Config{MinVersion: tls.VersionTLS12})
	}},
	{"ingest.PipelineConfig", func(_ *testing.T, c *config.Config) any { return ingest.PipelineFromConfig(c) }},
	{"mapping.Rule", func(_ *testing.T, c *config.Config) any { return mapping.Rule(c.Ingest.Rules[0]) }},
	{"mapping.Options", func(_ *testing.T, c *config.Config) any { return mapping.OptionsFromConfig(c.Ingest) }},
	{"broker.Config", func(t *testing.T, c *config.Config) any {
		out, err := broker.ConfigFromConfig(c.Broker, &tls.Config{MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}},
	{"influx.Config", func(_ *testing.T, c *config.Config) any { return influx.ConfigFromConfig(c.Storage.Influx, c.Edge) }},
	{"tsdb.Config", func(_ *testing.T, c *config.Config) any { return tsdb.ConfigFromConfig(c) }},
	{"dashboards.Limits", func(_ *testing.T, c *config.Config) any { return dashboards.LimitsFromConfig(c.HTTP.Limits) }},
	{"promapi.Options", func(_ *testing.T, c *config.Config) any { return promapi.OptionsFromConfig(c.HTTP.Query) }},
	{"remotewrite.Config", func(_ *testing.T, c *config.Config) any {
		return remotewrite.ConfigFromConfig(c.Storage.RemoteWrite[0], c.Edge)
	}},
	{"remotequery.Config", func(_ *testing.T, c *config.Config) any {
		return remotequery.ConfigFromConfig(c.Storage.Query, &tls.Config{MinVersion: tls.VersionTLS12})
	}},
	{"auth.Config", func(t *testing.T, c *config.Config) any {
		out, err := auth.ConfigFromConfig(c.Auth, c.DataDir, false)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}},
	{"canary.Config", func(_ *testing.T, c *config.Config) any { return canary.ConfigFromConfig(c.Alerts.Canary) }},
	{"alerts.Grouping", func(_ *testing.T, c *config.Config) any { return alerts.GroupingFromConfig(c.Alerts) }},
	{"notify.Config", func(_ *testing.T, c *config.Config) any { return notify.ConfigFromConfig(c) }},
	{"alerts.FlapPolicy", func(_ *testing.T, c *config.Config) any { return alerts.FlapFromConfig(c.Alerts) }},
	{"siteplan.Config", func(_ *testing.T, c *config.Config) any { return siteplan.ConfigFromConfig(c) }},
	{"notify.Receiver", func(_ *testing.T, c *config.Config) any { return notify.ReceiverFromConfig(c.Notify.Receivers[0]) }},
	{"alerts.Config", func(_ *testing.T, c *config.Config) any { return alerts.ConfigFromConfig(c.Alerts) }},
	{"retention.Config", func(_ *testing.T, c *config.Config) any { return retention.ConfigFromConfig(c.Privacy) }},
	{"dashboards.Config", func(_ *testing.T, c *config.Config) any { return dashboards.ConfigFromConfig(c.HTTP) }},
	{"ingest.DeviceStoreConfig", func(_ *testing.T, c *config.Config) any { return ingest.DeviceStoreFromConfig(c.Ingest) }},
	// As New and Reload build them: the configured cameras, and the component's own settings at their defaults.
	{"cameras.Config", func(_ *testing.T, c *config.Config) any {
		return cameras.Config{Cameras: []cameras.CameraConfig{cameras.CameraFromConfig(c.Cameras[0])}}
	}},
	{"analyze.Config", func(t *testing.T, c *config.Config) any {
		cc, err := analyze.CameraFromConfig(c.Cameras[0])
		if err != nil {
			t.Fatal(err)
		}
		return analyze.Config{Cameras: []analyze.CameraConfig{cc}}
	}},
	{"ward.Config", func(t *testing.T, c *config.Config) any {
		out, err := ward.ConfigFromConfig(c.Ward, c.Privacy)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}},
}

// TestEveryComponentFieldHasAYAMLKey fails when a component configuration field is reached by no YAML key
// and is not listed in internalFields: set every key, convert, and look for zero fields.
func TestEveryComponentFieldHasAYAMLKey(t *testing.T) {
	cfg := filledConfig()
	zero := map[string]bool{}
	for _, tc := range coverageCases {
		t.Run(tc.name, func(t *testing.T) {
			out := reflect.ValueOf(tc.convert(t, cfg))
			for _, f := range zeroFields(out, tc.name) {
				zero[f] = true
				if _, ok := internalFields[f]; !ok {
					t.Errorf("%s has no YAML key (set it in its FromConfig, or list it in internalFields with a reason)", f)
				}
			}
		})
	}
	for f := range internalFields {
		if !zero[f] {
			t.Errorf("internalFields lists %s, but a YAML key reaches it (or no case converts its type): remove it", f)
		}
	}
}

// filledConfig is a configuration whose every YAML key is set, to values the conversions accept.
func filledConfig() *config.Config {
	cfg := &config.Config{}
	fill(reflect.ValueOf(cfg).Elem())
	cfg.Cameras[0].Zones = []string{"z: 0,0 1,0 1,1"}
	cfg.Cameras[0].PrivacyMasks = []string{"m: 0,0 0.5,0 0.5,0.5"}
	cfg.Broker.Users[0].Password = "" // the hash is used as is; a plain password is hashed (bcrypt, slow)
	cfg.Auth.TrustedProxies = []string{"10.0.0.0/8"}
	cfg.Ward.Sites[0].TimeZone, cfg.Ward.Sites[0].Rounds, cfg.Ward.Sites[0].Night = "UTC", []string{"08:00"}, "22:00-06:00"
	return cfg
}

// fill sets every field of v to a non-zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("x1")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(3*time.Second + 7)) // non-zero even when narrowed to a byte
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.5)
	}
}

// zeroFields lists the zero fields of v as "name.Field", descending into structs and the first element of
// slices of structs. A nested struct whose type has a case of its own is named by its type
// ("analyze.CameraConfig.Feed", not "analyze.Config.Cameras[].Feed"), so internalFields lists a field once.
func zeroFields(v reflect.Value, name string) []string {
	if caseNames()[v.Type().String()] {
		name = v.Type().String()
	}
	var out []string
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		fv, path := v.Field(i), name+"."+f.Name
		switch {
		case fv.IsZero():
			out = append(out, path)
		case fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Time{}):
			out = append(out, zeroFields(fv, path)...)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			out = append(out, zeroFields(fv.Index(0), path+"[]")...)
		}
	}
	return out
}

// caseNames are the type names coverageCases convert to.
func caseNames() map[string]bool {
	names := make(map[string]bool, len(coverageCases))
	for _, tc := range coverageCases {
		names[tc.name] = true
	}
	return names
}
