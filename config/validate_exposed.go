package config

import "strings"

// This file validates the keys issue 13 exposed: settings the components always had but no YAML key reached.

// validateCameraHealth checks tls_fingerprint and the health thresholds of camera p.
func (c *Config) validateCameraHealth(v validator, p string, cam *CameraConfig) {
	if fp := cam.TLSFingerprint; fp != "" {
		if !ValidFingerprint(fp) {
			v.add(p+".tls_fingerprint", "must be the SHA-256 of the certificate, 64 hex digits (colons allowed); got %s", quote(fp))
		} else if !strings.HasPrefix(strings.ToLower(cam.URL), "rtsps://") {
			v.add(p+".tls_fingerprint", "is only for rtsps:// URLs; got url %s", quoteURL(cam.URL))
		}
	}
	v.positive(p+".keyframe_timeout", cam.KeyframeTimeout)
	if !(cam.MinFPSRatio > 0 && cam.MinFPSRatio <= 1) {
		v.add(p+".min_fps_ratio", "must be > 0 and <= 1; got %g", cam.MinFPSRatio)
	}
	if !(cam.MaxLossRatio > 0 && cam.MaxLossRatio <= 1) {
		v.add(p+".max_loss_ratio", "must be > 0 and <= 1; got %g", cam.MaxLossRatio)
	}
}

// validateInfluxRetry checks the InfluxDB forwarder's retry backoff, static tags and dead-letter bound.
func validateInfluxRetry(v validator, in *InfluxConfig) {
	v.positive("storage.influx.retry_initial", in.RetryInitial)
	v.positive("storage.influx.retry_max", in.RetryMax)
	if in.RetryInitial > 0 && in.RetryMax > 0 && in.RetryMax < in.RetryInitial {
		v.add("storage.influx.retry_max", "must be >= retry_initial (%s); got %s", in.RetryInitial, quote(in.RetryMax.String()))
	}
	for _, k := range sortedKeys(in.Tags) {
		switch {
		case k == "" || strings.TrimSpace(k) != k:
			v.add("storage.influx.tags", "invalid tag name %s", quote(k))
		case k == "edge" || k == "site":
			v.add("storage.influx.tags."+k, "is set by edge.%s; remove it here", map[string]string{"edge": "name", "site": "site"}[k])
		case in.Tags[k] == "":
			v.add("storage.influx.tags."+k, "must not be empty")
		}
	}
	if in.DeadLetterMaxBytes <= 0 {
		v.add("storage.influx.dead_letter_max_bytes", "must be > 0; got %s", quote(in.DeadLetterMaxBytes.String()))
	}
}

// defaultExposed gives a Config built in code (Complete) the defaults of the keys issue 13 exposed where they
// are zero, so code written before the keys existed keeps its behaviour. A file is stricter: its list items
// start from DefaultCamera and Default, so an explicit 0 there is an error.
func (c *Config) defaultExposed() {
	def := DefaultCamera()
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		orDefault(&cam.KeyframeTimeout, def.KeyframeTimeout)
		orDefault(&cam.MinFPSRatio, def.MinFPSRatio)
		orDefault(&cam.MaxLossRatio, def.MaxLossRatio)
	}
	in, defIn := &c.Storage.Influx, Default().Storage.Influx
	orDefault(&in.RetryInitial, defIn.RetryInitial)
	orDefault(&in.RetryMax, defIn.RetryMax)
	orDefault(&in.DeadLetterMaxBytes, defIn.DeadLetterMaxBytes)
	for i := range c.Storage.RemoteWrite {
		orDefault(&c.Storage.RemoteWrite[i].DeadLetterMaxBytes, DefaultRemoteWrite().DeadLetterMaxBytes)
	}
	orDefault(&c.Media.RingMaxBytes, Default().Media.RingMaxBytes)
}

// orDefault sets *p to def when it is the zero value.
func orDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}
