package config

import (
	"regexp"
	"strings"
)

// nameRule is how the items of one list are named (ingest.sources, storage.remote_write, notify.receivers):
// a pattern, an optional length bound, and what a duplicate is called in the message.
type nameRule struct {
	re     *regexp.Regexp
	maxLen int    // 0: no bound
	dup    string // "duplicate name"
}

var (
	sourceNames   = nameRule{re: sourceNameRE, dup: "duplicate name"}
	receiverNames = nameRule{re: receiverNameRE, maxLen: maxReceiverNameLen, dup: "duplicate receiver name"}
)

// check validates the name of item i of the list at path list: it is required, matches the rule and is unique.
// seen holds the names of the earlier items and their indexes; check adds this one.
func (r nameRule) check(v validator, seen map[string]int, list string, i int, name string) {
	p := indexPath(list, i) + ".name"
	pattern := strings.TrimSuffix(strings.TrimPrefix(r.re.String(), "^"), "$")
	switch {
	case name == "":
		v.add(p, "is required")
	case r.maxLen > 0 && (!r.re.MatchString(name) || len(name) > r.maxLen):
		v.add(p, "must match %s and be at most %d characters; got %s", pattern, r.maxLen, quote(name))
	case !r.re.MatchString(name):
		v.add(p, "must match %s; got %s", pattern, quote(name))
	default:
		if j, dup := seen[name]; dup {
			v.add(p, "%s %s (also %s[%d])", r.dup, quote(name), list, j)
		}
		seen[name] = i
	}
}
