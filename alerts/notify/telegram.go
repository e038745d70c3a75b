package notify

import (
	"encoding/json"
	"fmt"
	"time"
)

// telegramKind is a Telegram Bot API sendMessage call (https://core.telegram.org/bots/api#sendmessage). Its
// URL holds the bot token, so it is a secret; a 429 without Retry-After says how long to wait in its body.
var telegramKind = kind{
	render: renderJSON(func(cr *compiledReceiver, p Payload, _ storedChange, _ string) any {
		return telegramPayload(cr.TelegramChatID, p)
	}),
	newNotifier: func(cr *compiledReceiver, env integrationEnv) (Notifier, error) {
		s := newHTTPSender(cr, env.clock)
		s.retryAfter = telegramRetryAfter
		return &webhookNotifier{httpSender: s, externalURL: env.externalURL}, nil
	},
	check: func(p string, r Receiver) []error {
		if r.TelegramChatID == "" {
			return []error{fmt.Errorf("%s.telegram_chat_id: required for the telegram format", p)}
		}
		return nil
	},
}

// telegramRetryAfter reads the Bot API's {"parameters":{"retry_after":N}} from a 429 response.
func telegramRetryAfter(body []byte) (time.Duration, bool) {
	var v struct {
		Parameters struct {
			RetryAfter int64 `json:"retry_after"`
		} `json:"parameters"`
	}
	if json.Unmarshal(body, &v) != nil || v.Parameters.RetryAfter <= 0 {
		return 0, false
	}
	return time.Duration(min(v.Parameters.RetryAfter, 86400)) * time.Second, true
}
