package mapping

import (
	"errors"
	"fmt"
	"strings"

	"citywatch/store"
)

// Limits of topic templates.
const (
	// MaxTemplateLevels is the most levels a template may have.
	MaxTemplateLevels = 64
	// MaxCaptures is the most "{label}" and "{metric}" levels a template may have.
	MaxCaptures = 16
)

// Template is a parsed topic template: levels separated by "/", each one of
//
//	literal   matches itself
//	+         matches any one level
//	{name}    matches any one level and captures it as label name
//	{metric}  matches any one level and captures it as the metric name
//	#         matches the remaining levels, zero or more (last level only)
//
// As in MQTT, a topic starting with "$" matches only when the template's first level is a literal. Topics
// with an empty level ("city//x", "/a", "a/") or wildcard characters match no template. A Template is
// immutable and safe for concurrent use.
type Template struct {
	raw    string
	levels []tlevel
	labels []string
	metric bool
	hash   bool
}

type levelKind uint8

const (
	levelLiteral levelKind = iota
	levelPlus
	levelLabel
	levelMetric
	levelHash
)

type tlevel struct {
	kind levelKind
	text string // literal text or label name
}

// span is where a captured level sits in the topic.
type span struct{ start, end int }

// TopicMatch is what a template captured from a topic.
type TopicMatch struct {
	// Labels are the "{name}" captures in template order.
	Labels []store.Label
	// Metric is the "{metric}" capture, or "".
	Metric string
}

// ParseTemplate parses and validates a topic template.
func ParseTemplate(s string) (*Template, error) {
	if s == "" {
		return nil, errors.New("empty topic template")
	}
	parts := strings.Split(s, "/")
	if len(parts) > MaxTemplateLevels {
		return nil, fmt.Errorf("topic template %q: more than %d levels", s, MaxTemplateLevels)
	}
	t := &Template{raw: s}
	seen := map[string]bool{}
	captures := 0
	for i, p := range parts {
		var l tlevel
		switch {
		case p == "":
			return nil, fmt.Errorf("topic template %q: level %d is empty", s, i+1)
		case p == "#":
			if i != len(parts)-1 {
				return nil, fmt.Errorf("topic template %q: \"#\" must be the last level", s)
			}
			l.kind = levelHash
			t.hash = true
		case p == "+":
			l.kind = levelPlus
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") && len(p) >= 2:
			name := p[1 : len(p)-1]
			captures++
			if name == "metric" {
				if t.metric {
					return nil, fmt.Errorf("topic template %q: {metric} appears twice", s)
				}
				l.kind = levelMetric
				t.metric = true
				break
			}
			if !validLabelName(name) {
				return nil, fmt.Errorf("topic template %q: %q is not a valid label name (want [a-zA-Z_][a-zA-Z0-9_]*, not starting with \"__\")", s, name)
			}
			if seen[name] {
				return nil, fmt.Errorf("topic template %q: label %q captured twice", s, name)
			}
			seen[name] = true
			l.kind, l.text = levelLabel, name
			t.labels = append(t.labels, name)
		default:
			if strings.ContainsAny(p, "+#{}") {
				return nil, fmt.Errorf("topic template %q: level %q mixes text with \"+\", \"#\", \"{\" or \"}\"", s, p)
			}
			if strings.ContainsRune(p, 0) {
				return nil, fmt.Errorf("topic template %q: level %d contains NUL", s, i+1)
			}
			l.kind, l.text = levelLiteral, p
		}
		t.levels = append(t.levels, l)
	}
	if captures > MaxCaptures {
		return nil, fmt.Errorf("topic template %q: more than %d captures", s, MaxCaptures)
	}
	return t, nil
}

// String returns the template as written.
func (t *Template) String() string { return t.raw }

// Labels returns the names of the "{name}" captures in template order.
func (t *Template) Labels() []string { return append([]string(nil), t.labels...) }

// HasMetric reports whether the template captures "{metric}".
func (t *Template) HasMetric() bool { return t.metric }

// Match matches topic against t and returns the captures.
func (t *Template) Match(topic string) (TopicMatch, bool) {
	var caps [MaxCaptures]span
	var ms span
	if ok, _ := validTopic(topic); !ok || !t.match(topic, &caps, &ms) {
		return TopicMatch{}, false
	}
	m := TopicMatch{Metric: topic[ms.start:ms.end]}
	for i, name := range t.labels {
		m.Labels = append(m.Labels, store.Label{Name: name, Value: topic[caps[i].start:caps[i].end]})
	}
	return m, true
}

// validTopic reports whether topic is a publish topic every level of which is non-empty, and whether it is
// all ASCII (so its levels need no UTF-8 check as label values).
func validTopic(topic string) (ok, ascii bool) {
	if topic == "" || topic[0] == '/' || topic[len(topic)-1] == '/' {
		return false, false
	}
	ascii = true
	for i := 0; i < len(topic); i++ {
		switch c := topic[i]; c {
		case '/':
			if topic[i-1] == '/' {
				return false, false
			}
		case '+', '#', 0:
			return false, false
		default:
			if c >= 0x80 {
				ascii = false
			}
		}
	}
	return true, ascii
}

// match matches a topic already checked by validTopic, recording "{name}" captures in caps (template order)
// and the "{metric}" capture in metric. It does not allocate.
func (t *Template) match(topic string, caps *[MaxCaptures]span, metric *span) bool {
	if topic[0] == '$' && t.levels[0].kind != levelLiteral {
		return false
	}
	pos, nc := 0, 0
	for _, l := range t.levels {
		if l.kind == levelHash {
			return true
		}
		if pos > len(topic) {
			return false // topic has fewer levels
		}
		end := strings.IndexByte(topic[pos:], '/')
		if end < 0 {
			end = len(topic)
		} else {
			end += pos
		}
		level := topic[pos:end]
		switch l.kind {
		case levelLiteral:
			if level != l.text {
				return false
			}
		case levelLabel:
			caps[nc] = span{pos, end}
			nc++
		case levelMetric:
			*metric = span{pos, end}
		}
		pos = end + 1
	}
	return pos > len(topic) // every topic level consumed
}
