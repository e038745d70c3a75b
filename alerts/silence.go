package alerts

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Matcher matches one alert label, as in Alertmanager silences.
type Matcher struct {
	// Name is the label name.
	Name string `json:"name"`
	// Op is "=", "!=", "=~" or "!~"; regular expressions are anchored at both ends.
	Op string `json:"op"`
	// Value is the value or regular expression.
	Value string `json:"value"`
}

// Silence mutes notifications of the alerts whose labels match all of its matchers between StartsAt and
// EndsAt. Silenced alerts still change state; they are just not notified.
type Silence struct {
	// ID is assigned by AddSilence.
	ID string `json:"id"`
	// Matchers must all match; at least one must not match an empty label value.
	Matchers []Matcher `json:"matchers"`
	// StartsAt defaults to now; EndsAt must be after it and in the future.
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	// CreatedBy and Comment are required: who silenced and why.
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
	// Status is "pending", "active" or "expired" at the time the silence was read.
	Status string `json:"status"`

	compiled []*labels.Matcher
}

// ErrSilenceNotFound is returned by ExpireSilence for an unknown silence ID.
var ErrSilenceNotFound = errors.New("alerts: silence not found")

var matchTypes = map[string]labels.MatchType{
	"=": labels.MatchEqual, "!=": labels.MatchNotEqual, "=~": labels.MatchRegexp, "!~": labels.MatchNotRegexp,
}

// compileMatchers validates and compiles ms.
func compileMatchers(ms []Matcher) ([]*labels.Matcher, error) {
	if len(ms) == 0 {
		return nil, errors.New("at least one matcher is required")
	}
	out := make([]*labels.Matcher, 0, len(ms))
	matchesAll := true
	for i, m := range ms {
		t, ok := matchTypes[m.Op]
		if !ok {
			return nil, fmt.Errorf("matchers[%d]: op must be =, !=, =~ or !~, got %q", i, m.Op)
		}
		if m.Name == "" {
			return nil, fmt.Errorf("matchers[%d]: name is required", i)
		}
		lm, err := labels.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return nil, fmt.Errorf("matchers[%d]: %w", i, err)
		}
		if !lm.Matches("") {
			matchesAll = false
		}
		out = append(out, lm)
	}
	if matchesAll {
		return nil, errors.New("at least one matcher must not match the empty string (the silence would mute every alert)")
	}
	return out, nil
}

func (s *Silence) matches(lbls map[string]string) bool {
	for _, m := range s.compiled {
		if !m.Matches(lbls[m.Name]) {
			return false
		}
	}
	return true
}

func (s *Silence) status(now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return "pending"
	case now.Before(s.EndsAt):
		return "active"
	default:
		return "expired"
	}
}

func newSilenceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// SilenceMatcher compiles ms exactly as AddSilence does (same validation, same errors, wrapping ErrInvalid) and
// returns the predicate a silence made of them applies to an alert's labels: the silence dialog previews
// what a silence would mute with the very matcher that will mute it.
func SilenceMatcher(ms []Matcher) (func(labels map[string]string) bool, error) {
	c, err := compileMatchers(ms)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	s := &Silence{compiled: c}
	return s.matches, nil
}
