package config

import (
	"reflect"
	"strings"
	"testing"
)

// parseCase is a named configuration fragment and the exact error parse gives for it as c.yaml ("" = valid).
type parseCase struct {
	name string
	in   string
	err  string
}

// runParseCases parses every case as c.yaml, each in a subtest: a case with err must fail with exactly that
// error, any other must load and pass ok. No error may quote one of hidden (secrets in the cases).
func runParseCases(t *testing.T, cases []parseCase, ok func(t *testing.T, cfg *Config), hidden ...string) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse([]byte(tc.in+"\n"), "c.yaml", testEnv())
			for _, h := range hidden {
				if err != nil && strings.Contains(err.Error(), h) {
					t.Errorf("an error quotes %q: %v", h, err)
				}
			}
			switch {
			case tc.err != "":
				if err == nil || err.Error() != tc.err {
					t.Errorf("error:\n%v\nwant:\n%s", err, tc.err)
				}
			case err != nil:
				t.Errorf("%v", err)
			default:
				ok(t, cfg)
			}
		})
	}
}

// loadFullGood loads testdata/full.good.yaml and returns it with a check of one of its values by name.
func loadFullGood(t *testing.T) (*Config, func(name string, got, want any)) {
	t.Helper()
	c, err := load("testdata/full.good.yaml", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	return c, func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
}
