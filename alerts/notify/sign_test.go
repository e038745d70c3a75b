package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSignatureVerifiedIndependently(t *testing.T) {
	h := newHook(t)
	rawKey := []byte("0123456789abcdef0123456789abcdef")
	current := "whsec_" + base64.StdEncoding.EncodeToString(rawKey)
	previous := "a-raw-secret-used-as-bytes"
	rcv := h.receiver("signed")
	rcv.Secrets = []string{current, previous}
	c := testChange("Signed")
	req := deliverFirst(t, h, rcv, c)

	id := req.header.Get("webhook-id")
	ts := req.header.Get("webhook-timestamp")
	require.Equal(t, IdempotencyKey(c, "signed"), id)
	require.Regexp(t, `^[0-9]{10}$`, ts)
	// Compute by hand, per the Standard Webhooks spec: HMAC-SHA256(key, id + "." + ts + "." + body), base64.
	manual := func(key []byte) string {
		m := hmac.New(sha256.New, key)
		fmt.Fprintf(m, "%s.%s.%s", id, ts, req.body)
		return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	want := manual(rawKey) + " " + manual([]byte(previous))
	require.Equal(t, want, req.header.Get("webhook-signature"))

	// Verify agrees for both secrets and rejects tampering.
	require.NoError(t, Verify(current, req.header, req.body, time.Minute))
	require.NoError(t, Verify(previous, req.header, req.body, time.Minute))
	require.ErrorIs(t, Verify(current, req.header, append([]byte{' '}, req.body...), time.Minute), ErrNoMatchingSig)
	require.ErrorIs(t, Verify("whsec_"+base64.StdEncoding.EncodeToString([]byte("another-key-of-32-bytes-length!!")), req.header, req.body, time.Minute), ErrNoMatchingSig)
}

var verifyCases = []struct {
	name    string
	headers map[string]string
	body    string
	want    error
}{
	{"missing", map[string]string{}, "{}", ErrMissingHeaders},
	{"bad timestamp", map[string]string{"webhook-id": "x", "webhook-timestamp": "abc", "webhook-signature": "v1,AAAA"}, "{}", ErrInvalidTimestamp},
	{"old", map[string]string{"webhook-id": "x", "webhook-timestamp": "1000", "webhook-signature": "v1,AAAA"}, "{}", ErrTimestampSkew},
	{"garbage signature", map[string]string{"webhook-id": "x", "webhook-timestamp": "NOW", "webhook-signature": "v2,zz v1,!!! ,"}, "{}", ErrNoMatchingSig},
}

func TestVerifyRejects(t *testing.T) {
	for _, tc := range verifyCases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, strings.ReplaceAll(v, "NOW", fmt.Sprint(time.Now().Unix())))
			}
			require.ErrorIs(t, Verify("a-raw-secret-used-as-bytes", h, []byte(tc.body), time.Minute), tc.want)
		})
	}
}

func FuzzVerify(f *testing.F) {
	for _, tc := range verifyCases {
		f.Add(tc.headers["webhook-id"], tc.headers["webhook-timestamp"], tc.headers["webhook-signature"], tc.body)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig, body string) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		_ = Verify("a-raw-secret-used-as-bytes", h, []byte(body), time.Minute)
	})
}

func TestDecodeSecret(t *testing.T) {
	_, err := decodeSecret("whsec_!!!notbase64")
	require.ErrorContains(t, err, "not valid base64")
	require.NotContains(t, err.Error(), "notbase64")
	_, err = decodeSecret("short")
	require.ErrorContains(t, err, "want at least 16")
	require.NotContains(t, err.Error(), "short")
}
