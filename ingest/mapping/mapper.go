package mapping

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"citywatch/ingest/decode"
	"citywatch/store"
)

// Mapper maps messages to samples with compiled rules and, optionally, the default mapping. It is safe for
// concurrent use.
type Mapper struct {
	rules      []rule
	maxPayload int
	maxFields  int
	pool       sync.Pool // *scratch
	topics     *topicCache
}

// cacheSize bounds each per-scratch name cache; a full cache is emptied, so hostile payloads with ever-new
// names cost speed, never memory.
const cacheSize = 4096

// scratch is per-goroutine working memory: a decoder and caches of the names it has already checked, so the
// steady state maps a message without allocating names.
type scratch struct {
	dec    decode.Decoder
	names  map[string]nameEntry
	lnames map[string]string // raw tag name → label name, "" when refused
	values map[string]string
	key    []byte
}

func newScratch() *scratch {
	return &scratch{names: map[string]nameEntry{}, lnames: map[string]string{}, values: map[string]string{}}
}

// nameEntry is the cached outcome of naming one field under one rule and base.
type nameEntry struct {
	name    string // final metric name
	bad     string // why the name cannot be used, or ""
	drop    bool   // excluded by include/exclude
	changed bool   // sanitizing changed the name, so two fields may collide
	scaled  bool
	scale   Scale
}

func reject(reason string, format string, args ...any) *RejectError {
	return &RejectError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// Map maps one message. Samples without a time of their own get now. A message that cannot be mapped returns
// a *RejectError whose Reason is one of the Reason* constants; no samples are returned with it, so a message
// is stored whole or not at all. A Result with no samples and a nil error means the rule's include/exclude
// patterns dropped every field on purpose.
//
// The Result shares no memory with payload. Samples of one record share one Labels slice (with len == cap,
// so appending to it copies), and so do the records without tags of every message on one topic while the
// topic is in the topic cache (topics.go); callers must not modify labels in place.
func (m *Mapper) Map(topic string, payload []byte, now time.Time) (Result, error) {
	return m.MapAppend(nil, topic, payload, now)
}

// MapAppend is Map with the samples appended to dst[:0], so that a caller that maps message after message can
// reuse one buffer instead of allocating a slice per message. Result.Samples then shares dst's array when it
// is large enough; the caller must not reuse dst while it uses the Result.
func (m *Mapper) MapAppend(dst []store.Sample, topic string, payload []byte, now time.Time) (Result, error) {
	if len(payload) > m.maxPayload {
		return Result{}, reject(ReasonTooLarge, "payload of %d bytes exceeds the limit of %d", len(payload), m.maxPayload)
	}
	e, h := m.topics.get(topic)
	var t topicLevels // its captures are only set (and used) when the topic is not in the cache
	var r *rule
	var ms span
	if e != nil {
		r, ms, t = e.r, e.ms, topicLevels{topic: topic, ascii: e.ascii}
	} else {
		var err error
		if r, t, ms, err = m.match(topic); err != nil {
			return Result{}, err
		}
	}
	sc := m.pool.Get().(*scratch)
	defer m.pool.Put(sc)
	if e == nil && m.topics.admit(h) {
		e = m.newTopicEntry(sc, r, &t, ms, h)
	}
	res, err := m.decode(sc, r, &t, e, ms, payload, now, dst)
	if err != nil {
		// The topic named a device: say which, so the rejection counts against it in the device registry.
		var dev Result
		switch {
		case e != nil:
			dev.Device, dev.DeviceLabels = e.device, e.devLbl
		case len(r.devLabels) > 0:
			if _, lerr := sc.labels(r, &t, nil, &dev); lerr != nil {
				dev = Result{}
			}
		}
		return Result{Device: dev.Device, DeviceLabels: dev.DeviceLabels}, err
	}
	return res, nil
}

// match checks a topic that is not in the topic cache and finds the first rule that maps it.
func (m *Mapper) match(topic string) (*rule, topicLevels, span, error) {
	var t topicLevels
	var ms span
	if len(topic) > MaxTopicBytes {
		return nil, t, ms, reject(ReasonTooLarge, "topic of %d bytes exceeds the limit of %d", len(topic), MaxTopicBytes)
	}
	okTopic, ascii := validTopic(topic)
	if !okTopic {
		return nil, t, ms, reject(ReasonUnmappedTopic, "topic %.200q has an empty level or a wildcard", topic)
	}
	if !ascii && !utf8.ValidString(topic) {
		return nil, t, ms, reject(ReasonUnmappedTopic, "topic %.200q is not valid UTF-8", topic)
	}
	t = topicLevels{topic: topic, ascii: ascii}
	for i := range m.rules {
		if m.rules[i].tmpl.match(topic, &t.caps, &ms) {
			return &m.rules[i], t, ms, nil
		}
	}
	return nil, t, ms, reject(ReasonUnmappedTopic, "no rule matches topic %.200q", topic)
}

// newTopicEntry puts what topic t (of hash h) decides under rule r into the topic cache and returns it, or nil
// when its labels cannot be built (such a topic keeps failing without an entry).
func (m *Mapper) newTopicEntry(sc *scratch, r *rule, t *topicLevels, ms span, h uint64) *topicEntry {
	own := *t
	own.topic = strings.Clone(t.topic) // the labels are substrings of it: hold no caller's memory
	var res Result
	ls, err := sc.labels(r, &own, nil, &res)
	if err != nil {
		return nil
	}
	e := &topicEntry{topic: own.topic, r: r, ms: ms, ascii: t.ascii, labels: ls, device: res.Device,
		devLbl: res.DeviceLabels}
	m.topics.put(h, e)
	return e
}

// decode maps the payload of a message whose topic matched rule r.
// e is the topic's cache entry, or nil.
func (m *Mapper) decode(sc *scratch, r *rule, t *topicLevels, e *topicEntry, ms span, payload []byte, now time.Time, dst []store.Sample) (Result, error) {
	if blank(payload) {
		return Result{}, reject(ReasonNoFields, "empty payload on topic %.200q", t.topic)
	}
	format := r.format
	if format == decode.FormatAuto {
		format = decode.Detect(payload)
	}
	if r.allowed&formatBit(format) == 0 {
		return Result{}, reject(ReasonUnmappedTopic, "%s maps no %s payload on topic %.200q%s", r.name, format, t.topic, defaultHint(format))
	}
	sc.dec.MaxFields = m.maxFields
	recs, _, err := sc.dec.Decode(format, payload, r.prec, now)
	if err != nil {
		return Result{}, &RejectError{Reason: reasonFor(format, err), Err: fmt.Errorf("%s payload: %w", format, err)}
	}
	base := r.metric
	if base == "" && r.tmpl.metric && format != decode.FormatLineProtocol {
		base = t.topic[ms.start:ms.end]
	}
	if format == decode.FormatNumber && base == "" {
		return Result{}, reject(ReasonBadName, "plain number on topic %.200q, but rule %q names no metric", t.topic, r.name)
	}
	return sc.build(r, t, e, base, recs, now, m.maxFields, dst)
}

func blank(p []byte) bool {
	for _, c := range p {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func defaultHint(f decode.Format) string {
	switch f {
	case decode.FormatNumber:
		return " (a plain number needs city/{district}/{site}/{device}/{metric})"
	case decode.FormatJSON, decode.FormatSenML:
		return " (JSON and SenML need city/{district}/{site}/{device})"
	}
	return ""
}

func reasonFor(f decode.Format, err error) string {
	if errors.Is(err, decode.ErrTimestamp) {
		return ReasonBadTimestamp
	}
	if errors.Is(err, decode.ErrTooManyFields) {
		return ReasonTooManyFields
	}
	switch f {
	case decode.FormatJSON:
		return ReasonBadJSON
	case decode.FormatLineProtocol:
		return ReasonBadLine
	case decode.FormatSenML:
		return ReasonBadSenML
	}
	return ReasonBadNumber
}

// topicLevels is a matched topic and its captures.
type topicLevels struct {
	topic string
	caps  [MaxCaptures]span
	ascii bool
}

// capture returns capture i as a label value.
func (t *topicLevels) capture(i int) string {
	v := t.topic[t.caps[i].start:t.caps[i].end]
	if t.ascii {
		return v
	}
	return labelValue(v)
}

func (sc *scratch) build(r *rule, topic *topicLevels, te *topicEntry, base string, recs []decode.Record, now time.Time, maxFields int, dst []store.Sample) (Result, error) {
	total := 0
	for i := range recs {
		total += len(recs[i].Fields)
	}
	if total == 0 {
		return Result{}, reject(ReasonNoFields, "payload on topic %.200q has no numeric field", topic.topic)
	}
	if total > maxFields {
		return Result{}, reject(ReasonTooManyFields, "%d fields, more than the limit of %d per message", total, maxFields)
	}
	var res Result
	if te != nil {
		res.Device, res.DeviceLabels = te.device, te.devLbl
	}
	res.Samples = slices.Grow(dst[:0], total)
	res.ArrivalTime = true
	nowMs := now.UnixMilli()
	var labels []store.Label
	var hint *store.SeriesHint
	var prevTags []store.Label
	for i := range recs {
		rec := &recs[i]
		if len(rec.Fields) == 0 {
			continue
		}
		if labels == nil || !sameTags(prevTags, rec.Tags) {
			var err error
			labels, hint, err = sc.recordLabels(r, topic, te, rec.Tags, &res)
			if err != nil {
				return Result{}, err
			}
			prevTags = rec.Tags
		}
		t := nowMs
		if !rec.Time.IsZero() && !rec.Time.Equal(now) { // SenML without a time resolves to now exactly
			t = rec.Time.UnixMilli()
			res.ArrivalTime = false
		}
		recBase := base
		if recBase == "" {
			recBase = rec.Measurement
		}
		first := len(res.Samples)
		changed := false
		for _, f := range rec.Fields {
			e := sc.name(r, recBase, f.Name)
			if e.bad != "" {
				return Result{}, reject(ReasonBadName, "%s", e.bad)
			}
			if e.drop {
				continue
			}
			changed = changed || e.changed
			v := f.Value
			if e.scaled {
				v = v*e.scale.Factor + e.scale.Offset
				if math.IsInf(v, 0) || math.IsNaN(v) {
					return Result{}, reject(ReasonBadNumber, "field %.80q: scaled value overflows", f.Name)
				}
			}
			res.Samples = append(res.Samples, store.Sample{Name: e.name, Labels: labels, T: t, V: v, Hint: hint})
		}
		if changed {
			if name, dup := dupSample(res.Samples[first:]); dup {
				return Result{}, reject(ReasonBadName, "two fields become metric %q", name)
			}
		}
	}
	if res.DeviceLabels == nil && len(r.devLabels) > 0 {
		// Every record was dropped before labels were built; the device is still known.
		if _, err := sc.labels(r, topic, nil, &res); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// dupSample returns a metric name two samples of one record share.
func dupSample(s []store.Sample) (string, bool) {
	if len(s) > 32 {
		seen := make(map[string]struct{}, len(s))
		for _, x := range s {
			if _, ok := seen[x.Name]; ok {
				return x.Name, true
			}
			seen[x.Name] = struct{}{}
		}
		return "", false
	}
	for i := 1; i < len(s); i++ {
		for j := 0; j < i; j++ {
			if s[i].Name == s[j].Name {
				return s[i].Name, true
			}
		}
	}
	return "", false
}

func sameTags(a, b []store.Label) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// recordLabels returns the labels of a record, and the series hint of its samples (nil unless the labels are
// the topic entry's). e is the topic's cache entry or nil; with an entry the topic's labels are not built
// again, and its captures (topic.caps) are not set.
func (sc *scratch) recordLabels(r *rule, topic *topicLevels, e *topicEntry, tags []store.Label, res *Result) ([]store.Label, *store.SeriesHint, error) {
	if e == nil {
		ls, err := sc.labels(r, topic, tags, res)
		return ls, nil, err
	}
	if len(tags) == 0 {
		return e.labels, &e.hint, nil
	}
	// As labels does: the topic's and the rule's labels, then the tags, sorted.
	ls := make([]store.Label, len(e.labels), len(e.labels)+len(tags))
	copy(ls, e.labels)
	ls, err := sc.addTags(ls, tags)
	if err != nil {
		return nil, nil, err
	}
	sortLabels(ls)
	if len(ls) > MaxLabels {
		return nil, nil, reject(ReasonBadName, "%d labels, more than the limit of %d", len(ls), MaxLabels)
	}
	return ls[:len(ls):len(ls)], nil, nil
}

// labels builds the sorted labels of a record: topic captures, static labels, then tags. The first call of a
// message also fills res.Device and res.DeviceLabels from the same allocation.
func (sc *scratch) labels(r *rule, topic *topicLevels, tags []store.Label, res *Result) ([]store.Label, error) {
	nCap, nDev := len(r.tmpl.labels), 0
	if res.DeviceLabels == nil {
		nDev = len(r.devLabels)
	}
	need := nCap + len(r.static) + len(tags)
	all := make([]store.Label, nDev, nDev+need)
	ls := all[nDev:nDev]
	for _, o := range r.order {
		if o >= 0 {
			ls = append(ls, store.Label{Name: r.tmpl.labels[o], Value: topic.capture(o)})
		} else {
			ls = append(ls, r.static[-o-1])
		}
	}
	if len(tags) > 0 {
		var err error
		if ls, err = sc.addTags(ls, tags); err != nil {
			return nil, err
		}
		sortLabels(ls)
	}
	if len(ls) > MaxLabels {
		return nil, reject(ReasonBadName, "%d labels, more than the limit of %d", len(ls), MaxLabels)
	}
	ls = ls[:len(ls):len(ls)]
	if nDev > 0 {
		dev := all[:nDev:nDev]
		for k, i := range r.devSorted {
			if src := r.devSource[i]; src >= 0 {
				dev[k] = store.Label{Name: r.devLabels[i], Value: topic.capture(src)}
			} else {
				dev[k] = r.static[-src-1]
			}
		}
		res.DeviceLabels = dev
		if r.devContiguous && topic.ascii {
			res.Device = topic.topic[topic.caps[r.devSource[0]].start:topic.caps[r.devSource[nDev-1]].end]
		} else {
			var b strings.Builder
			for i := range r.devLabels { // in the configured order
				if i > 0 {
					b.WriteByte('/')
				}
				b.WriteString(dev[r.devPos[i]].Value)
			}
			res.Device = b.String()
		}
	}
	return ls, nil
}

// addTags appends tags as labels to ls, whose labels come from the topic and the rule. A tag never silently
// replaces one of those: like a Prometheus target label with honor_labels off, it is kept as
// exported_<name> (prefixed again while that is taken too). Tags are added in two passes so the outcome does
// not depend on their order. Two tags that sanitize to the same name are rejected (bad_name), as are tags
// whose names cannot be label names ("__" prefix, empty, too long).
func (sc *scratch) addTags(ls, tags []store.Label) ([]store.Label, error) {
	fixed := len(ls)
	// Few tags are checked by scanning; many (a hostile line) by a set, so the cost stays linear.
	var seen map[string]bool
	if len(tags) > 16 {
		seen = make(map[string]bool, len(tags))
	}
	taken := func(ls []store.Label, from int, name string) bool {
		if seen != nil {
			return seen[name] || hasLabel(ls[:fixed], name)
		}
		return hasLabel(ls[from:], name)
	}
	conflicts := 0
	for _, tag := range tags {
		if tag.Value == "" {
			continue
		}
		name := sc.labelName(tag.Name)
		if name == "" {
			return nil, reject(ReasonBadName, "tag %.80q cannot be a label name", tag.Name)
		}
		if len(tag.Value) > MaxLabelValueBytes {
			return nil, reject(ReasonTooLarge, "tag %.80q: value of %d bytes exceeds the limit of %d", tag.Name, len(tag.Value), MaxLabelValueBytes)
		}
		if hasLabel(ls[:fixed], name) {
			conflicts++
			continue
		}
		if taken(ls, fixed, name) {
			return nil, reject(ReasonBadName, "two tags become label %q", name)
		}
		ls = append(ls, store.Label{Name: name, Value: sc.value(tag.Value)})
		if seen != nil {
			seen[name] = true
		}
	}
	if conflicts == 0 {
		return ls, nil
	}
	for _, tag := range tags {
		if tag.Value == "" {
			continue
		}
		name := sc.labelName(tag.Name)
		if !hasLabel(ls[:fixed], name) {
			continue
		}
		for taken(ls, 0, name) {
			name = "exported_" + name
		}
		if len(name) > MaxNameLen {
			return nil, reject(ReasonBadName, "tag %.80q: label name too long", tag.Name)
		}
		ls = append(ls, store.Label{Name: name, Value: sc.value(tag.Value)})
		if seen != nil {
			seen[name] = true
		}
	}
	return ls, nil
}

func hasLabel(ls []store.Label, name string) bool {
	for _, l := range ls {
		if l.Name == name {
			return true
		}
	}
	return false
}

// sortLabels sorts without allocating: by insertion for the usual small, mostly sorted sets.
func sortLabels(ls []store.Label) {
	if len(ls) > 16 {
		slices.SortFunc(ls, func(a, b store.Label) int { return strings.Compare(a.Name, b.Name) })
		return
	}
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].Name < ls[j-1].Name; j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}

// labelName returns the label name for a raw tag name, or "" when it cannot be one. The result never aliases
// raw, which points into decoder memory.
func (sc *scratch) labelName(raw string) string {
	if n, ok := sc.lnames[raw]; ok {
		return n
	}
	n := sanitize(raw, false, false)
	if n == "" || len(n) > MaxNameLen || strings.HasPrefix(n, "__") {
		n = ""
	} else {
		n = strings.Clone(n)
	}
	if len(sc.lnames) >= cacheSize {
		clear(sc.lnames)
	}
	sc.lnames[strings.Clone(raw)] = n
	return n
}

// value returns a label value owned by the caller for raw, which points into decoder memory.
func (sc *scratch) value(raw string) string {
	if v, ok := sc.values[raw]; ok {
		return v
	}
	v := strings.Clone(labelValue(raw))
	if len(sc.values) >= cacheSize {
		clear(sc.values)
	}
	if v == raw {
		sc.values[v] = v
	} else {
		sc.values[strings.Clone(raw)] = v
	}
	return v
}

// name returns the cached naming of field under rule r and base.
func (sc *scratch) name(r *rule, base, field string) nameEntry {
	k := append(sc.key[:0], byte(r.idx>>8), byte(r.idx))
	k = append(k, base...)
	k = append(k, 0)
	k = append(k, field...)
	sc.key = k
	if e, ok := sc.names[string(k)]; ok {
		return e
	}
	e := r.nameEntry(base, field)
	if len(sc.names) >= cacheSize {
		clear(sc.names)
	}
	sc.names[string(k)] = e
	return e
}

// nameEntry names field: base and field joined with "_", sanitized, filtered, scaled, then prefixed.
func (r *rule) nameEntry(base, field string) nameEntry {
	joined := field
	switch {
	case base != "" && field != "":
		joined = base + "_" + field
	case base != "":
		joined = base
	}
	u := sanitize(joined, true, true)
	if u == "" {
		return nameEntry{bad: fmt.Sprintf("empty metric name (rule %q)", r.name)}
	}
	if !hasAlnum(u) {
		return nameEntry{bad: fmt.Sprintf("field %.80q gives metric name %.80q, which has no letter or digit", field, u)}
	}
	e := nameEntry{changed: u != joined}
	if len(r.include) > 0 && !matchAny(r.include, u) || matchAny(r.exclude, u) {
		e.drop = true
		return e
	}
	if s, ok := r.scale[u]; ok {
		e.scaled, e.scale = true, s
	}
	final := r.prefix + u
	if final[0] >= '0' && final[0] <= '9' {
		final = "_" + final
		e.changed = true // "1a" and "_1a" now collide
	}
	if len(final) > MaxNameLen {
		return nameEntry{bad: fmt.Sprintf("metric name %.80q… is longer than %d bytes", final, MaxNameLen)}
	}
	if strings.HasPrefix(final, "__") {
		return nameEntry{bad: fmt.Sprintf("metric name %.80q starts with \"__\", which Prometheus reserves", final)}
	}
	e.name = strings.Clone(final)
	return e
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
