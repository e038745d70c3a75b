package config

import (
	"citywatch/internal/netguard"
	"citywatch/internal/tmplfuncs"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/netip"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"
)

var receiverNameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

// templateErrRE matches text/template parse errors, "template: <name>:<line>: <message>", and execution errors,
// "executing with a sample firing alert: template: <name>:<line>:<column>: <message>".
var templateErrRE = regexp.MustCompile(`^(?:(executing with a sample \w+ alert: ))?template: template:(\d+):(?:\d+:)? (.*)$`)

func (c *Config) validateAlerts(v validator) {
	a := &c.Alerts
	v.positive("alerts.eval_interval", a.EvalInterval)
	seen := map[string]int{}
	for i, f := range a.RuleFiles {
		p := indexPath("alerts.rule_files", i)
		if f == "" {
			v.add(p, "must not be empty")
			continue
		}
		if j, dup := seen[f]; dup {
			v.add(p, "duplicate rule file %s (also alerts.rule_files[%d])", quote(f), j)
			continue
		}
		seen[f] = i
		v.file(p, f)
	}
	if a.ExternalURL != "" {
		u, err := url.Parse(a.ExternalURL)
		switch {
		case err != nil:
			v.add("alerts.external_url", "invalid URL %s", quoteURL(a.ExternalURL))
		case u.User != nil:
			v.add("alerts.external_url", "must not contain credentials")
		case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.add("alerts.external_url", `must be an absolute http or https URL like "https://citywatch.example"; got %s`, quote(a.ExternalURL))
		case u.RawQuery != "" || u.Fragment != "":
			v.add("alerts.external_url", "must not have a query or fragment; got %s", quote(a.ExternalURL))
		}
	}
	groupBy := map[string]bool{}
	for i, l := range a.GroupBy {
		p := indexPath("alerts.group_by", i)
		switch {
		case !validLabelName(l):
			v.add(p, "%s is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", quote(l))
		case groupBy[l]:
			v.add(p, "duplicate label %s", quote(l))
		}
		groupBy[l] = true
	}
	if a.GroupWait < 0 {
		v.add("alerts.group_wait", "must be >= 0 (0 sends at once); got %s", quote(a.GroupWait.String()))
	}
	v.positive("alerts.group_interval", a.GroupInterval)
	v.positive("alerts.repeat_interval", a.RepeatInterval)
	if a.GroupInterval > 0 && a.RepeatInterval > 0 && a.RepeatInterval < a.GroupInterval {
		v.add("alerts.repeat_interval", "must be >= group_interval (%s); got %s", a.GroupInterval, quote(a.RepeatInterval.String()))
	}
	if a.Flap.Count < 0 {
		v.add("alerts.flap.count", "must be >= 0 (0 turns flap detection off); got %d", a.Flap.Count)
	}
	v.positive("alerts.flap.window", a.Flap.Window)
	if a.Flap.Notify != "transitions" && a.Flap.Notify != "none" {
		v.add("alerts.flap.notify", "must be \"transitions\" or \"none\"; got %s", quote(a.Flap.Notify))
	}
	cn := &a.Canary
	v.positive("alerts.canary.interval", cn.Interval)
	v.positive("alerts.canary.timeout", cn.Timeout)
	switch {
	case cn.FallbackReceiver == "" && cn.Enabled:
		v.add("alerts.canary.fallback_receiver", "is required when the canary is enabled (who is told when notifications stop working)")
	case cn.FallbackReceiver != "" && !c.hasReceiver(cn.FallbackReceiver):
		v.add("alerts.canary.fallback_receiver", "unknown receiver %s; define it under notify.receivers", quote(cn.FallbackReceiver))
	}
}

func (c *Config) hasReceiver(name string) bool {
	for _, r := range c.Notify.Receivers {
		if r.Name == name {
			return true
		}
	}
	return false
}

func (c *Config) validateNotify(v validator) {
	n := &c.Notify
	names := map[string]int{}
	for i := range n.Receivers {
		p := indexPath("notify.receivers", i)
		r := &n.Receivers[i]
		receiverNames.check(v, names, "notify.receivers", i, r.Name)
		v.receiver(p, r)
	}
	for i := range n.Routes {
		p := indexPath("notify.routes", i)
		rt := &n.Routes[i]
		switch {
		case rt.Receiver == "":
			v.add(p+".receiver", "is required")
		case !c.hasReceiver(rt.Receiver):
			v.add(p+".receiver", "unknown receiver %s; define it under notify.receivers", quote(rt.Receiver))
		}
		for _, k := range sortedKeys(rt.Match) {
			if !validLabelName(k) {
				v.add(joinPath(p+".match", k), "%s is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", quote(k))
			}
		}
		for _, k := range sortedKeys(rt.MatchRE) {
			mp := joinPath(p+".match_re", k)
			if !validLabelName(k) {
				v.add(mp, "%s is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)", quote(k))
			}
			if _, err := regexp.Compile(rt.MatchRE[k]); err != nil {
				v.add(mp, "invalid regular expression %s: %s", quote(rt.MatchRE[k]), regexpReason(err))
			}
		}
	}
	c.validateNotifyMQTT(v)
	switch {
	case n.DefaultReceiver != "" && !c.hasReceiver(n.DefaultReceiver):
		v.add("notify.default_receiver", "unknown receiver %s; define it under notify.receivers", quote(n.DefaultReceiver))
	case n.DefaultReceiver == "" && len(n.Routes) > 0:
		v.add("notify.default_receiver", "is required when routes are set, so that alerts no route matches are still notified")
	}
}

// regexpReason is the reason of a regexp error without the expression (which the message quotes already).
func regexpReason(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return string(se.Code)
	}
	return err.Error()
}

// receiver validates one notification receiver. Its URL, secrets and header values are never quoted.
func (v validator) receiver(p string, r *ReceiverConfig) {
	urlKey := p + ".url"
	if r.URLFile != "" {
		urlKey = p + ".url_file"
	}
	switch {
	case r.Format == NotifyFormatMQTT:
		v.mqttReceiver(p, urlKey, r)
	case r.Format == NotifyFormatZalo && r.URL == "" && r.URLFile == "":
		// the Zalo API's own URL
	case r.URL == "":
		if r.URLFile == "" {
			v.add(urlKey, "is required")
		}
	default:
		if msg := checkWebhookURL(r.URL.Value(), r.AllowPrivate); msg != "" {
			v.add(urlKey, "%s", msg)
		}
	}
	v.oneOf(p+".format", r.Format, NotifyFormats...)
	switch {
	case r.Format == NotifyFormatTemplate && strings.TrimSpace(r.Template) == "":
		v.add(p+".template", "is required for format template")
	case r.Format == NotifyFormatTemplate:
		v.template(p+".template", r.Template)
	case r.Template != "":
		v.add(p+".template", "is only used with format template; got format %s", quote(r.Format))
	}
	if _, _, err := mime.ParseMediaType(r.ContentType); err != nil {
		v.add(p+".content_type", "must be a media type like \"application/json\" or \"text/plain; charset=utf-8\"; got %s", quote(r.ContentType))
	}
	for i, s := range r.Secrets {
		if msg := checkWebhookSecret(s.Value()); msg != "" {
			v.add(indexPath(p+".secrets", i), "%s", msg)
		}
	}
	for i, s := range r.SecretFileValues { // aligned with SecretFiles; "" where the file could not be read
		if msg := checkWebhookSecret(s.Value()); s != "" && msg != "" {
			v.add(indexPath(p+".secret_files", i), "%s", msg)
		}
	}
	v.headers(p, r)
	v.positive(p+".timeout", r.Timeout)
	if r.MaxConcurrency < 1 || r.MaxConcurrency > maxReceiverConcurrency {
		v.add(p+".max_concurrency", "must be between 1 and %d; got %d", maxReceiverConcurrency, r.MaxConcurrency)
	}
	switch {
	case r.Format == NotifyFormatTelegram && r.TelegramChatID == "":
		v.add(p+".telegram_chat_id", "is required for format telegram")
	case r.Format != NotifyFormatTelegram && r.TelegramChatID != "":
		v.add(p+".telegram_chat_id", "is only used with format telegram; got format %s", quote(r.Format))
	default:
		v.text(p+".telegram_chat_id", r.TelegramChatID)
	}
	v.zaloReceiver(p, r)
	v.receiverLanguage(p, r)
}

// mqttReceiver rejects the webhook keys of a receiver with format mqtt, which publishes on the embedded broker:
// a URL, signing secrets or headers would be silently unused.
func (v validator) mqttReceiver(p, urlKey string, r *ReceiverConfig) {
	if r.URL != "" || r.URLFile != "" {
		v.add(urlKey, "is not used with format mqtt, which publishes on the embedded broker; remove it")
	}
	for key, n := range map[string]int{".secrets": len(r.Secrets), ".secret_files": len(r.SecretFiles)} {
		if n > 0 {
			v.add(p+key, "are not used with format mqtt (MQTT messages are not signed); remove them")
		}
	}
	for key, n := range map[string]int{".headers": len(r.Headers), ".header_files": len(r.HeaderFiles)} {
		if n > 0 {
			v.add(p+key, "are not used with format mqtt; remove them")
		}
	}
}

// validateNotifyMQTT checks receivers of format mqtt against the broker and notify.mqtt.
func (c *Config) validateNotifyMQTT(v validator) {
	for i := range c.Notify.Receivers {
		if c.Notify.Receivers[i].Format != NotifyFormatMQTT {
			continue
		}
		p := indexPath("notify.receivers", i) + ".format"
		switch {
		case !c.BrokerEnabled():
			v.add(p, "mqtt publishes on the embedded broker, which is disabled (broker.enabled)")
		case c.Notify.MQTT.Enabled:
			v.add(p, "mqtt would publish alerts that notify.mqtt.enabled (default true) already publishes on the same "+
				"topics; set notify.mqtt.enabled: false to publish only what the routes send to this receiver")
		}
	}
}

// headers validates the extra headers of a receiver, naming headers but never showing a value.
func (v validator) headers(p string, r *ReceiverConfig) {
	seen := map[string]string{} // canonical lower-case name -> the key path that set it
	check := func(base, name string, val Secret, fromFile bool) {
		hp := joinPath(base, name)
		lower := strings.ToLower(name)
		switch {
		case !validHeaderName(name):
			v.add(hp, "%s is not a valid HTTP header name", quote(name))
			return
		case reservedHeaders[lower]:
			v.add(hp, "header %s is set by citywatch and cannot be overridden", quote(name))
			return
		case seen[lower] != "":
			v.add(hp, "header %s is also set by %s", quote(name), seen[lower])
			return
		}
		seen[lower] = hp
		if fromFile {
			return // file contents are checked by readSecretFiles and below
		}
		v.headerValue(hp, val)
	}
	for _, name := range sortedKeys(r.Headers) {
		check(p+".headers", name, r.Headers[name], false)
	}
	for _, name := range sortedKeys(r.HeaderFiles) {
		check(p+".header_files", name, "", true)
		if val, ok := r.HeaderFileValues[name]; ok {
			v.headerValue(joinPath(p+".header_files", name), val)
		}
	}
}

func (v validator) headerValue(path string, val Secret) {
	s := val.Value()
	switch {
	case s == "":
		v.add(path, "must not be empty")
	case strings.ContainsAny(s, "\r\n\x00") || !utf8.ValidString(s):
		v.add(path, "must be one line of text (no CR, LF or NUL)")
	}
}

// reservedHeaders are set by the notifier itself (Standard Webhooks signing, HTTP framing).
var reservedHeaders = map[string]bool{"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
	"content-length": true, "host": true}

// validHeaderName reports whether k is an HTTP header name of letters, digits, "-" and "_".
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// checkWebhookSecret returns what is wrong with a signing secret, without saying anything about its value.
func checkWebhookSecret(s string) string {
	if rest, ok := strings.CutPrefix(s, whsecPrefix); ok {
		k, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return `is not valid base64 after "whsec_"`
		}
		if len(k) < minWebhookSecretBytes {
			return fmt.Sprintf(`must decode to at least %d bytes after "whsec_"`, minWebhookSecretBytes)
		}
		return ""
	}
	if len(s) < minWebhookSecretBytes {
		return fmt.Sprintf("must be at least %d bytes", minWebhookSecretBytes)
	}
	return ""
}

// checkWebhookURL returns what is wrong with a webhook URL. It never quotes the URL, whose path and query may
// hold a token; only the scheme, or an IP address host, appear in the message.
func checkWebhookURL(raw string, allowPrivate bool) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a valid URL"
	case u.User != nil:
		return "must not contain credentials; use headers (e.g. Authorization) instead"
	case u.Scheme != "http" && u.Scheme != "https":
		return "scheme must be http or https; got " + quote(u.Scheme)
	case u.Hostname() == "":
		return "must name a host"
	case u.Port() != "":
		if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
			return "port must be 1-65535"
		}
	}
	if allowPrivate {
		return ""
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "host " + quote(host) + " is a loopback address; set allow_private: true to deliver to internal addresses"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if reason := netguard.BlockedReason(ip); reason != "" {
			return "host " + ip.String() + " is a " + reason + " address; set allow_private: true to deliver to internal addresses"
		}
	}
	return ""
}

// template parses a notification template with the notifier's functions, reporting a parse error at the line
// of the configuration file it is on when the template is a literal block scalar ("|").
func (v validator) template(path, text string) {
	if len(text) > maxNotifyTemplateBytes {
		v.add(path, "must be at most %d bytes; got %d", maxNotifyTemplateBytes, len(text))
		return
	}
	t, err := template.New("template").Funcs(tmplfuncs.Funcs()).Option("missingkey=error").Parse(text)
	if err == nil {
		err = tmplfuncs.ExecuteSamples(t) // as the outbox does at start
	}
	if err == nil {
		return
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	m := templateErrRE.FindStringSubmatch(msg)
	if m == nil {
		v.add(path, "invalid template: %s", msg)
		return
	}
	line, _ := strconv.Atoi(m[2])
	msg = fmt.Sprintf("invalid template (template line %d): %s%s", line, m[1], m[3])
	if start, ok := v.s.blocks[path]; ok && line > 0 {
		v.s.addAt(start+line-1, path, msg)
		return
	}
	v.add(path, "%s", msg)
}

func (c *Config) validateAuth(v validator) {
	a := &c.Auth
	v.positive("auth.session_idle", a.SessionIdle)
	v.positive("auth.session_max", a.SessionMax)
	if a.SessionIdle > 0 && a.SessionMax > 0 && a.SessionMax < a.SessionIdle {
		v.add("auth.session_max", "must be >= session_idle (%s); got %s", a.SessionIdle, quote(a.SessionMax.String()))
	}
	v.positive("auth.token_ttl", a.TokenTTL)
	seen := map[netip.Prefix]int{}
	for i, s := range a.TrustedProxies {
		p := indexPath("auth.trusted_proxies", i)
		pfx, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			hint := ""
			if ip, err := netip.ParseAddr(s); err == nil {
				hint = fmt.Sprintf("; for one address write %q", netip.PrefixFrom(ip, ip.BitLen()).String())
			}
			v.add(p, "must be a CIDR like \"10.0.0.0/8\" or \"fd00::/8\"; got %s%s", quote(s), hint)
		case pfx != pfx.Masked():
			v.add(p, "%s has bits set after the prefix length; did you mean %q?", quote(s), pfx.Masked().String())
		default:
			if j, dup := seen[pfx]; dup {
				v.add(p, "duplicate CIDR %s (also auth.trusted_proxies[%d])", quote(s), j)
			}
			seen[pfx] = i
		}
	}
	if tok := a.AdminToken.Value(); tok != "" {
		key := "auth.admin_token"
		if a.AdminTokenFile != "" {
			key = "auth.admin_token_file"
		}
		switch {
		case utf8.RuneCountInString(tok) < minAdminTokenChars:
			v.add(key, "must be at least %d characters (the value is not shown)", minAdminTokenChars)
		case strings.IndexFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 ||
			!utf8.ValidString(tok):
			v.add(key, "must not contain spaces or control characters (the value is not shown)")
		}
	}
}
