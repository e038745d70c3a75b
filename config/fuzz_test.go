package config

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fuzzEnv() environment {
	return environment{
		lookup: func(k string) (string, bool) { v, ok := testVars[k]; return v, ok },
		host:   "fuzzhost",
		fsys:   noFS{},
	}
}

// FuzzParse feeds configurations to Parse, seeded with every testdata file and the example. Parse must never
// panic; it returns either a valid Config or *Errors whose messages are single lines.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, examplePath)
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range badSecretConfigs {
		f.Add([]byte(s))
	}
	for _, tc := range defaultReceiverCases {
		f.Add([]byte(tc.in + "\n"))
	}
	for _, tc := range externalURLCases {
		f.Add([]byte("http: {listen: '" + tc.listen + "'}\n"))
	}
	f.Add([]byte(secretConfigEnvAdmin))
	f.Add([]byte("notify:\n  receivers:\n    - name: t\n      url: https://x.example/\n      format: template\n" +
		"      template: |\n        {{ range .Alerts }}\n        {{ .Name | upper }}{{ end }\n"))
	f.Add([]byte("notify: {receivers: [{name: a, url: 'https://x.example/'}], routes: [{receiver: a, match_re: {site: '(?i)q-.*'}}], default_receiver: a}\n"))
	f.Add([]byte("alerts: {canary: {enabled: true, fallback_receiver: a}}\nnotify: {receivers: [{name: a, url: 'https://[::1]/', allow_private: true}]}\n"))
	f.Add([]byte("auth: {trusted_proxies: ['::/0', 0.0.0.0/0, '1.2.3.4/33'], session_idle: 1h, session_max: 1h}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("ingest: {rules: [&r {topic: x}, *r, {<<: *r, format: json}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse(data, "fuzz.yaml", fuzzEnv())
		if err != nil {
			if cfg != nil {
				t.Fatal("a Config returned with an error")
			}
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) == 0 {
				t.Fatalf("error is not a non-empty *Errors: %T %v", err, err)
			}
			for _, e := range errs.List {
				if strings.ContainsAny(e.Error(), "\n\r") {
					t.Fatalf("error message spans lines: %q", e.Error())
				}
			}
			return
		}
		// A config that loads validates, prints, and its print parses again.
		s := newErrorSink("")
		cfg.validate(s, noFS{})
		if err := s.err(); err != nil {
			t.Fatalf("loaded config does not validate: %v", err)
		}
		_, _ = parse([]byte(cfg.String()), "printed.yaml", fuzzEnv())
	})
}

// fuzzPrinted seeds f with the inputs of cases and requires of whatever parse accepts that its String() parses
// back to the same value, and that check (when not nil) accepts it.
func fuzzPrinted[T interface {
	printed
	~int64
}, V any](f *testing.F, parse func(string) (T, error), cases []printedCase[V], check func(*testing.T, string, T)) {
	for _, tc := range cases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parse(s)
		if err != nil {
			return
		}
		if check != nil {
			check(t, s, v)
		}
		if back, err := parse(v.String()); err != nil || back != v {
			t.Fatalf("%q -> %d -> %q -> %d, %v", s, int64(v), v.String(), int64(back), err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	fuzzPrinted(f, ParseDuration, durationCases, nil)
}

func FuzzParseByteSize(f *testing.F) {
	fuzzPrinted(f, ParseByteSize, byteSizeCases, func(t *testing.T, s string, b ByteSize) {
		if b < 0 {
			t.Fatalf("%q parsed to a negative size %d", s, b)
		}
	})
}

func FuzzTopicTemplate(f *testing.F) {
	for _, tc := range templateCases {
		f.Add(tc.in)
	}
	for _, tc := range filterCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = CheckTopicFilter(s)
		tm, err := ParseTopicTemplate(s)
		if err != nil {
			return
		}
		if err := CheckTopicFilter(tm.Filter()); err != nil {
			t.Fatalf("template %q gives invalid filter %q: %v", s, tm.Filter(), err)
		}
		for _, l := range tm.Labels() {
			if !validLabelName(l) {
				t.Fatalf("template %q captures invalid label %q", s, l)
			}
		}
	})
}

func FuzzExpandEnv(f *testing.F) {
	for _, tc := range envCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, sub, errs := expandEnv(s, func(string) (string, bool) { return "", true })
		if len(errs) == 0 && !sub && !strings.Contains(s, "$$") && out != s {
			t.Fatalf("%q changed to %q without a substitution", s, out)
		}
	})
}

// FuzzCheckWebhookURL: a webhook URL check never panics, and its message does not depend on (so cannot echo)
// the URL's path, query or userinfo, which carry tokens.
func FuzzCheckWebhookURL(f *testing.F) {
	for _, tc := range webhookURLCases {
		f.Add(tc.url, tc.allowPrivate)
	}
	f.Fuzz(func(t *testing.T, raw string, allowPrivate bool) {
		msg := checkWebhookURL(raw, allowPrivate)
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		other := *u
		other.Opaque, other.Path, other.RawPath, other.RawQuery, other.Fragment = "", "/other", "", "q=other", ""
		if u.User != nil {
			other.User = url.UserPassword("other", "other")
		}
		if again := checkWebhookURL(other.String(), allowPrivate); again != msg {
			t.Fatalf("message depends on the path, query or userinfo of %q: %q vs %q for %q", raw, msg, again, other.String())
		}
	})
}
