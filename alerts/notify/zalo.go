package notify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// DefaultZaloURL is the Zalo Official Account API's customer-service message endpoint
// (https://developers.zalo.me/docs/official-account/tin-nhan/tin-tu-van/gui-tin-tu-van): a zalo receiver
// posts there unless its URL says otherwise (a proxy, or a test receiver).
const DefaultZaloURL = "https://openapi.zalo.me/v3.0/oa/message/cs"

// zaloMaxText is the length limit of a Zalo text message, in characters.
const zaloMaxText = 2000

// zaloKind sends a text message from a Zalo Official Account to one user, where Vietnamese health staff read
// their messages. The access token goes in the access_token header and is a secret; the API answers HTTP 200
// with {"error": 0, "message": "Success"}, or a non-zero error.
var zaloKind = kind{
	render: renderJSON(func(cr *compiledReceiver, p Payload, _ storedChange, _ string) any {
		return zaloPayload(cr.ZaloUserID, p)
	}),
	newNotifier: func(cr *compiledReceiver, env integrationEnv) (Notifier, error) {
		s := newHTTPSender(cr, env.clock)
		token := cr.ZaloAccessToken
		s.header = func(h http.Header) { h.Set("access_token", token) }
		s.accept = func(body []byte) (bool, error) { return zaloAccept(s, body) }
		return &webhookNotifier{httpSender: s, externalURL: env.externalURL}, nil
	},
	defaultURL: DefaultZaloURL,
	check: func(p string, r Receiver) []error {
		var errs []error
		if strings.TrimSpace(r.ZaloUserID) == "" {
			errs = append(errs, fmt.Errorf("%s.zalo_user_id: required for the zalo format", p))
		}
		if r.ZaloAccessToken == "" {
			errs = append(errs, fmt.Errorf("%s.zalo_access_token: required for the zalo format", p))
		} else if strings.ContainsAny(r.ZaloAccessToken, "\r\n\x00") {
			errs = append(errs, fmt.Errorf("%s.zalo_access_token: must be one line (the value is not shown)", p))
		}
		return errs
	},
}

type zaloRecipient struct {
	UserID string `json:"user_id"`
}

type zaloText struct {
	Text string `json:"text"`
}

type zaloMessage struct {
	Recipient zaloRecipient `json:"recipient"`
	Message   zaloText      `json:"message"`
}

// zaloPayload is a plain-text message: the title, then the facts one a line, then the link, cut on a line
// (never inside a character) to Zalo's 2000 characters.
func zaloPayload(userID string, p Payload) zaloMessage {
	lines := []string{payloadTitle(p)}
	for _, f := range payloadFacts(p) {
		lines = append(lines, f[0]+": "+f[1])
	}
	if p.GeneratorURL != "" {
		lines = append(lines, p.GeneratorURL)
	}
	return zaloMessage{Recipient: zaloRecipient{UserID: userID}, Message: zaloText{Text: cutLines(lines, zaloMaxText)}}
}

// zaloRetryable are the API errors worth retrying: rate limits and the API's own transient failures. Every
// other error (an invalid or expired token, a user who does not follow the OA or has not interacted with it
// recently, an exhausted quota) needs an operator, so it is not retried; replay the delivery once fixed.
var zaloRetryable = map[int]bool{
	-32:  true, // the app's request rate limit was exceeded
	-50:  true, // internal error
	-100: true, // unknown error, try again later
}

// zaloAccept reads the API's answer to a 2xx.
func zaloAccept(s *httpSender, body []byte) (bool, error) {
	var r struct {
		Error   *int   `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Error == nil {
		return failure(true, "api_error", http.StatusOK, "zalo: unexpected answer: %s", s.errorBody(body))
	}
	if *r.Error == 0 {
		return false, nil
	}
	reason := "api_error"
	if *r.Error == -32 {
		reason = "rate_limited"
	}
	return failure(zaloRetryable[*r.Error], reason, http.StatusOK, "zalo error %d: %s", *r.Error, s.errorBody([]byte(r.Message)))
}
