package notify

import "citywatch/config"

// ConfigFromConfig is the outbox's view of the notify section (receivers, routes, default receiver) and of
// alerts.external_url and alerts.group_by. Package config owns the YAML keys, their defaults and validation;
// this is the one place they become the outbox's runtime types (secrets as their values). PublishMQTT stays
// false: the caller sets it when there is a broker to publish on (notify.mqtt.enabled). A test in app fails
// when a field of Config is reached by no key here and is not listed as deliberately internal.
func ConfigFromConfig(cfg *config.Config) Config {
	nc := cfg.Notify
	out := Config{DefaultReceiver: nc.DefaultReceiver, ExternalURL: cfg.Alerts.ExternalURL, GroupBy: cfg.Alerts.GroupBy}
	for _, r := range nc.Receivers {
		out.Receivers = append(out.Receivers, ReceiverFromConfig(r))
	}
	for _, r := range nc.Routes {
		out.Routes = append(out.Routes, Route{Receiver: r.Receiver, Match: r.Match, MatchRE: r.MatchRE, Continue: r.Continue})
	}
	return out
}

// ReceiverFromConfig is one configured receiver, its secrets (URL, signing secrets, header values, tokens)
// as their values.
func ReceiverFromConfig(r config.ReceiverConfig) Receiver {
	var secrets []string
	for _, s := range r.SigningSecrets() {
		secrets = append(secrets, s.Value())
	}
	headers := map[string]string{}
	for k, v := range r.HTTPHeaders() {
		headers[k] = v.Value()
	}
	return Receiver{
		Name: r.Name, URL: r.URL.Value(), Format: r.Format, Template: r.Template, ContentType: r.ContentType,
		Secrets: secrets, Headers: headers,
		AllowPrivate: r.AllowPrivate, Timeout: r.Timeout.Std(), MaxConcurrency: r.MaxConcurrency,
		TelegramChatID: r.TelegramChatID, ZaloUserID: r.ZaloUserID, ZaloAccessToken: r.ZaloAccessToken.Value(),
		Language: r.Language, TimeZone: r.TimeZone,
	}
}
