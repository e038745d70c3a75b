package promapi

import (
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"citywatch/dashboards/auth"
)

// RuleSource gives /api/v1/rules and /api/v1/alerts citywatch's alert rules and active alerts. Its methods are
// called per request and must be safe for concurrent use.
type RuleSource interface {
	// Rules returns every loaded rule with its evaluation health, in file order.
	Rules() []Rule
	// ActiveAlerts returns the pending and firing alerts.
	ActiveAlerts() []Alert
}

// Rule is one alert rule as the rules endpoint shows it.
type Rule struct {
	// Group, File and GroupInterval place the rule: its group, the file it was loaded from and the group's
	// evaluation interval.
	Group, File   string
	GroupInterval time.Duration
	// Name is the alert name; Query the PromQL expression, or for an event rule a description of the event
	// it watches ("event camera_offline").
	Name, Query string
	// For and KeepFiringFor are the rule's for and keep_firing_for.
	For, KeepFiringFor time.Duration
	// Labels and Annotations are the rule's own (templates unexpanded).
	Labels, Annotations map[string]string
	// Health is "ok", "err" or "unknown" (not evaluated yet); LastError the last evaluation error.
	Health, LastError string
	// LastEval is when the rule was last evaluated, EvalDuration how long that took.
	LastEval     time.Time
	EvalDuration time.Duration
}

// Alert is one pending or firing alert.
type Alert struct {
	// Rule and Group name the rule that raised it.
	Rule, Group string
	// Labels (alertname and site included) and Annotations are the alert's, templates expanded.
	Labels, Annotations map[string]string
	// State is "pending" or "firing".
	State string
	// ActiveAt is when the condition started to hold.
	ActiveAt time.Time
	// Value is the last value of the rule's expression (NaN if unknown).
	Value float64
}

// siteLabel is the label whose value decides who may see an alert.
const siteLabel = "site"

// alertVisibility returns which alerts the request's principal may see: nil means all (principals of every
// site, and requests without a principal, as ScopeToSites), otherwise those whose site label is one of theirs;
// an alert without a site is not theirs (fail closed).
func alertVisibility(r *http.Request) func(Alert) bool {
	p, ok := auth.FromContext(r.Context())
	if !ok || p.AllSites() {
		return nil
	}
	return func(al Alert) bool { return p.CanSeeSite(al.Labels[siteLabel]) }
}

// promAlert is Prometheus' Alert.
type promAlert struct {
	Labels      labels.Labels `json:"labels"`
	Annotations labels.Labels `json:"annotations"`
	State       string        `json:"state"`
	ActiveAt    *time.Time    `json:"activeAt,omitempty"`
	Value       string        `json:"value"`
}

func toPromAlert(al Alert) *promAlert {
	out := &promAlert{Labels: labels.FromMap(al.Labels), Annotations: labels.FromMap(al.Annotations), State: al.State,
		Value: strconv.FormatFloat(al.Value, 'e', -1, 64)}
	if !al.ActiveAt.IsZero() {
		t := al.ActiveAt
		out.ActiveAt = &t
	}
	return out
}

// visibleAlerts are the source's active alerts the request may see.
func (a *API) visibleAlerts(r *http.Request) []Alert {
	if a.ruleSource == nil {
		return nil
	}
	list := a.ruleSource.ActiveAlerts()
	if visible := alertVisibility(r); visible != nil {
		list = slices.DeleteFunc(list, func(al Alert) bool { return !visible(al) })
	}
	return list
}

// alerts answers /api/v1/alerts: Prometheus' AlertDiscovery of the active alerts the principal may see.
func (a *API) alerts(r *http.Request) apiResult {
	list := a.visibleAlerts(r)
	out := make([]*promAlert, 0, len(list))
	for _, al := range list {
		out = append(out, toPromAlert(al))
	}
	return apiResult{data: struct {
		Alerts []*promAlert `json:"alerts"`
	}{out}}
}

// ruleGroup and alertingRule are Prometheus' RuleGroup and AlertingRule (citywatch has no recording rules).
type ruleGroup struct {
	Name           string          `json:"name"`
	File           string          `json:"file"`
	Rules          []*alertingRule `json:"rules"`
	Interval       float64         `json:"interval"`
	Limit          int             `json:"limit"`
	EvaluationTime float64         `json:"evaluationTime"`
	LastEvaluation time.Time       `json:"lastEvaluation"`
}

type alertingRule struct {
	State          string        `json:"state"`
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Duration       float64       `json:"duration"`
	KeepFiringFor  float64       `json:"keepFiringFor"`
	Labels         labels.Labels `json:"labels"`
	Annotations    labels.Labels `json:"annotations"`
	Alerts         []*promAlert  `json:"alerts,omitempty"`
	Health         string        `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           string        `json:"type"`
}

// scopedRuleError replaces a rule's evaluation error for principals limited to some sites: the error may
// name series or label values of any site.
const scopedRuleError = "the rule's last evaluation failed (the error is shown to accounts that see every site)"

// ruleFilter is the parsed filter parameters of /api/v1/rules, as Prometheus reads them.
type ruleFilter struct {
	alerting, recording bool
	excludeAlerts       bool
	names, groups       map[string]bool
	files               map[string]bool
	match               [][]*labels.Matcher
}

func (a *API) parseRuleFilter(r *http.Request) (ruleFilter, *apiError) {
	f := ruleFilter{alerting: true, recording: true}
	switch typ := r.Form.Get("type"); typ {
	case "":
	case "alert":
		f.recording = false
	case "record":
		f.alerting = false
	default:
		return f, invalidParam(errors.New(`not supported value "`+typ+`"`), "type")
	}
	excl, err := parseBoolParam(r.Form.Get("exclude_alerts"))
	if err != nil {
		return f, invalidParam(err, "exclude_alerts")
	}
	f.excludeAlerts = excl
	set := func(vs []string) map[string]bool {
		if len(vs) == 0 {
			return nil
		}
		m := map[string]bool{}
		for _, v := range vs {
			m[v] = true
		}
		return m
	}
	f.names, f.groups, f.files = set(r.Form["rule_name[]"]), set(r.Form["rule_group[]"]), set(r.Form["file[]"])
	if len(r.Form["match[]"]) > 0 {
		if f.match, err = parseMatchers(a.parser, r.Form["match[]"]); err != nil {
			return f, invalidParam(err, "match[]")
		}
	}
	return f, nil
}

// parseBoolParam reads an optional boolean parameter; empty is false.
func parseBoolParam(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	return strconv.ParseBool(s)
}

// keep reports whether rule passes the filter.
func (f ruleFilter) keep(rl Rule) bool {
	switch {
	case !f.alerting,
		f.names != nil && !f.names[rl.Name],
		f.groups != nil && !f.groups[rl.Group],
		f.files != nil && !f.files[rl.File]:
		return false
	case f.match == nil:
		return true
	}
	lset := labels.FromMap(rl.Labels)
	for _, ms := range f.match {
		if matchesAll(ms, lset) {
			return true
		}
	}
	return false
}

func matchesAll(ms []*labels.Matcher, lset labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}

// rules answers /api/v1/rules: Prometheus' RuleDiscovery of citywatch's alert rules. Every principal who may
// read sees the rule definitions (as /api/rules shows them); a principal limited to some sites sees only the
// alerts of their sites, each rule's state derived from those alerts, and no evaluation error text.
func (a *API) rules(r *http.Request) apiResult {
	f, apiErr := a.parseRuleFilter(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	groups := []*ruleGroup{}
	if a.ruleSource == nil {
		return apiResult{data: ruleDiscovery{groups}}
	}
	scoped := alertVisibility(r) != nil
	byRule := map[[2]string][]Alert{}
	for _, al := range a.visibleAlerts(r) {
		k := [2]string{al.Group, al.Rule}
		byRule[k] = append(byRule[k], al)
	}
	index := map[[2]string]*ruleGroup{}
	for _, rl := range a.ruleSource.Rules() {
		if !f.keep(rl) {
			continue
		}
		g := index[[2]string{rl.File, rl.Group}]
		if g == nil {
			g = &ruleGroup{Name: rl.Group, File: rl.File, Interval: rl.GroupInterval.Seconds(), Rules: []*alertingRule{}}
			index[[2]string{rl.File, rl.Group}] = g
			groups = append(groups, g)
		}
		out := toAlertingRule(rl, byRule[[2]string{rl.Group, rl.Name}], f.excludeAlerts)
		if scoped && out.LastError != "" {
			out.LastError = scopedRuleError
		}
		g.Rules = append(g.Rules, out)
		g.EvaluationTime += out.EvaluationTime
		if rl.LastEval.After(g.LastEvaluation) {
			g.LastEvaluation = rl.LastEval
		}
	}
	return apiResult{data: ruleDiscovery{groups}}
}

type ruleDiscovery struct {
	Groups []*ruleGroup `json:"groups"`
}

// toAlertingRule renders rl with its (visible) alerts; the rule's state is the most advanced of theirs.
func toAlertingRule(rl Rule, active []Alert, excludeAlerts bool) *alertingRule {
	out := &alertingRule{State: "inactive", Name: rl.Name, Query: rl.Query, Duration: rl.For.Seconds(),
		KeepFiringFor: rl.KeepFiringFor.Seconds(), Labels: labels.FromMap(rl.Labels),
		Annotations: labels.FromMap(rl.Annotations), Health: rl.Health, LastError: rl.LastError,
		EvaluationTime: rl.EvalDuration.Seconds(), LastEvaluation: rl.LastEval, Type: "alerting"}
	if out.Health == "" {
		out.Health = "unknown"
	}
	if !excludeAlerts {
		out.Alerts = make([]*promAlert, 0, len(active))
	}
	for _, al := range active {
		switch {
		case al.State == "firing":
			out.State = "firing"
		case al.State == "pending" && out.State == "inactive":
			out.State = "pending"
		}
		if !excludeAlerts {
			out.Alerts = append(out.Alerts, toPromAlert(al))
		}
	}
	if math.IsNaN(out.EvaluationTime) {
		out.EvaluationTime = 0
	}
	return out
}
