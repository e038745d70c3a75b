package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// webhookNotifier is the integration of the kinds that post one rendered body to the receiver's URL:
// citywatch, alertmanager, alertmanager_api, slack, teams, teams_messagecard, template, telegram and zalo.
// They differ in their body and, for chat APIs, in how the answer is read (httpSender's hooks).
type webhookNotifier struct {
	*httpSender
	externalURL string
}

// Notify renders the message in the receiver's format and posts it.
func (n *webhookNotifier) Notify(ctx context.Context, m Message) (bool, error) {
	p := buildPayload(m.Key, n.cr.Name, n.externalURL, m.change)
	body, ctype, err := render(n.cr, p, m.change, n.externalURL)
	if err != nil {
		return failure(false, reasonRenderError, 0, "%s", err)
	}
	return n.send(ctx, m, body, ctype)
}

// webhookKind is a kind that posts what render produces, with no hooks of its own.
func webhookKind(render func(*compiledReceiver, Payload, storedChange, string) ([]byte, string, error)) kind {
	return kind{render: render, newNotifier: func(cr *compiledReceiver, env integrationEnv) (Notifier, error) {
		return &webhookNotifier{httpSender: newHTTPSender(cr, env.clock), externalURL: env.externalURL}, nil
	}}
}

// renderJSON makes a render function of a function building a JSON value.
func renderJSON(build func(cr *compiledReceiver, p Payload, c storedChange, externalURL string) any) func(*compiledReceiver, Payload, storedChange, string) ([]byte, string, error) {
	return func(cr *compiledReceiver, p Payload, c storedChange, externalURL string) ([]byte, string, error) {
		b, err := json.Marshal(build(cr, p, c, externalURL))
		if err != nil {
			return nil, "", fmt.Errorf("encode %s payload: %w", cr.Format, err)
		}
		return b, "application/json", nil
	}
}

// renderTemplate executes the receiver's custom template with the citywatch payload.
func renderTemplate(cr *compiledReceiver, p Payload, _ storedChange, _ string) ([]byte, string, error) {
	var b bytes.Buffer
	if err := cr.tmpl.Execute(&b, p); err != nil {
		return nil, "", fmt.Errorf("template: %w", err)
	}
	return b.Bytes(), cr.ContentType, nil
}
