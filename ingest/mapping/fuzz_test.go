package mapping

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func FuzzTemplate(f *testing.F) {
	for _, c := range templateCases {
		f.Add(c.tmpl, c.topic)
	}
	for _, r := range testRules {
		f.Add(r.Topic, "city/d1/siteA/sensor42")
	}
	f.Fuzz(func(t *testing.T, tmpl, topic string) {
		tm, err := ParseTemplate(tmpl)
		if err != nil {
			return
		}
		if tm.String() != tmpl {
			t.Fatalf("String() = %q, want %q", tm.String(), tmpl)
		}
		m, ok := tm.Match(topic)
		if !ok {
			return
		}
		if ok, _ := validTopic(topic); !ok {
			t.Fatalf("matched invalid topic %q", topic)
		}
		names := tm.Labels()
		if len(m.Labels) != len(names) {
			t.Fatalf("%d captures for labels %v", len(m.Labels), names)
		}
		levels := strings.Split(topic, "/")
		for i, l := range m.Labels {
			if l.Name != names[i] || l.Value == "" || strings.Contains(l.Value, "/") || !slices.Contains(levels, l.Value) {
				t.Fatalf("bad capture %v from %q with %q", l, topic, tmpl)
			}
		}
		if tm.HasMetric() != (m.Metric != "") {
			t.Fatalf("metric capture %q, template has metric %v", m.Metric, tm.HasMetric())
		}
		// Without "#", a template matches only topics with as many levels.
		if !strings.HasSuffix(tmpl, "#") && len(levels) != len(strings.Split(tmpl, "/")) {
			t.Fatalf("%q matched %q with a different level count", tmpl, topic)
		}
	})
}

func FuzzMap(f *testing.F) {
	for _, c := range mapCases {
		if len(c.payload) > 4096 {
			continue
		}
		f.Add(c.topic, []byte(c.payload))
	}
	mappers := testMappers(f)
	m, bare := mappers["all"], mappers["all"+uncachedSuffix]
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		res, err := bare.Map(topic, payload, testNow)
		// The topic cache takes the topic on its first miss and serves it on the second: neither may change
		// the outcome of the mapping without the cache.
		want := sprintResult(res, err)
		for range 2 {
			if again, aerr := m.Map(topic, payload, testNow); sprintResult(again, aerr) != want {
				t.Fatalf("mapped through the topic cache:\n%s\nwithout it:\n%s", sprintResult(again, aerr), want)
			}
		}
		if err != nil {
			var rej *RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("error is not a *RejectError: %v", err)
			}
			if !slices.Contains(Reasons, rej.Reason) {
				t.Fatalf("unknown reason %q", rej.Reason)
			}
			if len(res.Samples) != 0 {
				t.Fatalf("rejection with %d samples", len(res.Samples))
			}
			return
		}
		checkResult(t, res)
	})
}
