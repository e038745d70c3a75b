package config

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxTopicLen is the MQTT limit on topic names and filters.
const maxTopicLen = 65535

// CheckTopicFilter reports whether f is a valid MQTT topic filter: non-empty, valid UTF-8 without NUL, "+" and
// "#" only as whole levels, "#" only last.
func CheckTopicFilter(f string) error {
	if f == "" {
		return errors.New("topic filter is empty")
	}
	if len(f) > maxTopicLen {
		return errors.New("topic filter is longer than 65535 bytes")
	}
	if !utf8.ValidString(f) || strings.ContainsRune(f, 0) {
		return errors.New("topic filter must be UTF-8 without NUL")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return errors.New(`"#" must be the last level`)
		case l != "#" && strings.Contains(l, "#"):
			return errors.New(`"#" must be a whole level`)
		case l != "+" && strings.Contains(l, "+"):
			return errors.New(`"+" must be a whole level`)
		}
	}
	return nil
}

// TopicTemplate is a parsed rule topic template such as "sensors/{site}/{device}/+".
type TopicTemplate struct {
	// Levels are the template levels in order.
	Levels []TemplateLevel
}

// TemplateLevel is one level of a topic template.
type TemplateLevel struct {
	// Kind says what the level matches.
	Kind LevelKind
	// Value is the literal text (LevelLiteral) or the label name (LevelLabel).
	Value string
}

// LevelKind is the kind of a template level.
type LevelKind int

// Template level kinds.
const (
	LevelLiteral LevelKind = iota // matches its text exactly
	LevelLabel                    // "{name}": one level captured into a label
	LevelPlus                     // "+": any one level
	LevelHash                     // "#": the remaining levels (last only)
)

// ParseTopicTemplate parses a rule topic template: levels separated by "/", each a literal, "{label}" (a valid
// label name, not starting with "__", each at most once), "+", or "#" as the last level.
func ParseTopicTemplate(s string) (*TopicTemplate, error) {
	if s == "" {
		return nil, errors.New("topic template is empty")
	}
	if len(s) > maxTopicLen || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return nil, errors.New("topic template must be UTF-8 without NUL, at most 65535 bytes")
	}
	if strings.HasPrefix(s, "$share/") {
		return nil, errors.New(`topic template must not start with "$share/"; set shared_group on the source`)
	}
	t := &TopicTemplate{}
	seen := map[string]bool{}
	levels := strings.Split(s, "/")
	for i, l := range levels {
		switch {
		case l == "#":
			if i != len(levels)-1 {
				return nil, fmt.Errorf(`level %d: "#" must be the last level`, i+1)
			}
			t.Levels = append(t.Levels, TemplateLevel{Kind: LevelHash})
		case l == "+":
			t.Levels = append(t.Levels, TemplateLevel{Kind: LevelPlus})
		case strings.HasPrefix(l, "{") && strings.HasSuffix(l, "}") && len(l) >= 2:
			name := l[1 : len(l)-1]
			if !validLabelName(name) {
				return nil, fmt.Errorf("level %d: %s is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", i+1, quote(name))
			}
			if seen[name] {
				return nil, fmt.Errorf("level %d: label {%s} is captured twice", i+1, name)
			}
			seen[name] = true
			t.Levels = append(t.Levels, TemplateLevel{Kind: LevelLabel, Value: name})
		case strings.ContainsAny(l, "{}"):
			return nil, fmt.Errorf("level %d: %s: a {label} must be a whole level", i+1, quote(l))
		case strings.ContainsAny(l, "+#"):
			return nil, fmt.Errorf(`level %d: %s: "+" and "#" must be whole levels`, i+1, quote(l))
		default:
			t.Levels = append(t.Levels, TemplateLevel{Kind: LevelLiteral, Value: l})
		}
	}
	return t, nil
}

// Labels returns the captured label names in template order.
func (t *TopicTemplate) Labels() []string {
	var out []string
	for _, l := range t.Levels {
		if l.Kind == LevelLabel {
			out = append(out, l.Value)
		}
	}
	return out
}

// HasLabel reports whether the template captures name.
func (t *TopicTemplate) HasLabel(name string) bool {
	for _, l := range t.Levels {
		if l.Kind == LevelLabel && l.Value == name {
			return true
		}
	}
	return false
}

// DeviceLabels returns the default device labels of the template: its labels other than {metric}. The result
// is never nil.
func (t *TopicTemplate) DeviceLabels() []string {
	out := []string{}
	for _, n := range t.Labels() {
		if n != MetricLabel {
			out = append(out, n)
		}
	}
	return out
}

// Filter returns the MQTT subscription filter matching the template ("{label}" becomes "+").
func (t *TopicTemplate) Filter() string {
	parts := make([]string, len(t.Levels))
	for i, l := range t.Levels {
		switch l.Kind {
		case LevelLiteral:
			parts[i] = l.Value
		case LevelHash:
			parts[i] = "#"
		default:
			parts[i] = "+"
		}
	}
	return strings.Join(parts, "/")
}

// validLabelName reports whether n is a Prometheus label name that is not reserved (__*).
func validLabelName(n string) bool {
	if n == "" || strings.HasPrefix(n, "__") {
		return false
	}
	for i, r := range n {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// validMetricName reports whether n is a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*).
func validMetricName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		if !(r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
