package alerts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
)

// Rule is one alerting rule: either a PromQL expression evaluated periodically (Expr) or an event rule (Event)
// fed by (*Manager).Event. It follows Prometheus alerting-rule semantics: an alert is pending while the
// condition holds for less than For, then firing; it resolves when the condition stops holding, after
// KeepFiringFor.
type Rule struct {
	// Alert is the alert name, the "alertname" label of its alerts.
	Alert string
	// Expr is the PromQL expression; every series it returns is one alert. Empty for event rules.
	Expr string
	// For is how long the condition must hold before the alert fires. Zero fires at once.
	For time.Duration
	// KeepFiringFor keeps a firing alert firing this long after its condition stopped holding.
	KeepFiringFor time.Duration
	// Labels are added to every alert; values may use templates ({{ $labels.site }}, {{ $value }}).
	Labels map[string]string
	// Annotations are templated texts (summary, description, runbook_url) attached to every alert.
	Annotations map[string]string
	// File and Line say where the rule was defined, for error messages and the rules API.
	File string
	Line int
	// Group is the name of the rule group, the rule_group label of the evaluation metrics.
	Group string
	// Interval is the evaluation interval of the rule's group. Zero means Config.EvalInterval.
	Interval time.Duration
	// Event makes this an event rule; Expr must then be empty.
	Event *EventSpec
	// Flap overrides Config.Flap for this rule (rule file keys flap_count, flap_window, flap_notify); its zero
	// fields take the Config values.
	Flap FlapPolicy
}

// EventRuleKind names what an event rule watches.
type EventRuleKind string

// The event rule kinds and the Event.Kind each consumes.
const (
	// EventCameraOffline fires when a camera reported state offline, stalled or unauthorized (Event.Kind
	// "camera_state", label "state") and did not report "online" for For. Alert labels: By (default camera,
	// site).
	EventCameraOffline EventRuleKind = "camera_offline"
	// EventCameraTamper is active while the last "camera_tamper" event of a camera had a non-zero Value.
	// Alert labels: By (default camera, site, kind).
	EventCameraTamper EventRuleKind = "camera_tamper"
	// EventZoneMotion is active for Window (default 1m) after a "motion" event with Value above Threshold
	// whose time falls inside Schedule (e.g. "22:00-06:00") in Timezone. Alert labels: By (default camera,
	// site, zone).
	EventZoneMotion EventRuleKind = "zone_motion"
	// EventDeviceSilent is a dead-man switch: active when no "device_seen" event arrived for a key for
	// Window. Alert labels: By (default district, site, device).
	EventDeviceSilent EventRuleKind = "device_silent"
	// EventIngestRejected is active while the sum of "ingest_rejected" event values (0 counts as 1) in the
	// last Window (default 1m) is at least Threshold (default 1). Alert labels: By (default none).
	EventIngestRejected EventRuleKind = "ingest_rejected"
	// EventIngestStalled is active while the last "ingest_status" event says that nothing has been stored for
	// at least Window (default 1m) while messages keep arriving: the store refuses or fails every write. Events
	// come from the ingest pipeline itself, so it fires when the TSDB cannot write and PromQL sees nothing.
	// Alert labels: By (default none).
	EventIngestStalled EventRuleKind = "ingest_stalled"
)

// Event kinds (Event.Kind) consumed by the event rules.
const (
	// KindCameraState carries labels camera, site and state (online, offline, stalled, unauthorized, ...).
	KindCameraState = "camera_state"
	// KindCameraTamper carries labels camera, site, kind; Value 1 means tampered, 0 cleared.
	KindCameraTamper = "camera_tamper"
	// KindMotion carries labels camera, site, zone; Value is the motion score.
	KindMotion = "motion"
	// KindDeviceSeen says a device sent data; labels district, site, device.
	KindDeviceSeen = "device_seen"
	// KindIngestRejected counts rejected ingest messages; label reason; Value is the count (0 means 1).
	KindIngestRejected = "ingest_rejected"
	// KindIngestStatus is the ingest pipeline's periodic status; Value is how many seconds nothing has been
	// stored while messages keep arriving (0 while samples are stored).
	KindIngestStatus = "ingest_status"
)

// EventSpec configures an event rule.
type EventSpec struct {
	// Kind is the rule kind.
	Kind EventRuleKind
	// Match selects events whose labels equal all of these.
	Match map[string]string
	// By lists the event labels that identify one alert; the defaults are given per kind.
	By []string
	// Window is the silence length (device_silent, required), the hold time after motion (zone_motion,
	// default 1m) or the counting window (ingest_rejected, default 1m).
	Window time.Duration
	// Threshold is the minimum count in Window (ingest_rejected, default 1) or the motion score that counts
	// (zone_motion, default 0: any motion event).
	Threshold float64
	// Schedule is the daily local time range "HH:MM-HH:MM" during which motion alerts (zone_motion,
	// required); a range may cross midnight.
	Schedule string
	// Timezone is the IANA time zone of Schedule. It defaults to the local time zone.
	Timezone string
}

var eventKinds = map[EventRuleKind]struct {
	event string
	by    []string
}{
	EventCameraOffline:  {KindCameraState, []string{"camera", "site"}},
	EventCameraTamper:   {KindCameraTamper, []string{"camera", "site", "kind"}},
	EventZoneMotion:     {KindMotion, []string{"camera", "site", "zone"}},
	EventDeviceSilent:   {KindDeviceSeen, []string{"district", "site", "device"}},
	EventIngestRejected: {KindIngestRejected, nil},
	EventIngestStalled:  {KindIngestStatus, nil},
}

const defaultEventWindow = time.Minute

// compiledRule is a validated rule with its parsed parts.
type compiledRule struct {
	Rule
	key      string
	by       []string
	schedule *schedule
}

// ruleError prefixes err with the rule's position.
func (r *Rule) errorf(format string, args ...any) error {
	pos := r.File
	if r.Line > 0 {
		pos += ":" + strconv.Itoa(r.Line)
	}
	name := r.Alert
	if name == "" {
		name = "(unnamed)"
	}
	if pos != "" {
		return fmt.Errorf("%s: rule %q: "+format, append([]any{pos, name}, args...)...)
	}
	return fmt.Errorf("rule %q: "+format, append([]any{name}, args...)...)
}

var promParser = parser.NewParser(parser.Options{})

// compile validates r fully: name, expression, templates, labels, event spec.
func compile(r Rule) (*compiledRule, error) {
	var errs []error
	if !model.UTF8Validation.IsValidLabelName(r.Alert) || strings.TrimSpace(r.Alert) == "" {
		errs = append(errs, r.errorf("alert: invalid alert name %q", r.Alert))
	}
	if r.For < 0 || r.KeepFiringFor < 0 || r.Interval < 0 {
		errs = append(errs, r.errorf("for, keep_firing_for and interval must be >= 0"))
	}
	if err := r.Flap.validate(); err != nil {
		errs = append(errs, r.errorf("%w", err))
	}
	c := &compiledRule{Rule: r}
	switch {
	case r.Expr != "" && r.Event != nil:
		errs = append(errs, r.errorf("expr and event are mutually exclusive"))
	case r.Expr == "" && r.Event == nil:
		errs = append(errs, r.errorf("one of expr or event is required"))
	case r.Expr != "":
		if _, err := promParser.ParseExpr(r.Expr); err != nil {
			errs = append(errs, r.errorf("expr: %w", err))
		}
	default:
		if err := c.compileEvent(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		if !model.LegacyValidation.IsValidLabelName(k) || k == model.MetricNameLabel {
			errs = append(errs, r.errorf("labels: invalid label name %q", k))
		}
		if k == model.AlertNameLabel {
			errs = append(errs, r.errorf("labels: %q cannot be set, it is the alert name", k))
		}
		if err := checkTemplate(r.Labels[k]); err != nil {
			errs = append(errs, r.errorf("labels.%s: %w", k, err))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Annotations)) {
		if !model.LegacyValidation.IsValidLabelName(k) {
			errs = append(errs, r.errorf("annotations: invalid annotation name %q", k))
		}
		if err := checkTemplate(r.Annotations[k]); err != nil {
			errs = append(errs, r.errorf("annotations.%s: %w", k, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c.key = ruleKey(r)
	return c, nil
}

func (c *compiledRule) compileEvent() error {
	e := c.Event
	kind, ok := eventKinds[e.Kind]
	if !ok {
		return c.errorf("event: unknown event rule kind %q (want camera_offline, camera_tamper, zone_motion, device_silent, ingest_rejected or ingest_stalled)", e.Kind)
	}
	c.by = kind.by
	if e.By != nil {
		c.by = slices.Clone(e.By)
	}
	for _, l := range c.by {
		if !model.LegacyValidation.IsValidLabelName(l) || l == model.AlertNameLabel {
			return c.errorf("by: invalid label name %q", l)
		}
	}
	if e.Window < 0 || e.Threshold < 0 {
		return c.errorf("window and threshold must be >= 0")
	}
	switch e.Kind {
	case EventDeviceSilent:
		if e.Window <= 0 {
			return c.errorf("window: required for device_silent (how long without data counts as silent)")
		}
	case EventZoneMotion:
		if e.Schedule == "" {
			return c.errorf("schedule: required for zone_motion, e.g. \"22:00-06:00\"")
		}
		s, err := parseSchedule(e.Schedule, e.Timezone)
		if err != nil {
			return c.errorf("%w", err)
		}
		c.schedule = s
	}
	if e.Kind != EventZoneMotion && (e.Schedule != "" || e.Timezone != "") {
		return c.errorf("schedule and timezone apply only to zone_motion")
	}
	return nil
}

func (c *compiledRule) window() time.Duration {
	if c.Event != nil && c.Event.Window > 0 {
		return c.Event.Window
	}
	return defaultEventWindow
}

// ruleKey identifies a rule across reloads and restarts: alerts of a rule whose key is unchanged keep their
// state. Timings and annotations are not part of it, so tuning them keeps the state.
func ruleKey(r Rule) string {
	h := sha256.New()
	w := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	w(r.Group)
	w(r.Alert)
	w(r.Expr)
	for _, k := range slices.Sorted(maps.Keys(r.Labels)) {
		w(k)
		w(r.Labels[k])
	}
	if e := r.Event; e != nil {
		w(string(e.Kind))
		for _, k := range slices.Sorted(maps.Keys(e.Match)) {
			w(k)
			w(e.Match[k])
		}
		w(strings.Join(e.By, ","))
		w(e.Schedule)
		w(e.Timezone)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// schedule is a daily local time range.
type schedule struct {
	from, to int // minutes since midnight
	loc      *time.Location
}

func parseSchedule(s, tz string) (*schedule, error) {
	loc := time.Local
	if tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, fmt.Errorf("timezone: %w", err)
		}
		loc = l
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return nil, fmt.Errorf("schedule: want \"HH:MM-HH:MM\", got %q", s)
	}
	f, err1 := parseClock(strings.TrimSpace(from))
	t, err2 := parseClock(strings.TrimSpace(to))
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("schedule %q: %w", s, err)
	}
	if f == t {
		return nil, fmt.Errorf("schedule %q: start and end are equal", s)
	}
	return &schedule{from: f, to: t, loc: loc}, nil
}

func parseClock(s string) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || err1 != nil || err2 != nil || len(hh) == 0 || len(hh) > 2 || len(mm) != 2 || h < 0 || h > 24 ||
		m < 0 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("bad time of day %q (want HH:MM)", s)
	}
	return h*60 + m, nil
}

// contains says whether t falls inside the schedule.
func (s *schedule) contains(t time.Time) bool {
	lt := t.In(s.loc)
	m := lt.Hour()*60 + lt.Minute()
	if s.from < s.to {
		return m >= s.from && m < s.to
	}
	return m >= s.from || m < s.to
}
