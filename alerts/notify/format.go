package notify

import (
	"encoding/json"
	"errors"
	"html"
	"net/url"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"

	"citywatch/internal/tmplfuncs"
)

// Payload is the citywatch JSON notification body, and the data a custom template is executed with. It is
// tmplfuncs.Payload, so configuration validation executes templates with the very type the outbox uses.
type Payload = tmplfuncs.Payload

// storedChange is the persisted form of a Change (NaN values are not valid JSON).
type storedChange struct {
	Fingerprint    string            `json:"fingerprint"`
	Name           string            `json:"name"`
	State          string            `json:"state"`
	Reminder       bool              `json:"reminder,omitempty"`
	Flapping       bool              `json:"flapping,omitempty"`
	FlapCount      int               `json:"flap_count,omitempty"`
	Seq            int               `json:"seq,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	Value          *float64          `json:"value"`
	StartsAt       time.Time         `json:"starts_at"`
	EndsAt         time.Time         `json:"ends_at"`
	OutageDuration time.Duration     `json:"outage_ns,omitempty"`
	AckedBy        string            `json:"acked_by,omitempty"`
	GeneratorURL   string            `json:"generator_url,omitempty"`
}

func toStored(c Change) storedChange {
	return storedChange{Fingerprint: c.Fingerprint, Name: c.Name, State: c.State, Reminder: c.Reminder, Seq: c.Seq,
		Flapping: c.Flapping, FlapCount: c.FlapCount,
		Labels: c.Labels, Annotations: c.Annotations, Value: floatPtr(c.Value), StartsAt: c.StartsAt.UTC(),
		EndsAt: c.EndsAt.UTC(), OutageDuration: c.OutageDuration, AckedBy: c.AckedBy, GeneratorURL: c.GeneratorURL}
}

// NewPayload builds the citywatch payload of a change for a receiver. externalURL prefixes media links.
func NewPayload(id, receiver, externalURL string, c Change) Payload {
	return buildPayload(id, receiver, externalURL, toStored(c))
}

func buildPayload(id, receiver, externalURL string, c storedChange) Payload {
	p := Payload{Version: "1", ID: id, Receiver: receiver, Alert: c.Name, State: c.State, Reminder: c.Reminder,
		Flapping: c.Flapping, FlapCount: c.FlapCount,
		Site: c.Labels["site"], Fingerprint: c.Fingerprint, Labels: c.Labels, Annotations: c.Annotations,
		Value: c.Value, StartsAt: c.StartsAt, AckedBy: c.AckedBy, GeneratorURL: c.GeneratorURL}
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	if !c.EndsAt.IsZero() && c.EndsAt.Year() > 1 {
		e := c.EndsAt
		p.EndsAt = &e
	}
	if c.State == "resolved" {
		s := c.OutageDuration.Seconds()
		if c.OutageDuration == 0 && p.EndsAt != nil {
			s = p.EndsAt.Sub(c.StartsAt).Seconds()
		}
		p.OutageSeconds = &s
	}
	lv, ok := c.Annotations["last_values"]
	if !ok {
		lv, ok = c.Labels["last_values"]
	}
	if ok {
		if json.Valid([]byte(lv)) {
			p.LastValues = json.RawMessage(lv)
		} else {
			p.LastValues, _ = json.Marshal(lv)
		}
	}
	base := strings.TrimSuffix(externalURL, "/")
	if cam := c.Labels["camera"]; cam != "" {
		p.SnapshotURL = base + "/api/cameras/" + url.PathEscape(cam) + "/snapshot.jpg"
		if clip := c.Annotations["clip_url"]; clip != "" {
			p.ClipURL = clip
		} else if clipID := c.Annotations["clip_id"]; clipID != "" {
			p.ClipURL = base + "/api/cameras/" + url.PathEscape(cam) + "/clips/" + url.PathEscape(clipID)
		}
	}
	p.Summary = c.Annotations["summary"]
	if p.Summary == "" {
		p.Summary = defaultSummary(p)
	}
	return p
}

func defaultSummary(p Payload) string {
	s := payloadText(p, "notify.summary.plain", "alert", p.Alert, "state", payloadStateText(p))
	if p.Site != "" {
		s = payloadText(p, "notify.summary.site", "alert", p.Alert, "state", payloadStateText(p), "site", p.Site)
	}
	if p.Value != nil {
		s = payloadText(p, "notify.summary.value", "summary", s, "value", payloadNumber(p, *p.Value))
	}
	return s
}

// payloadTitle is the one-line heading chat formats use.
func payloadTitle(p Payload) string {
	tag := strings.ToUpper(payloadStateText(p))
	if p.Reminder && p.State == "firing" {
		tag += ", " + strings.ToUpper(payloadText(p, "notify.reminder"))
	}
	if p.Flapping && p.State == "firing" {
		tag = strings.ToUpper(payloadStateText(p)) + ", " + strings.ToUpper(payloadText(p, "notify.flapping"))
	}
	t := "[" + tag + "] " + p.Alert
	if p.Site != "" {
		t += " @ " + p.Site
	}
	return t
}

// payloadFacts are the key/value lines chat formats show, in a stable order.
func payloadFacts(p Payload) [][2]string {
	var f [][2]string
	add := func(k, v string) {
		if v != "" {
			f = append(f, [2]string{k, truncate(v, 1000)})
		}
	}
	add(payloadText(p, "notify.fact.summary"), p.Summary)
	add(payloadText(p, "notify.fact.description"), payloadDescription(p))
	if p.Value != nil {
		add(payloadText(p, "notify.fact.value"), payloadNumber(p, *p.Value))
	}
	add(payloadText(p, "notify.fact.since"), payloadSince(p))
	if p.OutageSeconds != nil {
		add(payloadText(p, "notify.fact.outage"), payloadDuration(p, time.Duration(*p.OutageSeconds*float64(time.Second))))
	}
	add(payloadText(p, "notify.fact.acked_by"), p.AckedBy)
	if p.LastValues != nil {
		add(payloadText(p, "notify.fact.last_values"), string(p.LastValues))
	}
	keys := make([]string, 0, len(p.Labels))
	for k := range p.Labels {
		if k != "alertname" && k != "site" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var lb []string
	for _, k := range keys {
		lb = append(lb, k+"="+p.Labels[k])
	}
	add(payloadText(p, "notify.fact.labels"), strings.Join(lb, ", "))
	add(payloadText(p, "notify.fact.snapshot"), p.SnapshotURL)
	add(payloadText(p, "notify.fact.clip"), p.ClipURL)
	return f
}

// The JSON bodies of the webhook kinds (see kinds).
func citywatchBody(_ *compiledReceiver, p Payload, _ storedChange, _ string) any { return p }
func alertmanagerBody(cr *compiledReceiver, _ Payload, c storedChange, externalURL string) any {
	return alertmanagerPayload(cr.Name, externalURL, cr.groupBy, c)
}
func alertmanagerAPIBody(_ *compiledReceiver, _ Payload, c storedChange, _ string) any {
	return alertmanagerAPIPayload(c)
}
func slackBody(_ *compiledReceiver, p Payload, _ storedChange, _ string) any { return slackPayload(p) }
func teamsBody(_ *compiledReceiver, p Payload, _ storedChange, _ string) any {
	return teamsAdaptivePayload(p)
}
func teamsMessageCardBody(_ *compiledReceiver, p Payload, _ storedChange, _ string) any {
	return teamsMessageCardPayload(p)
}

// Alertmanager webhook v4 (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
type amWebhook struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []amAlert         `json:"alerts"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

func amLabels(c storedChange) map[string]string {
	l := make(map[string]string, len(c.Labels)+1)
	for k, v := range c.Labels {
		l[k] = v
	}
	if l["alertname"] == "" {
		l["alertname"] = c.Name
	}
	return l
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// alertmanagerPayload is the webhook Alertmanager would send for a group of this one alert. Its groupLabels are
// the alert's values of groupBy (nil: DefaultGroupBy; labels the alert lacks are left out) and its groupKey
// is Alertmanager's "<route key>:<group labels>", e.g. {}:{alertname="Fever", site="ward-b"}: receivers that
// deduplicate or thread on groupKey see citywatch's groups as Alertmanager's.
func alertmanagerPayload(receiver, externalURL string, groupBy []string, c storedChange) amWebhook {
	labels := amLabels(c)
	if groupBy == nil {
		groupBy = DefaultGroupBy
	}
	group := model.LabelSet{}
	for _, l := range groupBy {
		if v, ok := labels[l]; ok {
			group[model.LabelName(l)] = model.LabelValue(v)
		}
	}
	groupLabels := make(map[string]string, len(group))
	for k, v := range group {
		groupLabels[string(k)] = string(v)
	}
	return amWebhook{
		Version: "4", GroupKey: "{}:" + group.String(), Status: c.State,
		Receiver: receiver, GroupLabels: groupLabels,
		CommonLabels: labels, CommonAnnotations: nonNil(c.Annotations), ExternalURL: externalURL,
		Alerts: []amAlert{{Status: c.State, Labels: labels, Annotations: nonNil(c.Annotations), StartsAt: c.StartsAt,
			EndsAt: c.EndsAt, GeneratorURL: c.GeneratorURL, Fingerprint: c.Fingerprint}},
	}
}

// amPostableAlert is Alertmanager's API v2 postableAlert.
type amPostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       *time.Time        `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func alertmanagerAPIPayload(c storedChange) []amPostableAlert {
	a := amPostableAlert{Labels: amLabels(c), Annotations: c.Annotations, StartsAt: c.StartsAt, GeneratorURL: c.GeneratorURL}
	if c.State == "resolved" {
		e := c.EndsAt
		if e.IsZero() || e.Year() <= 1 {
			e = c.StartsAt.Add(c.OutageDuration)
		}
		a.EndsAt = &e
	}
	return []amPostableAlert{a}
}

func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func slackPayload(p Payload) map[string]any {
	var lines []string
	for _, f := range payloadFacts(p) {
		lines = append(lines, "*"+f[0]+":* "+slackEscape(f[1]))
	}
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(payloadTitle(p), 140)}},
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": truncate(strings.Join(lines, "\n"), 2900)}},
	}
	if p.GeneratorURL != "" {
		blocks = append(blocks, map[string]any{"type": "context", "elements": []any{
			map[string]any{"type": "mrkdwn", "text": "<" + p.GeneratorURL + "|" + slackEscape(payloadText(p, "notify.open")) + ">"}}})
	}
	return map[string]any{"text": slackEscape(payloadTitle(p) + ": " + p.Summary), "blocks": blocks}
}

func stateColor(p Payload) string {
	if p.State == "resolved" {
		return "2EB886"
	}
	return "D00000"
}

func teamsMessageCardPayload(p Payload) map[string]any {
	var facts []any
	for _, f := range payloadFacts(p) {
		facts = append(facts, map[string]any{"name": f[0], "value": f[1]})
	}
	card := map[string]any{
		"@type": "MessageCard", "@context": "https://schema.org/extensions", "themeColor": stateColor(p),
		"summary": payloadTitle(p), "title": payloadTitle(p), "sections": []any{map[string]any{"facts": facts}},
	}
	if p.GeneratorURL != "" {
		card["potentialAction"] = []any{map[string]any{"@type": "OpenUri", "name": payloadText(p, "notify.open"),
			"targets": []any{map[string]any{"os": "default", "uri": p.GeneratorURL}}}}
	}
	return card
}

func teamsAdaptivePayload(p Payload) map[string]any {
	var facts []any
	for _, f := range payloadFacts(p) {
		facts = append(facts, map[string]any{"title": f[0], "value": f[1]})
	}
	color := "attention"
	if p.State == "resolved" {
		color = "good"
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4",
		"body": []any{
			map[string]any{"type": "TextBlock", "text": payloadTitle(p), "weight": "bolder", "size": "medium", "color": color, "wrap": true},
			map[string]any{"type": "FactSet", "facts": facts},
		},
	}
	if p.GeneratorURL != "" {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": payloadText(p, "notify.open"), "url": p.GeneratorURL}}
	}
	return map[string]any{"type": "message", "attachments": []any{map[string]any{
		"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": nil, "content": card}}}
}

func telegramPayload(chatID string, p Payload) map[string]any {
	var b strings.Builder
	b.WriteString("<b>" + html.EscapeString(payloadTitle(p)) + "</b>")
	for _, f := range payloadFacts(p) {
		b.WriteString("\n<b>" + html.EscapeString(f[0]) + ":</b> " + html.EscapeString(f[1]))
	}
	if p.GeneratorURL != "" {
		b.WriteString("\n<a href=\"" + html.EscapeString(p.GeneratorURL) + "\">" + html.EscapeString(payloadText(p, "notify.open")) + "</a>")
	}
	text := b.String()
	if len(text) > 4000 { // Telegram's limit is 4096 characters; cut on a line so no HTML tag is split
		if i := strings.LastIndexByte(text[:4000], '\n'); i > 0 {
			text = text[:i]
		} else {
			text = "<b>" + html.EscapeString(truncate(payloadTitle(p), 300)) + "</b>"
		}
	}
	return map[string]any{"chat_id": chatID, "text": text, "parse_mode": "HTML", "disable_web_page_preview": true}
}

// TemplateFuncs returns the functions available to custom templates, so configuration validation parses a
// template exactly as delivery will (tmplfuncs.Funcs).
func TemplateFuncs() template.FuncMap { return tmplfuncs.Funcs() }

// templateFuncs are the functions available to custom templates.
var templateFuncs = tmplfuncs.Funcs()

func parseTemplate(name, text string) (*template.Template, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("required for the template format")
	}
	if len(text) > 64<<10 {
		return nil, errors.New("longer than 64 KiB")
	}
	t, err := template.New(name).Funcs(templateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	if err := ExecuteSamples(t); err != nil {
		return nil, err
	}
	return t, nil
}

// ExecuteSamples executes a parsed template with sample alerts (firing with a value, resolved without), as
// the outbox does when it loads a receiver. It is tmplfuncs.ExecuteSamples: TestTemplateSamplesMatchPayload
// keeps those samples equal to the payloads notify builds.
func ExecuteSamples(t *template.Template) error { return tmplfuncs.ExecuteSamples(t) }
