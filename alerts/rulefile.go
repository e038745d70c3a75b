package alerts

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// maxRuleFileBytes bounds a rule file; a larger one is rejected rather than parsed.
const maxRuleFileBytes = 8 << 20

// LoadRuleFiles reads Prometheus-style rule files (groups: [{name, interval, rules: [...]}]) and returns their
// rules in file order. Every rule is validated at load: an invalid PromQL expression or template, an unknown
// key or a bad value is an error that names file:line. All errors of all files are returned together.
func LoadRuleFiles(paths ...string) ([]Rule, error) {
	var rules []Rule
	var errs []error
	for _, p := range paths {
		data, err := readRuleFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rs, err := ParseRuleFile(p, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, rs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

func readRuleFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("rule file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRuleFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("rule file %s: %w", p, err)
	}
	if len(data) > maxRuleFileBytes {
		return nil, fmt.Errorf("rule file %s: larger than %d bytes", p, maxRuleFileBytes)
	}
	return data, nil
}

// ParseRuleFile parses the rule file content data; name is used in error messages and Rule.File.
func ParseRuleFile(name string, data []byte) ([]Rule, error) {
	p := &ruleParser{file: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil // empty file: no rules
	}
	rules := p.file_(doc.Content[0])
	// Every problem of the file at once, in line order: the decoding errors, and the validation errors of the
	// rules that decoded cleanly (a rule with a decoding error would only repeat it).
	for i, r := range rules {
		if i < len(p.broken) && p.broken[i] {
			continue
		}
		if _, err := compile(r); err != nil {
			p.errs = append(p.errs, lineError{r.Line, err})
		}
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b lineError) int { return a.line - b.line })
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e.err
		}
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

type ruleParser struct {
	file   string
	errs   []lineError
	broken []bool // per rule of file_'s result: it had a decoding error
}

// lineError is an error at a line of the rule file.
type lineError struct {
	line int
	err  error
}

func (p *ruleParser) errorf(n *yaml.Node, path, format string, args ...any) {
	p.errs = append(p.errs, lineError{n.Line, fmt.Errorf("%s:%d: %s: %s", p.file, n.Line, path, fmt.Sprintf(format, args...))})
}

// mapping iterates the key/value pairs of a mapping node, rejecting non-mappings, aliases, duplicate keys and
// keys outside allowed.
func (p *ruleParser) mapping(n *yaml.Node, path string, allowed map[string]bool, f func(key string, v *yaml.Node)) {
	if n.Kind == yaml.AliasNode {
		p.errorf(n, path, "YAML aliases are not supported")
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, path, "must be a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, path, "keys must be strings")
			continue
		}
		if seen[k.Value] {
			p.errorf(k, path, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		if allowed != nil && !allowed[k.Value] {
			p.errorf(k, path, "unknown key %q", k.Value)
			continue
		}
		if v.Kind == yaml.AliasNode {
			p.errorf(v, path+"."+k.Value, "YAML aliases are not supported")
			continue
		}
		f(k.Value, v)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	default:
		return "an alias"
	}
}

func (p *ruleParser) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, path, "must be a string, got %s", kindName(n))
		return ""
	}
	return n.Value
}

func (p *ruleParser) duration(n *yaml.Node, path string) time.Duration {
	s := p.str(n, path)
	if s == "" {
		return 0
	}
	d, err := model.ParseDuration(s)
	if err != nil {
		p.errorf(n, path, "bad duration %q: %v", s, err)
		return 0
	}
	return time.Duration(d)
}

func (p *ruleParser) strMap(n *yaml.Node, path string) map[string]string {
	m := map[string]string{}
	p.mapping(n, path, nil, func(k string, v *yaml.Node) { m[k] = p.str(v, path+"."+k) })
	return m
}

func (p *ruleParser) seq(n *yaml.Node, path string, f func(i int, v *yaml.Node)) {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, path, "must be a list, got %s", kindName(n))
		return
	}
	for i, v := range n.Content {
		if v.Kind == yaml.AliasNode {
			p.errorf(v, fmt.Sprintf("%s[%d]", path, i), "YAML aliases are not supported")
			continue
		}
		f(i, v)
	}
}

var (
	fileKeys  = map[string]bool{"groups": true}
	groupKeys = map[string]bool{"name": true, "interval": true, "rules": true}
	ruleKeys  = map[string]bool{
		"alert": true, "expr": true, "for": true, "keep_firing_for": true, "labels": true, "annotations": true,
		"record": true, "event": true, "match": true, "by": true, "window": true, "threshold": true,
		"schedule": true, "timezone": true, "flap_count": true, "flap_window": true, "flap_notify": true,
	}
)

func (p *ruleParser) file_(root *yaml.Node) []Rule {
	var rules []Rule
	groups := map[string]bool{}
	p.mapping(root, "file", fileKeys, func(_ string, v *yaml.Node) {
		p.seq(v, "groups", func(i int, g *yaml.Node) {
			path := fmt.Sprintf("groups[%d]", i)
			var name string
			var interval time.Duration
			var grules []Rule
			p.mapping(g, path, groupKeys, func(k string, v *yaml.Node) {
				switch k {
				case "name":
					name = p.str(v, path+".name")
					if name != "" && groups[name] {
						p.errorf(v, path+".name", "duplicate group name %q", name)
					}
					groups[name] = true
				case "interval":
					interval = p.duration(v, path+".interval")
				case "rules":
					p.seq(v, path+".rules", func(j int, r *yaml.Node) {
						before := len(p.errs)
						grules = append(grules, p.rule(r, fmt.Sprintf("%s.rules[%d]", path, j)))
						p.broken = append(p.broken, len(p.errs) > before)
					})
				}
			})
			if name == "" {
				p.errorf(g, path+".name", "required")
			}
			if interval < 0 {
				p.errorf(g, path+".interval", "must be >= 0")
			}
			for i := range grules {
				grules[i].Group = name
				grules[i].Interval = interval
			}
			rules = append(rules, grules...)
		})
	})
	return rules
}

func (p *ruleParser) rule(n *yaml.Node, path string) Rule {
	r := Rule{File: p.file, Line: n.Line}
	var ev EventSpec
	var hasEvent, eventOnly bool
	var firstEventOnly *yaml.Node
	p.mapping(n, path, ruleKeys, func(k string, v *yaml.Node) {
		kp := path + "." + k
		switch k {
		case "alert":
			r.Alert = p.str(v, kp)
		case "record":
			p.errorf(v, kp, "recording rules are not supported, only alerting rules")
		case "expr":
			r.Expr = p.str(v, kp)
			if r.Expr == "" {
				p.errorf(v, kp, "must not be empty")
			}
		case "for":
			r.For = p.duration(v, kp)
		case "keep_firing_for":
			r.KeepFiringFor = p.duration(v, kp)
		case "labels":
			r.Labels = p.strMap(v, kp)
		case "annotations":
			r.Annotations = p.strMap(v, kp)
		case "flap_count":
			sv := p.str(v, kp)
			n, err := strconv.Atoi(sv)
			if err != nil {
				p.errorf(v, kp, "must be an integer, got %q", sv)
			}
			r.Flap.Count = n
		case "flap_window":
			r.Flap.Window = p.duration(v, kp)
		case "flap_notify":
			r.Flap.Notify = p.str(v, kp)
		case "event":
			hasEvent = true
			ev.Kind = EventRuleKind(p.str(v, kp))
		default:
			eventOnly = true
			if firstEventOnly == nil {
				firstEventOnly = v
			}
			switch k {
			case "match":
				ev.Match = p.strMap(v, kp)
			case "by":
				ev.By = []string{}
				p.seq(v, kp, func(i int, e *yaml.Node) { ev.By = append(ev.By, p.str(e, fmt.Sprintf("%s[%d]", kp, i))) })
			case "window":
				ev.Window = p.duration(v, kp)
			case "threshold":
				s := p.str(v, kp)
				f, err := strconv.ParseFloat(s, 64)
				if err != nil {
					p.errorf(v, kp, "must be a number, got %q", s)
				}
				ev.Threshold = f
			case "schedule":
				ev.Schedule = p.str(v, kp)
			case "timezone":
				ev.Timezone = p.str(v, kp)
			}
		}
	})
	if eventOnly && !hasEvent {
		p.errorf(firstEventOnly, path, "match, by, window, threshold, schedule and timezone need \"event\"")
	}
	if hasEvent {
		r.Event = &ev
	}
	return r
}
