package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names (https://www.standardwebhooks.com).
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// Verification errors returned by Verify.
var (
	ErrMissingHeaders   = errors.New("notify: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrInvalidTimestamp = errors.New("notify: invalid webhook-timestamp")
	ErrTimestampSkew    = errors.New("notify: webhook-timestamp outside the tolerance")
	ErrNoMatchingSig    = errors.New("notify: no matching signature")
)

// decodeSecret returns the HMAC key of a secret: "whsec_<base64>" is decoded as the Standard Webhooks spec
// says; anything else is used as raw bytes. The error never contains the secret.
func decodeSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty secret")
	}
	if rest, ok := strings.CutPrefix(s, "whsec_"); ok {
		k, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, errors.New(`"whsec_" secret is not valid base64`)
		}
		if len(k) < 16 {
			return nil, fmt.Errorf("secret key is %d bytes, want at least 16", len(k))
		}
		return k, nil
	}
	if len(s) < 16 {
		return nil, fmt.Errorf("secret is %d bytes, want at least 16", len(s))
	}
	return []byte(s), nil
}

// sign returns the Standard Webhooks signature for body: "v1,<base64>" per key, separated by spaces.
func sign(keys [][]byte, id string, ts int64, body []byte) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac(k, id, ts, body)))
	}
	return b.String()
}

func mac(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Standard Webhooks signed request as a receiver would: the webhook-timestamp must be within
// tolerance of now (0 means 5 minutes) and one of the "v1,<sig>" entries in webhook-signature must match
// HMAC-SHA256(secret, id.timestamp.body). secret is "whsec_<base64>" or raw bytes, as configured.
func Verify(secret string, headers http.Header, body []byte, tolerance time.Duration) error {
	return verifyAt(time.Now(), secret, headers, body, tolerance)
}

func verifyAt(now time.Time, secret string, headers http.Header, body []byte, tolerance time.Duration) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return fmt.Errorf("notify: bad secret: %w", err)
	}
	id, tsRaw, sigs := headers.Get(HeaderWebhookID), headers.Get(HeaderWebhookTimestamp), headers.Get(HeaderWebhookSignature)
	if id == "" || tsRaw == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	if tolerance <= 0 {
		tolerance = 5 * time.Minute
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrTimestampSkew
	}
	want := mac(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		ver, enc, ok := strings.Cut(s, ",")
		if !ok || ver != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoMatchingSig
}
