package alerts

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

// silenceMatcherCases are matcher sets as the silence dialog sends them to the preview.
var silenceMatcherCases = []struct {
	name   string
	ms     []Matcher
	labels map[string]string
	want   bool
	err    string
}{
	{"equal", []Matcher{{"camera", "=", "cam2"}}, map[string]string{"camera": "cam2"}, true, ""},
	{"equal, other value", []Matcher{{"camera", "=", "cam2"}}, map[string]string{"camera": "cam3"}, false, ""},
	{"regexp anchored", []Matcher{{"site", "=~", "q-.*"}}, map[string]string{"site": "xq-1"}, false, ""},
	{"not equal with another", []Matcher{{"alertname", "=", "A"}, {"site", "!=", "b"}}, map[string]string{"alertname": "A"}, true, ""},
	{"matches everything", []Matcher{{"site", "=~", ".*"}}, nil, false, "must not match the empty string"},
	{"bad op", []Matcher{{"site", "~", "a"}}, nil, false, "op must be"},
	{"bad regexp", []Matcher{{"site", "=~", "("}}, nil, false, "matchers[0]"},
	{"no name", []Matcher{{"", "=", "a"}}, nil, false, "name is required"},
	{"none", nil, nil, false, "at least one matcher"},
}

func TestSilenceMatcher(t *testing.T) {
	for _, tc := range silenceMatcherCases {
		t.Run(tc.name, func(t *testing.T) {
			match, err := SilenceMatcher(tc.ms)
			if tc.err != "" {
				assert.ErrorContains(t, err, tc.err)
				assert.True(t, errors.Is(err, ErrInvalid))
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, tc.want, match(tc.labels))
		})
	}
}

// FuzzSilenceMatcher: whatever a client sends to the preview, compiling and matching neither panics nor
// disagrees with the silence it would create.
func FuzzSilenceMatcher(f *testing.F) {
	for _, tc := range silenceMatcherCases {
		for _, m := range tc.ms {
			f.Add(m.Name, m.Op, m.Value, "x")
		}
	}
	f.Fuzz(func(t *testing.T, name, op, value, label string) {
		ms := []Matcher{{name, op, value}}
		match, err := SilenceMatcher(ms)
		_, cerr := compileMatchers(ms)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("preview and silence disagree: %v vs %v", err, cerr)
		}
		if err == nil {
			_ = match(map[string]string{name: label})
		}
	})
}
