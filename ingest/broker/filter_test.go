package broker

import (
	"strings"
	"testing"
)

var matchCases = []struct {
	filter, topic string
	want          bool
}{
	{"city/d1/s1/dev", "city/d1/s1/dev", true},
	{"city/d1/s1/dev", "city/d1/s1/dev2", false},
	{"city/+/s1/dev", "city/d1/s1/dev", true},
	{"city/+/+/+", "city/d1/s1/dev", true},
	{"city/+/+", "city/d1/s1/dev", false},
	{"city/#", "city/d1/s1/dev", true},
	{"city/#", "city", true}, // "#" matches the parent level
	{"city/+", "city", false},
	{"city/+", "city/", true}, // "+" matches an empty level
	{"#", "city/d1", true},
	{"#", "/", true},
	{"+/+", "/", true},
	{"+", "city/d1", false},
	{"city/d1/#", "city/d2/x", false},
	{"#", "$SYS/broker/clients", false}, // wildcards at the first level never match "$" topics
	{"+/broker/clients", "$SYS/broker/clients", false},
	{"$SYS/#", "$SYS/broker/clients", true},
	{"$SYS/+/clients", "$SYS/broker/clients", true},
	{"city/d1", "city/d1/", false},
	{"city/d1/", "city/d1", false},
	{"City/d1", "city/d1", false}, // case-sensitive
	{"", "city", false},
	{"city", "", false},
	{"a#", "a#", true}, // invalid filters are literal
	{"sensors/alice/#", "sensors/alice", true},
	{"sensors/alice/#", "sensors/alice2/x", false},
}

func TestMatch(t *testing.T) {
	for _, c := range matchCases {
		if got := Match(c.filter, c.topic); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
		if got := refMatch(c.filter, c.topic); got != c.want {
			t.Errorf("refMatch(%q, %q) = %v, want %v (test reference is wrong)", c.filter, c.topic, got, c.want)
		}
	}
}

var coversCases = []struct {
	allowed, requested string
	want               bool
}{
	{"city/#", "city/#", true},
	{"city/#", "city/+/s1/#", true},
	{"city/#", "city", true},
	{"city/#", "#", false},
	{"city/+/x", "city/+/x", true},
	{"city/+/x", "city/d1/x", true},
	{"city/+/x", "city/#", false},
	{"city/+/x", "city/+/#", false},
	{"city/d1/#", "city/+/x", false},
	{"city/alice/#", "$share/g1/city/alice/#", true},
	{"city/alice/#", "$SHARE/g1/city/bob/#", false},
	{"#", "$SYS/#", false},
	{"#", "+/x", true},
	{"$SYS/#", "$SYS/broker/+", true},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b", false},
	{"a/+", "a", false},
	{"", "a", false},
	{"a", "", false},
}

func TestCovers(t *testing.T) {
	for _, c := range coversCases {
		if got := Covers(c.allowed, c.requested); got != c.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", c.allowed, c.requested, got, c.want)
		}
	}
	// For topic names Covers must agree with Match: the delivery-time ACL check relies on it.
	for _, c := range matchCases {
		if strings.ContainsAny(c.topic, "+#") {
			continue
		}
		if got := Covers(c.filter, c.topic); got != c.want {
			t.Errorf("Covers(%q, topic %q) = %v, want Match's %v", c.filter, c.topic, got, c.want)
		}
	}
}

var validateFilterCases = []struct {
	filter  string
	wantErr string
}{
	{"city/#", ""},
	{"+/+/#", ""},
	{"#", ""},
	{"city/alice", ""},
	{"", "empty"},
	{"city/#/x", "last level"},
	{"city/a#", "whole level"},
	{"city/+a", "whole level"},
	{"city/\x00", "NUL"},
	{strings.Repeat("a", 65536), "65535"},
}

func TestValidateFilter(t *testing.T) {
	for _, c := range validateFilterCases {
		err := ValidateFilter(c.filter)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("ValidateFilter(%.20q) = %v, want nil", c.filter, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("ValidateFilter(%.20q) = %v, want error containing %q", c.filter, err, c.wantErr)
		}
	}
}

// refMatch is a straightforward reference implementation of MQTT filter matching for the fuzzer.
func refMatch(filter, topic string) bool {
	if filter == "" || topic == "" {
		return false
	}
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, fl := range f {
		if fl == "#" && i == len(f)-1 {
			return true
		}
		if i >= len(tp) {
			return false
		}
		if fl != "+" && fl != tp[i] {
			return false
		}
	}
	return len(f) == len(tp)
}

func FuzzMatch(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.filter, c.topic)
	}
	for _, c := range coversCases {
		f.Add(c.allowed, c.requested)
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		got := Match(filter, topic)
		if want := refMatch(filter, topic); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", filter, topic, got, want)
		}
		c := Covers(filter, topic)
		if !strings.ContainsAny(topic, "+#") && stripShare(topic) == topic && c != got {
			t.Fatalf("Covers(%q, %q) = %v, Match = %v", filter, topic, c, got)
		}
		// A filter covering a requested filter matches every topic the requested one does; check with the
		// requested filter's own literal instantiation.
		if c && ValidateFilter(topic) == nil {
			inst := strings.NewReplacer("+", "x", "#", "y").Replace(stripShare(topic))
			if !Match(filter, inst) && !strings.HasPrefix(inst, "$") {
				t.Fatalf("Covers(%q, %q) but Match(%q, %q) is false", filter, topic, filter, inst)
			}
		}
		_ = ValidateFilter(filter)
	})
}

func FuzzValidateFilter(f *testing.F) {
	for _, c := range validateFilterCases {
		if len(c.filter) < 1000 {
			f.Add(c.filter)
		}
	}
	f.Fuzz(func(t *testing.T, filter string) {
		if ValidateFilter(filter) != nil || stripShare(filter) != filter {
			return
		}
		if !Covers(filter, filter) {
			t.Fatalf("valid filter %q does not cover itself", filter)
		}
		inst := strings.NewReplacer("+", "x", "#", "y").Replace(filter)
		if !Match(filter, inst) {
			t.Fatalf("valid filter %q does not match its instantiation %q", filter, inst)
		}
	})
}
