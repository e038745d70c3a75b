package ingest

import (
	"encoding/base64"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Bounds of the text kept per rejected message, besides the payload prefix.
const (
	maxTopicBytes = 512
	maxErrorBytes = 512
)

// Rejected is one rejected message kept in the dead-letter list.
type Rejected struct {
	// Time is when the message was rejected.
	Time time.Time `json:"time"`
	// Source is the source that received the message ("embedded" or an external broker's name).
	Source string `json:"source"`
	// Topic is the topic, clipped to 512 bytes of valid UTF-8.
	Topic string `json:"topic"`
	// ClientID is the publishing client when known.
	ClientID string `json:"client_id,omitempty"`
	// Reason is the rejection reason (a label value of citywatch_ingest_rejected_total).
	Reason string `json:"reason"`
	// Error says what was wrong, clipped to 512 bytes of valid UTF-8.
	Error string `json:"error"`
	// Payload is a bounded prefix of the payload: the text itself when it is valid UTF-8, else its standard
	// base64 encoding (then Base64 is true).
	Payload string `json:"payload"`
	// Base64 says that Payload is base64-encoded because the payload prefix was not valid UTF-8.
	Base64 bool `json:"base64,omitempty"`
	// Truncated says that Payload holds only a prefix of the payload.
	Truncated bool `json:"truncated,omitempty"`
	// Size is the size of the whole payload in bytes.
	Size int `json:"size"`
}

// deadLetters is a bounded ring of rejected messages.
type deadLetters struct {
	maxPayload int

	mu   sync.Mutex
	buf  []Rejected
	next int // where the next entry goes
	full bool
}

func newDeadLetters(size, maxPayload int) *deadLetters {
	return &deadLetters{maxPayload: maxPayload, buf: make([]Rejected, size)}
}

// add keeps a copy of the bounded parts of m. It does the copying before taking the lock.
func (d *deadLetters) add(now time.Time, m Message, reason string, err error) {
	r := Rejected{
		Time:     now,
		Source:   m.Source,
		Topic:    clip(m.Topic, maxTopicBytes),
		ClientID: clip(m.ClientID, maxTopicBytes),
		Reason:   reason,
		Size:     len(m.Payload),
	}
	if err != nil {
		r.Error = clip(err.Error(), maxErrorBytes)
	}
	r.Payload, r.Base64, r.Truncated = payloadPrefix(m.Payload, d.maxPayload)

	d.mu.Lock()
	d.buf[d.next] = r
	d.next++
	if d.next == len(d.buf) {
		d.next = 0
		d.full = true
	}
	d.mu.Unlock()
}

// list returns the entries newest first.
func (d *deadLetters) list() []Rejected {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.next
	if d.full {
		n = len(d.buf)
	}
	out := make([]Rejected, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, d.buf[(d.next-i+len(d.buf))%len(d.buf)])
	}
	return out
}

// payloadPrefix returns at most limit bytes of p as text when they are valid UTF-8 (cut at a rune boundary),
// else the base64 encoding of the first limit bytes.
func payloadPrefix(p []byte, limit int) (text string, isBase64, truncated bool) {
	cut := min(len(p), limit)
	// Back off to a rune start so a multi-byte character split by the limit does not turn text into base64.
	for i := 0; i < utf8.UTFMax && cut < len(p) && cut > 0 && !utf8.RuneStart(p[cut]); i++ {
		cut--
	}
	if utf8.Valid(p[:cut]) {
		return string(p[:cut]), false, cut < len(p)
	}
	cut = min(len(p), limit)
	return base64.StdEncoding.EncodeToString(p[:cut]), true, cut < len(p)
}

// clip returns s cut to at most n bytes of valid UTF-8 (invalid bytes replaced).
func clip(s string, n int) string {
	if len(s) > n {
		cut := n
		for i := 0; i < utf8.UTFMax && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
			cut--
		}
		s = s[:cut]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}
