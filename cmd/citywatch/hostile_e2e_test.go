package main_test

// The hostile-input table: one citywatch process takes every kind of bad MQTT payload and HTTP request we could
// think of, one after the other. After each, the process must still be alive and healthy, the bad input must be
// counted where it is bad (or stored as documented where it is merely odd), and good data from a device that
// has nothing to do with the bad input must still be stored.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Reasons of the time checks: bad_timestamp from the decoders (malformed, or outside 1970–2262), ts_future and
// ts_too_old from the ingest door (relative to the receive time), before the store sees the sample.
var (
	reasonsFuture  = []string{"ts_future"}
	reasonsTooOld  = []string{"ts_too_old"}
	reasonsBadTime = []string{"bad_timestamp"}
)

// hostileMQTT is one bad or odd MQTT message kind.
type hostileMQTT struct {
	name string
	// topic is the topic; "{dev}" is replaced by the case's device id. It defaults to
	// "city/hostile/s1/{dev}" (a JSON device topic).
	topic string
	// payload returns message i (of repeat) sent at now.
	payload func(now time.Time, i int) []byte
	qos     byte
	// repeat is how many messages are sent. It defaults to 1.
	repeat int
	// reasons: the input is bad and must be counted as rejected with one of these reasons (the counter grows and
	// the dead-letter list names the topic); "*" accepts any reason.
	reasons []string
	// stored is, for odd but valid input, a PromQL query ("{dev}" replaced) that must return a series, with
	// value when value is not "" (compared as floats).
	stored string
	value  string
	// brokerRefuses: the MQTT layer refuses the packet (protocol violation) before ingest sees it; only the
	// aftermath is checked, on a connection of its own.
	brokerRefuses bool
}

func js(s string) func(time.Time, int) []byte {
	return func(time.Time, int) []byte { return []byte(s) }
}

// jsTS returns a JSON payload {"v":1,"ts":<ts(now)>}.
func jsTS(ts func(now time.Time) string) func(time.Time, int) []byte {
	return func(now time.Time, _ int) []byte { return []byte(`{"v":1,"ts":` + ts(now) + `}`) }
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// manyFields returns a JSON object with n fields named <prefix><k>.
func manyFields(prefix string, from, n int) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for k := from; k < from+n; k++ {
		if k > from {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%s%d":%d`, prefix, k, k)
	}
	b.WriteByte('}')
	return b.Bytes()
}

const hostileNumberTopic = "city/hostile/s1/{dev}/level"

var hostileMQTTCases = []hostileMQTT{
	// Timestamps.
	{name: "ts +2h", payload: jsTS(func(n time.Time) string { return ms(n.Add(2 * time.Hour)) }), qos: 1, reasons: reasonsFuture},
	{name: "ts +30d", payload: jsTS(func(n time.Time) string { return ms(n.Add(30 * 24 * time.Hour)) }), qos: 1, reasons: reasonsFuture},
	{name: "ts year 9999", payload: js(`{"v":1,"ts":"9999-12-31T23:59:59Z"}`), qos: 1, reasons: reasonsBadTime},
	{name: "ts zero", payload: js(`{"v":1,"ts":0}`), qos: 1, reasons: reasonsBadTime},
	{name: "ts negative", payload: js(`{"v":1,"ts":-1700000000000}`), qos: 0, reasons: reasonsBadTime},
	{name: "ts 1970", payload: js(`{"v":1,"ts":1}`), qos: 1, reasons: reasonsTooOld},
	{name: "ts year 1 RFC 3339", payload: js(`{"v":1,"ts":"0001-01-01T00:00:00Z"}`), qos: 1, reasons: reasonsBadTime},
	{name: "ts 1900 RFC 3339", payload: js(`{"v":1,"ts":"1900-01-01T00:00:00Z"}`), qos: 1, reasons: reasonsBadTime},
	{name: "ts string garbage", payload: js(`{"v":1,"ts":"yesterday at noon"}`), qos: 1, reasons: reasonsBadTime},
	{name: "ts bool", payload: js(`{"v":1,"ts":true}`), qos: 0, reasons: reasonsBadTime},
	{name: "ts in seconds", payload: jsTS(func(n time.Time) string { return strconv.FormatInt(n.Unix(), 10) }), qos: 1,
		stored: `v{device="{dev}"}`, value: "1"},
	{name: "ts in microseconds", payload: jsTS(func(n time.Time) string { return strconv.FormatInt(n.UnixMicro(), 10) }), qos: 1,
		reasons: reasonsBadTime},
	{name: "ts in nanoseconds", payload: jsTS(func(n time.Time) string { return strconv.FormatInt(n.UnixNano(), 10) }), qos: 1,
		reasons: reasonsBadTime},

	// Values.
	{name: "NaN", payload: js(`{"v":NaN}`), qos: 1, reasons: []string{"bad_json"}},
	{name: "+Inf", payload: js(`{"v":Infinity}`), qos: 1, reasons: []string{"bad_json"}},
	{name: "-Inf", payload: js(`{"v":-Infinity}`), qos: 0, reasons: []string{"bad_json"}},
	{name: "1e309", payload: js(`{"v":1e309}`), qos: 1, reasons: []string{"bad_json"}},
	{name: "negative zero", payload: js(`{"v":-0}`), qos: 1, stored: `v{device="{dev}"}`, value: "0"},
	{name: "huge integer", payload: js(`{"v":123456789012345678901234567890}`), qos: 1,
		stored: `v{device="{dev}"}`, value: "1.2345678901234568e29"},
	{name: "number NaN", topic: hostileNumberTopic, payload: js("NaN"), qos: 1, reasons: []string{"bad_number"}},
	{name: "number +Inf", topic: hostileNumberTopic, payload: js("+Inf"), qos: 1, reasons: []string{"bad_number"}},
	{name: "number -Inf", topic: hostileNumberTopic, payload: js("-Inf"), qos: 0, reasons: []string{"bad_number"}},
	{name: "number Infinity", topic: hostileNumberTopic, payload: js("Infinity"), qos: 1, reasons: []string{"bad_number"}},
	{name: "number 1e309", topic: hostileNumberTopic, payload: js("1e309"), qos: 1, reasons: []string{"bad_number"}},
	{name: "number garbage", topic: hostileNumberTopic, payload: js("12abc"), qos: 1, reasons: []string{"bad_number"}},
	{name: "number hex", topic: hostileNumberTopic, payload: js("0x1F"), qos: 1, reasons: []string{"bad_number"}},
	{name: "number decimal comma", topic: hostileNumberTopic, payload: js("1,5"), qos: 1, reasons: []string{"bad_number"}},
	{name: "number blank", topic: hostileNumberTopic, payload: js(" \r\n"), qos: 1, reasons: []string{"no_fields"}},
	{name: "number ok with blanks", topic: hostileNumberTopic, payload: js(" 7.25\n"), qos: 1,
		stored: `level{device="{dev}"}`, value: "7.25"},

	// Shape and size.
	{name: "10k fields in one message", payload: func(time.Time, int) []byte { return manyFields("f", 0, 10000) }, qos: 1,
		reasons: []string{"too_many_fields"}},
	{name: "10k nesting levels", payload: func(time.Time, int) []byte {
		return []byte(strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000))
	}, qos: 1, reasons: []string{"bad_json"}},
	{name: "1 MB payload", payload: func(time.Time, int) []byte {
		return []byte(`{"v":1,"pad":"` + strings.Repeat("x", 1<<20) + `"}`)
	}, qos: 1, reasons: []string{"too_large"}},
	{name: "empty payload", payload: js(""), qos: 1, reasons: []string{"no_fields"}},
	{name: "random bytes", payload: func(time.Time, int) []byte {
		b := make([]byte, 4096)
		rand.New(rand.NewSource(9)).Read(b)
		b[0] = 0
		return b
	}, qos: 1, reasons: []string{"*"}},
	{name: "invalid UTF-8 field name", payload: js("{\"\xff\xfe\":1}"), qos: 1, reasons: []string{"bad_json"}},
	{name: "invalid UTF-8 string value", payload: js("{\"v\":1,\"fw\":\"\xc3\x28\"}"), qos: 1, reasons: []string{"bad_json"}},
	{name: "field name not a metric name", payload: js(`{"temp-°C":21}`), qos: 1, stored: `temp__C{device="{dev}"}`, value: "21"},
	{name: "field __name__", payload: js(`{"__name__":1}`), qos: 1, reasons: []string{"bad_name"}},
	{name: "field named like a label", payload: js(`{"device":5,"site":6}`), qos: 1, stored: `device{device="{dev}",site="s1"}`, value: "5"},
	{name: "arrays only", payload: js(`{"a":[1,2,3]}`), qos: 1, reasons: []string{"no_fields"}},
	{name: "top-level array", payload: js(`[1,2,3]`), qos: 1, reasons: []string{"bad_senml"}},
	{name: "null", payload: js(`null`), qos: 1, reasons: []string{"bad_json"}},
	{name: "top-level string", payload: js(`"21.5"`), qos: 1, reasons: []string{"bad_json"}},
	{name: "booleans", payload: js(`{"door":true,"alarm":false}`), qos: 1, stored: `door{device="{dev}"}`, value: "1"},
	{name: "strings only", payload: js(`{"state":"ok"}`), qos: 1, reasons: []string{"no_fields"}},
	{name: "duplicated keys", payload: js(`{"v":1,"v":2}`), qos: 1, reasons: []string{"bad_json"}},
	{name: "BOM prefix", payload: js("\xef\xbb\xbf{\"v\":3}"), qos: 1, stored: `v{device="{dev}"}`, value: "3"},
	{name: "trailing garbage", payload: js(`{"v":1}garbage`), qos: 1, reasons: []string{"bad_json"}},

	// Influx line protocol.
	{name: "line bad escape", payload: js(`m,t=a\ v="unterminated`), qos: 1, reasons: []string{"bad_line_protocol"}},
	{name: "line huge timestamp", payload: js(`m v=1 99999999999999999999`), qos: 1, reasons: reasonsBadTime},
	{name: "line negative timestamp", payload: js(`m v=1 -1000`), qos: 1, reasons: reasonsBadTime},
	{name: "line timestamp +30d", payload: func(n time.Time, _ int) []byte {
		return []byte(fmt.Sprintf("m v=1 %d", n.Add(30*24*time.Hour).UnixNano()))
	}, qos: 1, reasons: reasonsFuture},
	{name: "line 2000 fields", payload: func(time.Time, int) []byte {
		var b strings.Builder
		b.WriteString("m ")
		for k := 0; k < 2000; k++ {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "f%d=%d", k, k)
		}
		return []byte(b.String())
	}, qos: 1, reasons: []string{"too_many_fields"}},
	{name: "line NaN", payload: js(`m v=NaN`), qos: 1, reasons: []string{"bad_line_protocol"}},
	{name: "line +Inf", payload: js(`m v=+Inf`), qos: 1, reasons: []string{"bad_line_protocol"}},
	{name: "line integer overflow", payload: js(`m v=99999999999999999999i`), qos: 1, reasons: []string{"bad_line_protocol"}},
	{name: "line invalid UTF-8", payload: js("m\xff v=1"), qos: 1, reasons: []string{"bad_line_protocol"}},
	{name: "line tag named like a topic label", payload: js(`m,device=evil v=4`), qos: 1,
		stored: `m_v{device="{dev}",exported_device="evil"}`, value: "4"},
	{name: "line tag __name__", payload: js(`m,__name__=x v=4`), qos: 1, reasons: []string{"bad_name"}},
	{name: "line tag not a label name", payload: js(`m,air-quality=good v=2`), qos: 0,
		stored: `m_v{device="{dev}",air_quality="good"}`, value: "2"},
	{name: "line tag name 300 bytes", payload: js("m," + strings.Repeat("t", 300) + "=x v=1"), qos: 1, reasons: []string{"bad_name"}},
	{name: "line tag value 2000 bytes", payload: js("m,t=" + strings.Repeat("x", 2000) + " v=1"), qos: 1, reasons: []string{"too_large"}},
	{name: "line 100 tags", payload: func(time.Time, int) []byte {
		var b strings.Builder
		b.WriteString("m")
		for k := 0; k < 100; k++ {
			fmt.Fprintf(&b, ",t%d=v", k)
		}
		b.WriteString(" v=1")
		return []byte(b.String())
	}, qos: 1, reasons: []string{"bad_name"}},

	// SenML.
	{name: "senml empty name", payload: js(`[{"n":"","v":1}]`), qos: 1, reasons: []string{"bad_senml"}},
	{name: "senml URN base name", payload: js(`[{"bn":"urn:dev:mac:0024befffe804ff1:","n":"temp","v":21}]`), qos: 1,
		stored: `{__name__="urn:dev:mac:0024befffe804ff1:temp",device="{dev}"}`, value: "21"},
	{name: "senml invalid UTF-8 base name", payload: js("[{\"bn\":\"\xff\",\"n\":\"t\",\"v\":1}]"), qos: 1, reasons: []string{"bad_senml"}},
	{name: "senml base name __", payload: js(`[{"bn":"__","n":"name__","v":1}]`), qos: 1, reasons: []string{"bad_name"}},
	{name: "senml ancient relative time", payload: js(`[{"n":"x","v":1,"t":-4e9}]`), qos: 1, reasons: reasonsBadTime},
	{name: "senml NaN", payload: js(`[{"n":"x","v":NaN}]`), qos: 1, reasons: []string{"bad_senml"}},

	// Topics.
	{name: "topic invalid UTF-8", topic: "city/hostile/s1/{dev}\xff\xfe", payload: js(`{"v":1}`), qos: 1, brokerRefuses: true},
	{name: "topic with NUL", topic: "city/hostile/s1/{dev}\x00x", payload: js(`{"v":1}`), qos: 1, brokerRefuses: true},
	{name: "topic with wildcard +", topic: "city/hostile/+/{dev}", payload: js(`{"v":1}`), qos: 1, brokerRefuses: true},
	{name: "topic with wildcard #", topic: "city/hostile/s1/{dev}/#", payload: js(`1`), qos: 0, brokerRefuses: true},
	{name: "topic $ segment", topic: "$SYS/hostile/{dev}", payload: js(`{"v":1}`), qos: 1, brokerRefuses: true},
	{name: "topic very long", topic: "city/hostile/s1/{dev}" + strings.Repeat("x", 60000), payload: js(`{"v":1}`), qos: 1,
		reasons: []string{"too_large"}},
	{name: "topic empty level", topic: "city/hostile//{dev}", payload: js(`{"v":1}`), qos: 1, reasons: []string{"unmapped_topic"}},
	{name: "topic unmapped", topic: "hostile/{dev}", payload: js(`{"v":1}`), qos: 1, reasons: []string{"unmapped_topic"}},
	{name: "JSON on a site topic", topic: "city/hostile/{dev}", payload: js(`{"v":1}`), qos: 1, reasons: []string{"unmapped_topic"}},

	// A device that keeps inventing field names: 10,000 new names over 20 messages hit the per-device series limit.
	{name: "10k new field names over 20 messages", repeat: 20, payload: func(_ time.Time, i int) []byte {
		return manyFields("n", i*500, 500)
	}, qos: 1, reasons: []string{"series_limit"}},
}

// hostileHTTP is one bad HTTP request kind.
type hostileHTTP struct {
	name   string
	method string
	path   string
	// raw, when set, is sent as is on a TCP connection instead (for what net/http refuses to send).
	raw    string
	body   func() io.Reader
	header map[string]string
	// noAuth sends no admin token (header may carry its own Authorization).
	noAuth bool
	// cookies is how many cookies to send.
	cookies int
	// want are the acceptable status codes.
	want []int
	// notIn must not occur in the response body.
	notIn string
}

// bigJSON returns a body of about n bytes that is one valid JSON object, so only a size limit stops a server
// from reading all of it.
func bigJSON(n int) func() io.Reader {
	return func() io.Reader {
		return io.MultiReader(strings.NewReader(`{"comment":"`), io.LimitReader(letters{}, int64(n)), strings.NewReader(`"}`))
	}
}

// bigForm returns a form body of about n bytes.
func bigForm(n int) func() io.Reader {
	return func() io.Reader {
		return io.MultiReader(strings.NewReader(`query=up&pad=`), io.LimitReader(letters{}, int64(n)))
	}
}

type letters struct{}

func (letters) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func strBody(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }

var (
	jsonCT = map[string]string{"Content-Type": "application/json"}
	formCT = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
)

var hostileHTTPCases = []hostileHTTP{
	{name: "oversized silence body", method: "POST", path: "/api/silences", body: bigJSON(64 << 20), header: jsonCT,
		want: []int{413}},
	{name: "oversized login body", method: "POST", path: "/api/login", body: bigJSON(64 << 20), header: jsonCT, noAuth: true,
		want: []int{413}},
	{name: "oversized query form", method: "POST", path: "/api/v1/query", body: bigForm(64 << 20), header: formCT,
		want: []int{400, 413}},
	{name: "malformed JSON", method: "POST", path: "/api/silences", body: strBody(`{"matchers":[`), header: jsonCT,
		want: []int{400}},
	{name: "JSON of the wrong shape", method: "POST", path: "/api/silences", body: strBody(`[1,2,3]`), header: jsonCT,
		want: []int{400}},
	{name: "wrong content type", method: "POST", path: "/api/silences", body: strBody(`<xml/>`),
		header: map[string]string{"Content-Type": "application/xml"}, want: []int{400, 415}},
	{name: "login malformed", method: "POST", path: "/api/login", body: strBody(`{"username":`), header: jsonCT, noAuth: true,
		want: []int{400, 401}},
	{name: "huge query string", method: "GET", path: "/api/v1/query?query=" + strings.Repeat("a+", 200000) + "a",
		want: []int{400, 413, 414, 422, 431}},
	{name: "PromQL absurd range", method: "GET", path: "/api/v1/query?query=" + url.QueryEscape(`count_over_time({__name__=~".+"}[100y])`),
		want: []int{200, 400, 422, 503}},
	{name: "query_range 1ms step over 10 years", method: "GET",
		path: "/api/v1/query_range?query=up&start=1500000000&end=1800000000&step=0.001", want: []int{400, 422}},
	{name: "query_range zero step", method: "GET", path: "/api/v1/query_range?query=up&start=0&end=100&step=0",
		want: []int{400}},
	{name: "query_range negative step", method: "GET", path: "/api/v1/query_range?query=up&start=0&end=100&step=-5",
		want: []int{400}},
	{name: "query_range end before start", method: "GET", path: "/api/v1/query_range?query=up&start=100&end=0&step=1",
		want: []int{400}},
	{name: "PromQL syntax error", method: "GET", path: "/api/v1/query?query=" + url.QueryEscape(`sum(rate(x[5m]`),
		want: []int{400}},
	{name: "invalid UTF-8 in query", method: "GET", path: "/api/v1/query?query=%ff%fe", want: []int{400}},
	{name: "invalid UTF-8 label name", method: "GET", path: "/api/v1/label/%ff%fe/values", want: []int{400}},
	{name: "series match everything", method: "GET", path: "/api/v1/series?match[]=" + url.QueryEscape(`{__name__=~".*"}`),
		want: []int{200, 400, 422, 503}},
	{name: "bad time parameter", method: "GET", path: "/api/v1/query?query=up&time=yesterday", want: []int{400}},
	{name: "unknown route", method: "GET", path: "/api/does/not/exist", want: []int{404}},
	{name: "wrong method", method: "DELETE", path: "/api/v1/query?query=up", want: []int{404, 405}},
	{name: "unknown camera snapshot", method: "GET", path: "/api/cameras/nope/snapshot.jpg", want: []int{404}},
	{name: "path traversal in UI", raw: "GET /ui/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		want: []int{301, 307, 308, 400, 401, 404}, notIn: "root:"},
	{name: "encoded path traversal in UI", method: "GET", path: "/ui/..%2f..%2f..%2fetc%2fpasswd",
		want: []int{301, 307, 308, 400, 401, 404}, notIn: "root:"},
	{name: "path traversal with admin token", raw: "GET /ui/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + adminToken + "\r\nConnection: close\r\n\r\n",
		want: []int{301, 307, 308, 400, 404}, notIn: "root:"},
	{name: "path traversal in camera id", method: "GET", path: "/api/cameras/..%2f..%2fetc%2fpasswd/snapshot.jpg",
		want: []int{400, 404}, notIn: "root:"},
	{name: "path traversal in clip", method: "GET", path: "/api/cameras/c1/clips/..%2f..%2f..%2fetc%2fpasswd",
		want: []int{400, 404}, notIn: "root:"},
	{name: "invalid UTF-8 in path", method: "GET", path: "/api/cameras/%ff%fe", want: []int{400, 404}},
	{name: "empty bearer token", method: "GET", path: "/api/devices", noAuth: true,
		header: map[string]string{"Authorization": "Bearer "}, want: []int{401}},
	{name: "basic auth garbage", method: "GET", path: "/api/devices", noAuth: true,
		header: map[string]string{"Authorization": "Basic !!!notbase64"}, want: []int{401}},
	{name: "huge bearer token", method: "GET", path: "/api/devices", noAuth: true,
		header: map[string]string{"Authorization": "Bearer " + strings.Repeat("A", 100000)}, want: []int{401, 431}},
	{name: "bearer with invalid UTF-8", raw: "GET /api/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n",
		want: []int{400, 401}},
	{name: "unknown auth scheme", method: "GET", path: "/api/devices", noAuth: true,
		header: map[string]string{"Authorization": "Negotiate abc"}, want: []int{401}},
	{name: "many cookies", method: "GET", path: "/api/devices", noAuth: true, cookies: 3000, want: []int{400, 401, 431}},
	{name: "garbage session cookie", raw: "GET /api/devices HTTP/1.1\r\nHost: x\r\nCookie: citywatch_session=\"\x01\xff\"; session=%%%\r\nConnection: close\r\n\r\n",
		want: []int{400, 401}},
	{name: "huge header", method: "GET", path: "/healthz", noAuth: true,
		header: map[string]string{"X-Junk": strings.Repeat("j", 2<<20)}, want: []int{431}},
	{name: "request line garbage", raw: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", want: []int{400}},
}

// hostileEnv is the one citywatch process of the table and what drives it.
type hostileEnv struct {
	t      *testing.T
	p      *proc
	base   string
	broker string
	pub    mqtt.Client
	hc     *http.Client
	good   int
}

// TestHostileInputs drives one citywatch process with every case of hostileMQTTCases and hostileHTTPCases.
func TestHostileInputs(t *testing.T) {
	e2e(t)
	if testing.Short() {
		t.Skip("starts the citywatch binary")
	}
	// The broker takes 2 MiB packets so the 1 MB payload reaches ingest (which takes 256 KiB: enough for the
	// 10k-field message to reach the decoder).
	cw := newServe(t, withBroker("max_message_bytes: 2MiB"), withYAML("ingest:\n  max_payload_bytes: 256KiB\n"))
	e := &hostileEnv{t: t, base: cw.base(), broker: cw.broker(), hc: &http.Client{Timeout: 60 * time.Second}}
	e.p = cw.start(t)
	e.pub = mqttClient(t, e.broker, "hostile-publisher")
	e.storeGood() // the baseline works before anything hostile happens

	for i, c := range hostileMQTTCases {
		t.Run("mqtt/"+c.name, func(t *testing.T) {
			e.t = t
			e.mqttCase(i, c)
			e.aftermath()
		})
	}
	for _, c := range hostileHTTPCases {
		t.Run("http/"+c.name, func(t *testing.T) {
			e.t = t
			e.httpCase(c)
			e.aftermath()
		})
	}
	e.t = t
	e.p.stop()
}

func (e *hostileEnv) mqttCase(i int, c hostileMQTT) {
	t := e.t
	dev := fmt.Sprintf("hostile%03d", i)
	topic := c.topic
	if topic == "" {
		topic = "city/hostile/s1/{dev}"
	}
	topic = strings.ReplaceAll(topic, "{dev}", dev)
	n := max(c.repeat, 1)
	before := e.rejectedCounts()

	client := e.pub
	if c.brokerRefuses {
		client = e.looseClient("hostile-" + dev)
	}
	for k := 0; k < n; k++ {
		tok := client.Publish(topic, c.qos, false, c.payload(time.Now(), k))
		if c.brokerRefuses {
			// A refused packet may end the connection or go unanswered (mochi does not acknowledge a QoS 1
			// publish to $SYS): wait for the answer or the close, up to a bound, then check the aftermath.
			tok.WaitTimeout(2 * time.Second)
			continue
		}
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d to %.80q: %v", k, topic, tok.Error())
		}
	}
	if c.brokerRefuses {
		client.Disconnect(0)
		// Whatever the broker did with it, nothing of the refused packet may be stored.
		q := fmt.Sprintf(`{device=~"%s.*"}`, dev)
		if r := query(t, e.base, q); len(r.Data.Result) != 0 {
			t.Fatalf("%s: a refused packet was stored: %+v", q, r.Data.Result)
		}
		return
	}
	switch {
	case len(c.reasons) > 0:
		eventually(t, 20*time.Second, func() string { return e.rejectedAs(dev, c.reasons, before) })
	case c.stored != "":
		q := strings.ReplaceAll(c.stored, "{dev}", dev)
		eventually(t, 20*time.Second, func() string { return e.storedAs(q, c.value) })
	default:
		t.Fatalf("case %q says neither what is rejected nor what is stored", c.name)
	}
}

// rejectedAs checks that the counter of one of reasons grew since before and that the dead-letter list has the
// device's message with one of them.
func (e *hostileEnv) rejectedAs(dev string, reasons []string, before map[string]float64) string {
	after := e.rejectedCounts()
	anyReason := len(reasons) == 1 && reasons[0] == "*"
	grew := false
	for r, v := range after {
		if (anyReason || contains(reasons, r)) && v > before[r] {
			grew = true
		}
	}
	if !grew {
		return fmt.Sprintf("citywatch_ingest_rejected_total did not grow for %v: %v", reasons, after)
	}
	var rej struct {
		Rejected []struct{ Topic, Reason, Error string }
	}
	if code, err := getJSON(e.base, "/api/ingest/rejected", &rej); err != nil || code != 200 {
		return fmt.Sprintf("/api/ingest/rejected: %d %v", code, err)
	}
	var seen []string
	for _, r := range rej.Rejected {
		if !strings.Contains(r.Topic, dev) {
			continue
		}
		if anyReason || contains(reasons, r.Reason) {
			return ""
		}
		seen = append(seen, r.Reason+": "+r.Error)
	}
	return fmt.Sprintf("no dead letter of %s with reason %v; its dead letters: %q", dev, reasons, seen)
}

func (e *hostileEnv) storedAs(q, value string) string {
	r := query(e.t, e.base, q)
	if len(r.Data.Result) == 0 {
		return fmt.Sprintf("%s: nothing stored; rejected: %s", q, e.lastRejected())
	}
	if value == "" {
		return ""
	}
	got, _ := r.Data.Result[0].Value[1].(string)
	g, err1 := strconv.ParseFloat(got, 64)
	w, err2 := strconv.ParseFloat(value, 64)
	if err1 != nil || err2 != nil || g != w && !(math.IsNaN(g) && math.IsNaN(w)) {
		return fmt.Sprintf("%s = %s, want %s", q, got, value)
	}
	return ""
}

func (e *hostileEnv) lastRejected() string {
	var rej struct {
		Rejected []struct{ Topic, Reason, Error string }
	}
	getJSON(e.base, "/api/ingest/rejected", &rej)
	if len(rej.Rejected) == 0 {
		return "none"
	}
	r := rej.Rejected[0]
	return fmt.Sprintf("%.80s %s %.200s", r.Topic, r.Reason, r.Error)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// rejectedCounts reads citywatch_ingest_rejected_total by reason from /metrics.
func (e *hostileEnv) rejectedCounts() map[string]float64 {
	e.t.Helper()
	resp, err := e.do("GET", "/metrics", nil, nil, true)
	if err != nil {
		e.t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	const prefix = `citywatch_ingest_rejected_total{reason="`
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		reason, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		if err == nil {
			out[reason] = v
		}
	}
	return out
}

// looseClient connects a client of its own for a case the broker may answer by closing the connection.
func (e *hostileEnv) looseClient(id string) mqtt.Client {
	opts := mqtt.NewClientOptions().AddBroker(e.broker).SetClientID(id).SetConnectTimeout(10 * time.Second).
		SetAutoReconnect(false)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		e.t.Fatalf("connect %s: %v", id, tok.Error())
	}
	return c
}

func (e *hostileEnv) do(method, path string, body io.Reader, header map[string]string, auth bool) (*http.Response, error) {
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+adminToken)
	}
	return e.hc.Do(req)
}

func (e *hostileEnv) httpCase(c hostileHTTP) {
	t := e.t
	var code int
	var body []byte
	if c.raw != "" {
		code, body = e.rawHTTP(c.raw)
	} else {
		var rd io.Reader
		if c.body != nil {
			rd = c.body()
		}
		req, err := http.NewRequest(c.method, e.base+c.path, rd)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		if !c.noAuth {
			req.Header.Set("Authorization", "Bearer "+adminToken)
		}
		for k := 0; k < c.cookies; k++ {
			req.AddCookie(&http.Cookie{Name: fmt.Sprintf("c%d", k), Value: strings.Repeat("v", 20)})
		}
		code, body = e.sendStreaming(req)
	}
	if !containsInt(c.want, code) {
		t.Errorf("status %d, want one of %v; body %.300s", code, c.want, body)
	}
	if c.notIn != "" && bytes.Contains(body, []byte(c.notIn)) {
		t.Errorf("the response contains %q: %.300s", c.notIn, body)
	}
}

// sendStreaming sends req on a connection of its own, writing the request while it reads the answer: a server
// that refuses an oversized body answers before reading it all and then closes, which makes an http.Client
// report the failed write instead of the answer.
func (e *hostileEnv) sendStreaming(req *http.Request) (int, []byte) {
	t := e.t
	conn, err := net.DialTimeout("tcp", req.URL.Host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	req.Close = true
	written := make(chan struct{})
	go func() {
		defer close(written)
		req.Write(conn) // fails when the server answers early and closes: the answer tells
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("%s %.100s: reading the answer: %v", req.Method, req.URL.RequestURI(), err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	conn.Close()
	<-written
	return resp.StatusCode, body
}

// rawHTTP sends req on a connection of its own and returns the status code and body of the answer.
func (e *hostileEnv) rawHTTP(req string) (int, []byte) {
	t := e.t
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(e.base, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// aftermath checks that the process is alive and healthy and still stores good data from another device.
func (e *hostileEnv) aftermath() {
	t := e.t
	t.Helper()
	select {
	case <-e.p.Done():
		t.Fatalf("citywatch exited: %v\n%s", e.p.Err(), tail(e.p.Out.String(), 4000))
	default:
	}
	resp, err := e.do("GET", "/healthz", nil, nil, false)
	if err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	e.storeGood()
}

// storeGood publishes a current reading of a device never used before and waits until it is queryable.
func (e *hostileEnv) storeGood() {
	t := e.t
	t.Helper()
	e.good++
	dev := fmt.Sprintf("good%03d", e.good)
	publish(t, e.pub, "city/good/s1/"+dev, 1, fmt.Sprintf(`{"ok":%d,"ts":%d}`, e.good, time.Now().UnixMilli()))
	eventually(t, 20*time.Second, func() string {
		return e.storedAs(fmt.Sprintf(`ok{device=%q}`, dev), strconv.Itoa(e.good))
	})
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
