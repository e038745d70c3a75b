package mapping

import (
	"errors"
	"fmt"
	"path"
	"sort"

	"citywatch/config"
	"citywatch/ingest/decode"
	"citywatch/store"
)

// Rule maps the topics matching a template. Rules are tried in order; the first whose template matches wins.
// It is config.RuleConfig itself (ingest.rules[] in the YAML): the keys, their defaults and their validation
// are owned once, there.
type Rule = config.RuleConfig

// Scale is a linear unit conversion: value*Factor + Offset (config.ScaleConfig). A zero Factor is taken as 1,
// so a scale that only sets Offset works.
type Scale = config.ScaleConfig

// Options configure a Mapper.
type Options struct {
	// DefaultMapping turns on the default citywatch mapping (city/{district}/{site}/{device}[/{metric}], see
	// DESIGN.md) for topics no rule matches. Off by default.
	DefaultMapping bool
	// MaxPayloadBytes is the largest payload accepted; larger ones are rejected as too_large. It defaults to
	// 262144 (256 KiB).
	MaxPayloadBytes int
	// MaxFields is the most numeric fields (samples) one message may carry: JSON fields, line-protocol fields
	// of every line, SenML values. A message with more is rejected whole as too_many_fields, so one payload
	// cannot create thousands of series at once. It defaults to 1000.
	MaxFields int
	// MaxTopics bounds the topic cache (topics.go): the most topics whose rule, labels and device are kept, so
	// that their messages skip the rule match and the label building and find their series by hint. A fleet
	// of more topics maps the others without the cache. It defaults to DefaultMaxTopics; serve sets it to
	// ingest.max_devices (one topic per device, as the default mapping's JSON topics are).
	MaxTopics int
}

// DefaultMaxPayloadBytes is the default of Options.MaxPayloadBytes.
const DefaultMaxPayloadBytes = 256 << 10

// DefaultMaxFields is the default of Options.MaxFields.
const DefaultMaxFields = 1000

// formatSet restricts which detected formats a default rule maps; other formats leave the topic unmapped.
type formatSet uint8

func formatBit(f decode.Format) formatSet { return 1 << f }

const anyFormat formatSet = 0xff

// rule is a compiled Rule.
type rule struct {
	idx       int // position in Mapper.rules, part of name-cache keys
	name      string
	tmpl      *Template
	format    decode.Format
	allowed   formatSet
	prec      decode.Precision
	metric    string
	prefix    string
	static    []store.Label // sorted
	include   []string
	exclude   []string
	scale     map[string]Scale
	devLabels []string
	// devSource tells where each device label comes from: >= 0 a capture index, < 0 -(static index)-1.
	devSource []int
	// devSorted lists the indexes of devLabels sorted by label name: Result.DeviceLabels are built in that
	// order (sorted, as labels are everywhere), so the device registry can compare them without a copy.
	devSorted []int
	// devPos is the inverse of devSorted: where device label i is in Result.DeviceLabels.
	devPos []int
	// devContiguous: the device labels are captures of consecutive topic levels in order, so Device is a
	// substring of the topic.
	devContiguous bool
	// order lists the capture (>= 0) and static (< 0: -index-1) labels sorted by name, so the labels of a
	// message without tags are built already sorted.
	order []int
}

// setOrder computes r.order.
func (r *rule) setOrder() {
	type src struct {
		name string
		idx  int
	}
	var all []src
	for i, l := range r.tmpl.labels {
		all = append(all, src{l, i})
	}
	for i, l := range r.static {
		all = append(all, src{l.Name, -i - 1})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	r.order = make([]int, len(all))
	for i, a := range all {
		r.order[i] = a.idx
	}
}

// defaultDeviceLabels are the device labels of the default mapping.
var defaultDeviceLabels = []string{"district", "site", "device"}

// defaultRules are the default mapping. JSON and SenML need a device topic, plain numbers a metric level;
// line protocol is mapped on any city/... topic.
func defaultRules() ([]rule, error) {
	lp := formatBit(decode.FormatLineProtocol)
	specs := []struct {
		topic   string
		allowed formatSet
		device  bool
	}{
		{"city/{district}/{site}/{device}", formatBit(decode.FormatJSON) | formatBit(decode.FormatSenML) | lp, true},
		{"city/{district}/{site}/{device}/{metric}", anyFormat, true},
		{"city/{district}/{site}/{device}/#", lp, true},
		{"city/{district}/{site}", lp, false},
		{"city/{district}", lp, false},
	}
	out := make([]rule, len(specs))
	for i, s := range specs {
		t, err := ParseTemplate(s.topic)
		if err != nil {
			return nil, fmt.Errorf("default mapping: %w", err)
		}
		out[i] = rule{name: "default mapping " + s.topic, tmpl: t, allowed: s.allowed}
		if s.device {
			out[i].setDevice(defaultDeviceLabels)
		}
	}
	return out, nil
}

// New compiles rules. Errors name the rule by its index ("rules[2].topic: ...").
func New(rules []Rule, opts Options) (*Mapper, error) {
	if opts.MaxPayloadBytes < 0 {
		return nil, fmt.Errorf("max payload bytes must be >= 0, got %d", opts.MaxPayloadBytes)
	}
	if opts.MaxPayloadBytes == 0 {
		opts.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if opts.MaxFields < 0 {
		return nil, fmt.Errorf("max fields must be >= 0, got %d", opts.MaxFields)
	}
	if opts.MaxFields == 0 {
		opts.MaxFields = DefaultMaxFields
	}
	if opts.MaxTopics < 0 {
		return nil, fmt.Errorf("max topics must be >= 0, got %d", opts.MaxTopics)
	}
	if opts.MaxTopics == 0 {
		opts.MaxTopics = DefaultMaxTopics
	}
	m := &Mapper{maxPayload: opts.MaxPayloadBytes, maxFields: opts.MaxFields, topics: newTopicCache(opts.MaxTopics)}
	var errs []error
	for i, r := range rules {
		cr, err := compile(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("rules[%d].%w", i, err))
			continue
		}
		m.rules = append(m.rules, cr)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if opts.DefaultMapping {
		def, err := defaultRules()
		if err != nil {
			return nil, err
		}
		m.rules = append(m.rules, def...)
	}
	for i := range m.rules {
		m.rules[i].idx = i
		m.rules[i].setOrder()
	}
	if len(m.rules) > 0xffff {
		return nil, fmt.Errorf("too many rules: %d", len(rules))
	}
	m.pool.New = func() any { return newScratch() }
	return m, nil
}

func compile(r Rule) (rule, error) {
	t, err := ParseTemplate(r.Topic)
	if err != nil {
		return rule{}, fmt.Errorf("topic: %w", err)
	}
	cr := rule{name: r.Topic, tmpl: t, allowed: anyFormat}
	if cr.format, err = decode.ParseFormat(r.Format); err != nil {
		return rule{}, fmt.Errorf("format: %w", err)
	}
	if cr.prec, err = decode.ParsePrecision(r.Precision); err != nil {
		return rule{}, fmt.Errorf("precision: %w", err)
	}
	if r.Metric != "" {
		if t.HasMetric() {
			return rule{}, fmt.Errorf("metric: %q conflicts with the {metric} level of topic %q", r.Metric, r.Topic)
		}
		if !validMetricName(r.Metric) {
			return rule{}, fmt.Errorf("metric: %q is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)", r.Metric)
		}
	}
	if cr.format == decode.FormatNumber && r.Metric == "" && !t.HasMetric() {
		return rule{}, fmt.Errorf("metric: format number needs metric or a {metric} level in the topic")
	}
	cr.metric = r.Metric
	if r.MetricPrefix != "" && !validMetricName(r.MetricPrefix) {
		return rule{}, fmt.Errorf("metric_prefix: %q is not a valid metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)", r.MetricPrefix)
	}
	cr.prefix = r.MetricPrefix
	captured := map[string]bool{}
	for _, l := range t.labels {
		captured[l] = true
	}
	names := make([]string, 0, len(r.Labels))
	for k := range r.Labels {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := r.Labels[k]
		switch {
		case !validLabelName(k):
			return rule{}, fmt.Errorf("labels: %q is not a valid label name (want [a-zA-Z_][a-zA-Z0-9_]*, not starting with \"__\")", k)
		case captured[k]:
			return rule{}, fmt.Errorf("labels: %q is also captured by topic %q", k, r.Topic)
		case v == "":
			return rule{}, fmt.Errorf("labels.%s: empty value", k)
		}
		cr.static = append(cr.static, store.Label{Name: k, Value: labelValue(v)})
	}
	for _, list := range []struct {
		key  string
		pats []string
		dst  *[]string
	}{{"include", r.Include, &cr.include}, {"exclude", r.Exclude, &cr.exclude}} {
		for j, p := range list.pats {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				return rule{}, fmt.Errorf("%s[%d]: bad pattern %q", list.key, j, p)
			}
		}
		*list.dst = append([]string(nil), list.pats...)
	}
	if len(r.Scale) > 0 {
		cr.scale = make(map[string]Scale, len(r.Scale))
		for k, s := range r.Scale {
			if k == "" || sanitize(k, true, true) != k {
				return rule{}, fmt.Errorf("scale: %q is not a field name as sanitized ([a-zA-Z0-9_:]+)", k)
			}
			if s.Factor == 0 {
				s.Factor = 1
			}
			cr.scale[k] = s
		}
	}
	seenDev := map[string]bool{}
	for j, d := range r.DeviceLabels {
		if seenDev[d] {
			return rule{}, fmt.Errorf("device_labels[%d]: %q listed twice", j, d)
		}
		seenDev[d] = true
		if !captured[d] && r.Labels[d] == "" {
			return rule{}, fmt.Errorf("device_labels[%d]: %q is neither captured by topic %q nor a static label", j, d, r.Topic)
		}
	}
	cr.setDevice(r.DeviceLabels)
	return cr, nil
}

// setDevice records where the device labels come from.
func (r *rule) setDevice(labels []string) {
	r.devLabels = append([]string(nil), labels...)
	r.devSource = make([]int, len(labels))
	r.devSorted = make([]int, len(labels))
	for i := range r.devSorted {
		r.devSorted[i] = i
	}
	sort.SliceStable(r.devSorted, func(a, b int) bool { return labels[r.devSorted[a]] < labels[r.devSorted[b]] })
	r.devPos = make([]int, len(labels))
	for k, i := range r.devSorted {
		r.devPos[i] = k
	}
	capLevel := map[string]int{} // capture name → template level index
	capIdx := map[string]int{}   // capture name → capture index
	for li, l := range r.tmpl.levels {
		if l.kind == levelLabel {
			capLevel[l.text] = li
			capIdx[l.text] = len(capIdx)
		}
	}
	r.devContiguous = len(labels) > 0
	for i, d := range labels {
		if ci, ok := capIdx[d]; ok {
			r.devSource[i] = ci
			if i > 0 && capLevel[d] != capLevel[labels[i-1]]+1 {
				r.devContiguous = false
			}
			continue
		}
		r.devContiguous = false
		for si, s := range r.static {
			if s.Name == d {
				r.devSource[i] = -si - 1
			}
		}
	}
}

// OptionsFromConfig are the mapper's options of the ingest section.
func OptionsFromConfig(in config.IngestConfig) Options {
	return Options{DefaultMapping: in.DefaultMapping, MaxPayloadBytes: int(in.MaxPayloadBytes), MaxFields: in.MaxFieldsPerMessage,
		MaxTopics: in.MaxDevices}
}
