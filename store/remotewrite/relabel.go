package remotewrite

import (
	"fmt"
	"regexp"
	"sync"
)

// relabeler decides by metric name which samples are forwarded: the write_relabel keep/drop rules in order.
// Decisions are cached per name; the cache is bounded because names come from devices.
type relabeler struct {
	rules []compiledRule

	mu    sync.Mutex
	cache map[string]bool
}

type compiledRule struct {
	keep bool
	re   *regexp.Regexp
}

const maxRelabelCache = 10_000

func compileRelabel(rules []RelabelRule) (*relabeler, error) {
	r := &relabeler{cache: map[string]bool{}}
	for i, rule := range rules {
		if rule.Action != ActionKeep && rule.Action != ActionDrop {
			return nil, fmt.Errorf("remotewrite: write_relabel[%d].action must be %q or %q, got %q", i, ActionKeep, ActionDrop, rule.Action)
		}
		re, err := regexp.Compile("^(?:" + rule.Regex + ")$")
		if err != nil {
			return nil, fmt.Errorf("remotewrite: write_relabel[%d].regex: %w", i, err)
		}
		r.rules = append(r.rules, compiledRule{keep: rule.Action == ActionKeep, re: re})
	}
	return r, nil
}

// forward reports whether samples of metric name pass every rule.
func (r *relabeler) forward(name string) bool {
	if len(r.rules) == 0 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok, hit := r.cache[name]; hit {
		return ok
	}
	ok := true
	for _, rule := range r.rules {
		if rule.re.MatchString(name) != rule.keep {
			ok = false
			break
		}
	}
	if len(r.cache) >= maxRelabelCache {
		clear(r.cache)
	}
	r.cache[name] = ok
	return ok
}
