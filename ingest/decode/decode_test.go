package decode

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// testNow is the "now" of every test: SenML relative times resolve against it.
var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// decodeCase is one decoder table case. want is the records rendered by render; err is a substring of the
// expected error ("" for success); ts says the error must wrap ErrTimestamp.
type decodeCase struct {
	name    string
	payload string
	prec    Precision
	want    string
	err     string
	ts      bool
}

var jsonCases = []decodeCase{
	{name: "flat", payload: `{"temperature":21.5,"humidity":40}`, want: `{temperature=21.5 humidity=40}`},
	{name: "bools", payload: `{"door":true,"alarm":false}`, want: `{door=1 alarm=0}`},
	{name: "nested", payload: `{"air":{"pm25":3,"pm10":{"raw":7}},"t":1}`, want: `{air_pm25=3 air_pm10_raw=7 t=1}`},
	{name: "strings and nulls ignored", payload: `{"id":"abc","fw":null,"v":1}`, want: `{v=1}`},
	{name: "arrays ignored", payload: `{"pos":[1,2,[3,{"a":4}]],"v":1}`, want: `{v=1}`},
	{name: "empty object", payload: `{}`, want: `{}`},
	{name: "only strings", payload: `{"a":"b"}`, want: `{}`},
	{name: "whitespace", payload: " \r\n\t{ \"a\" : 1 , \"b\" :\n-2.5e-3 } \n", want: `{a=1 b=-0.0025}`},
	{name: "escaped key", payload: `{"t\u00e9mp\"x":1,"a\/b":2}`, want: `{témp"x=1 a/b=2}`},
	{name: "surrogate pair", payload: `{"\ud83d\ude00":1}`, want: `{😀=1}`},
	{name: "lone surrogate", payload: `{"\ud83d":1}`, want: "{\uFFFD=1}"},
	{name: "escaped string value", payload: `{"s":"a\"b\\\n\u0041","v":2}`, want: `{v=2}`},
	{name: "ts millis", payload: `{"ts":1700000000123,"v":1}`, want: `{v=1} @1700000000.123000000`},
	{name: "ts seconds", payload: `{"v":1,"ts":1700000000}`, want: `{v=1} @1700000000.000000000`},
	{name: "ts fractional seconds", payload: `{"ts":1700000000.25,"v":1}`, want: `{v=1} @1700000000.250000000`},
	{name: "ts rfc3339", payload: `{"ts":"2023-11-14T22:13:20.5Z","v":1}`, want: `{v=1} @1700000000.500000000`},
	{name: "ts rfc3339 offset", payload: `{"ts":"2023-11-15T00:13:20+02:00","v":1}`, want: `{v=1} @1700000000.000000000`},
	{name: "time key", payload: `{"time":1700000000000,"v":1}`, want: `{v=1} @1700000000.000000000`},
	{name: "ts null", payload: `{"ts":null,"v":1}`, want: `{v=1}`},
	{name: "nested ts is a field", payload: `{"gps":{"ts":5},"v":1}`, want: `{gps_ts=5 v=1}`},
	{name: "large exact", payload: `{"a":9007199254740993}`, want: `{a=9.007199254740992e+15}`},
	{name: "underflow is zero", payload: `{"a":1e-400}`, want: `{a=0}`},
	{name: "depth 16 ok", payload: strings.Repeat(`{"a":`, 16) + "1" + strings.Repeat("}", 16), want: `{` + strings.Repeat("a_", 15) + `a=1}`},

	{name: "depth 17", payload: strings.Repeat(`{"a":`, 17) + "1" + strings.Repeat("}", 17), err: "nesting deeper than 16"},
	{name: "depth 17 via array", payload: strings.Repeat(`{"a":`, 15) + "[[1]]" + strings.Repeat("}", 15), err: "nesting deeper than 16"},
	{name: "overflow", payload: `{"a":1e400}`, err: "out of range"},
	{name: "negative overflow", payload: `{"a":-1e400}`, err: "out of range"},
	{name: "NaN", payload: `{"a":NaN}`, err: "malformed number"},
	{name: "Infinity", payload: `{"a":Infinity}`, err: "malformed number"},
	{name: "minus Infinity", payload: `{"a":-Infinity}`, err: "malformed number"},
	{name: "BOM", payload: "\xef\xbb\xbf{\"a\":1}", want: `{a=1}`},
	{name: "non-ASCII key", payload: `{"température":1}`, want: `{température=1}`},
	{name: "invalid UTF-8 key", payload: "{\"\xff\xfe\":1}", err: "not valid UTF-8"},
	{name: "invalid UTF-8 escaped key", payload: "{\"a\\n\xc3\x28\":1}", err: "not valid UTF-8"},
	{name: "invalid UTF-8 ignored value", payload: "{\"v\":1,\"fw\":\"\xc3\x28\"}", err: "not valid UTF-8"},
	{name: "invalid UTF-8 in array", payload: "{\"v\":1,\"a\":[\"\xed\xa0\x80\"]}", err: "not valid UTF-8"},
	{name: "ts year 9999", payload: `{"ts":"9999-12-31T23:59:59Z","v":1}`, ts: true, err: "after 2262"},
	{name: "ts year 1 is not none", payload: `{"ts":"0001-01-01T00:00:00Z","v":1}`, ts: true, err: "not after 1970"},
	{name: "ts 1900", payload: `{"ts":"1900-01-01T00:00:00Z","v":1}`, ts: true, err: "not after 1970"},
	{name: "ts epoch string", payload: `{"ts":"1970-01-01T00:00:00Z","v":1}`, ts: true},
	{name: "ts just after epoch string", payload: `{"ts":"1970-01-01T00:00:00.001Z","v":1}`, want: `{v=1} @0.001000000`},
	{name: "ts microseconds", payload: `{"ts":1700000000000000,"v":1}`, ts: true},
	{name: "10k levels", payload: strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000), err: "nesting deeper than 16"},
	{name: "null top level", payload: `null`, err: "expected a JSON object"},
	{name: "duplicate key", payload: `{"a":1,"a":2}`, err: `field "a" occurs twice`},
	{name: "duplicate after flattening", payload: `{"a_b":1,"a":{"b":2}}`, err: `field "a_b" occurs twice`},
	{name: "duplicate ts", payload: `{"ts":1,"ts":2,"v":1}`, err: `key "ts" occurs twice`},
	{name: "ts and time", payload: `{"ts":1700000000,"time":1700000000,"v":1}`, ts: true},
	{name: "ts bool", payload: `{"ts":true,"v":1}`, ts: true},
	{name: "ts object", payload: `{"ts":{},"v":1}`, ts: true},
	{name: "ts bad string", payload: `{"ts":"yesterday","v":1}`, ts: true},
	{name: "ts zero", payload: `{"ts":0,"v":1}`, ts: true},
	{name: "ts negative", payload: `{"ts":-5,"v":1}`, ts: true},
	{name: "ts seconds past 2262", payload: `{"ts":99999999999,"v":1}`, ts: true},
	{name: "ts millis past 2262", payload: `{"ts":1e13,"v":1}`, ts: true},
	{name: "array top level", payload: `[1]`, err: "expected a JSON object"},
	{name: "empty", payload: ``, err: "expected a JSON object"},
	{name: "trailing data", payload: `{"a":1}x`, err: "unexpected data after the object"},
	{name: "two objects", payload: `{"a":1}{"b":2}`, err: "unexpected data after the object"},
	{name: "trailing comma", payload: `{"a":1,}`, err: "expected object key"},
	{name: "unterminated", payload: `{"a":1`, err: "unterminated object"},
	{name: "unterminated skipped array", payload: `{"a":[1,2`, err: "unterminated array"},
	{name: "unterminated skipped object", payload: `{"a":[{"b":"c"`, err: "unterminated object"},
	{name: "skipped array bad separator", payload: `{"a":["x";2]}`, err: `expected ',' or ']', got ';'`},
	{name: "unterminated string", payload: `{"a`, err: "unterminated string"},
	{name: "missing colon", payload: `{"a" 1}`, err: `expected ':'`},
	{name: "leading zero", payload: `{"a":01}`, err: "malformed number"},
	{name: "plus sign", payload: `{"a":+1}`, err: "malformed number"},
	{name: "bare dot", payload: `{"a":1.}`, err: "malformed number"},
	{name: "hex", payload: `{"a":0x10}`, err: "malformed number"},
	{name: "control char", payload: "{\"a\nb\":1}", err: "control character"},
	{name: "bad escape", payload: `{"a\x":1}`, err: "bad escape"},
	{name: "bad unicode escape", payload: `{"\u12":1}`, err: `bad \u escape`},
	{name: "single quotes", payload: `{'a':1}`, err: "expected object key"},
	{name: "truex", payload: `{"a":truex}`, err: "invalid literal"},
	{name: "missing value", payload: `{"a":}`, err: "malformed number"},
}

var lineCases = []decodeCase{
	{name: "one line", payload: "weather,site=a temp=21.5,hum=40i 1700000000000000000", want: `weather[site=a]{temp=21.5 hum=40} @1700000000.000000000`},
	{name: "no timestamp", payload: "air pm25=3u", want: `air{pm25=3}`},
	{name: "kinds", payload: `m i=-3i,u=4u,f=1.5,b=true,B=F,s="text"`, want: `m{i=-3 u=4 f=1.5 b=1 B=0}`},
	{name: "only string fields", payload: `m s="x"`, want: `m{}`},
	{name: "several lines", payload: "a x=1 1\n\n# comment\nb,t=1 y=2 2\r\n", want: `a{x=1} @0.000000001 | b[t=1]{y=2} @0.000000002`},
	{name: "escapes", payload: `m\ x,t\,a=v\ 1 f\=x=1`, want: `m x[t,a=v 1]{f=x=1}`},
	{name: "precision s", payload: "m v=1 1700000000", prec: Second, want: `m{v=1} @1700000000.000000000`},
	{name: "precision ms", payload: "m v=1 1700000000123", prec: Millisecond, want: `m{v=1} @1700000000.123000000`},
	{name: "precision us", payload: "m v=1 1700000000123456", prec: Microsecond, want: `m{v=1} @1700000000.123456000`},
	{name: "BOM", payload: "\xef\xbb\xbfm v=1", want: `m{v=1}`},
	{name: "empty", payload: "", want: ``},
	{name: "comments only", payload: "# x\n\n", want: ``},

	{name: "no fields", payload: "m", err: "empty tag name"},
	{name: "tag without fields", payload: "m,t=1", err: "field"},
	{name: "bad value", payload: "m v=abc", err: "unrecognized type"},
	{name: "NaN", payload: "m v=NaN", err: "unrecognized type"},
	{name: "float overflow", payload: "m v=1e400", err: "out of range"},
	{name: "int overflow", payload: "m v=99999999999999999999i", err: "out of range"},
	{name: "duplicate field", payload: "m v=1,v=2", err: `field "v" occurs twice`},
	{name: "duplicate tag", payload: "m,t=1,t=2 v=1", err: `tag "t" occurs twice`},
	{name: "bad second line", payload: "m v=1\nm v=", err: "line 2"},
	{name: "bad timestamp", payload: "m v=1 12a", err: "invalid timestamp"},
	{name: "timestamp overflow s", payload: "m v=1 9223372036854775", prec: Second, ts: true},
	{name: "timestamp too big", payload: "m v=1 99999999999999999999", ts: true},
	{name: "json", payload: `{"a":1}`, err: "line 1"},
	{name: "negative time", payload: "m v=1 -1000000000", ts: true, err: "not after 1970"},
	{name: "zero time", payload: "m v=1 0", ts: true, err: "not after 1970"},
	{name: "invalid UTF-8 measurement", payload: "m\xff v=1", err: "invalid utf-8"},
	{name: "invalid UTF-8 tag value", payload: "m,t=\xff v=1", err: "invalid utf-8"},
	{name: "+Inf", payload: "m v=+Inf", err: "unrecognized type"},
}

var numberCases = []decodeCase{
	{name: "decimal", payload: "21.5", want: `{=21.5}`},
	{name: "blanks", payload: " 21.5\n", want: `{=21.5}`},
	{name: "exponent", payload: "1e3", want: `{=1000}`},
	{name: "negative", payload: "-40", want: `{=-40}`},
	{name: "plus", payload: "+4", want: `{=4}`},
	{name: "leading dot", payload: ".5", want: `{=0.5}`},
	{name: "trailing dot", payload: "5.", want: `{=5}`},
	{name: "leading zeros", payload: "007", want: `{=7}`},
	{name: "true", payload: "true", want: `{=1}`},
	{name: "false", payload: "\tfalse\r\n", want: `{=0}`},

	{name: "empty", payload: "", err: "empty payload"},
	{name: "blank", payload: " \n", err: "empty payload"},
	{name: "BOM", payload: "\xef\xbb\xbf 4", want: `{=4}`},
	{name: "NaN", payload: "NaN", err: "NaN and infinities are rejected"},
	{name: "Inf", payload: "Inf", err: "NaN and infinities are rejected"},
	{name: "inf sign", payload: "-inf", err: "NaN and infinities are rejected"},
	{name: "Infinity", payload: " +Infinity\n", err: "NaN and infinities are rejected"},
	{name: "hex", payload: "0x10", err: "not a decimal number"},
	{name: "underscore", payload: "1_000", err: "not a decimal number"},
	{name: "unit", payload: "21.5 C", err: "not a decimal number"},
	{name: "two numbers", payload: "1 2", err: "not a decimal number"},
	{name: "comma decimal", payload: "21,5", err: "not a decimal number"},
	{name: "TRUE", payload: "TRUE", err: "not a decimal number"},
	{name: "bare sign", payload: "-", err: "not a decimal number"},
	{name: "bare exponent", payload: "1e", err: "not a decimal number"},
	{name: "overflow", payload: "1e400", err: "out of range"},
}

var senmlCases = []decodeCase{
	{name: "rfc example 5.1.1", payload: `[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]`,
		want: fmt.Sprintf(`[unit=Cel]{urn:dev:ow:10e2073a01080063=23.1} @%s`, stamp(testNow))},
	{name: "base fields", payload: `[{"bn":"dev1:","bt":1.7e9,"bu":"A","bver":10,"n":"voltage","u":"V","v":120.1},{"n":"current","t":-5,"v":1.2},{"n":"current","t":-4,"v":1.3}]`,
		want: `[unit=V]{dev1:voltage=120.1} @1700000000.000000000 | [unit=A]{dev1:current=1.2} @1699999995.000000000 | [unit=A]{dev1:current=1.3} @1699999996.000000000`},
	{name: "relative times", payload: `[{"n":"a","v":1,"t":-60},{"n":"b","v":2}]`,
		want: fmt.Sprintf(`{a=1} @%s | {b=2} @%s`, stamp(testNow.Add(-time.Minute)), stamp(testNow))},
	{name: "base value and sum", payload: `[{"bn":"m","bv":10,"bs":100,"v":1,"t":1.7e9},{"s":5,"t":1.7e9}]`,
		want: `{m=11} @1700000000.000000000 | {m=105} @1700000000.000000000`},
	{name: "value and sum", payload: `[{"n":"e","v":2,"s":10,"t":1.7e9}]`, want: `{e=2 e_sum=10} @1700000000.000000000`},
	{name: "bool value", payload: `[{"n":"door","vb":true,"t":1700000000},{"n":"door","vb":false,"t":1700000001}]`,
		want: `{door=1} @1700000000.000000000 | {door=0} @1700000001.000000000`},
	{name: "string and data values skipped", payload: `[{"n":"fw","vs":"1.2"},{"n":"blob","vd":"AAEC"},{"n":"t","v":3,"t":1.7e9}]`,
		want: `{t=3} @1700000000.000000000`},
	{name: "base-only record", payload: `[{"bn":"x_","bt":1700000000},{"n":"a","v":1}]`, want: `{x_a=1} @1700000000.000000000`},
	{name: "base name only", payload: `[{"bn":"dev/","bt":1700000000},{"n":"a","v":1}]`, want: `{dev/a=1} @1700000000.000000000`},
	{name: "unknown fields ignored", payload: `[{"n":"a","v":1,"t":1.7e9,"x":{"y":[1,2]},"ut":5}]`, want: `{a=1} @1700000000.000000000`},
	{name: "base unit overridden", payload: `[{"bu":"%RH","n":"h","v":40,"t":1.7e9},{"n":"t","u":"Cel","v":20,"t":1.7e9}]`,
		want: `[unit=%RH]{h=40} @1700000000.000000000 | [unit=Cel]{t=20} @1700000000.000000000`},
	{name: "empty pack", payload: `[]`, want: ``},
	{name: "escaped name", payload: `[{"n":"a\u0062","v":1,"t":1.7e9}]`, want: `{ab=1} @1700000000.000000000`},

	{name: "object", payload: `{"n":"a","v":1}`, err: "expected a JSON array"},
	{name: "record not object", payload: `[1]`, err: "expected a JSON object"},
	{name: "no name", payload: `[{"v":1}]`, err: "no name"},
	{name: "name not string", payload: `[{"n":1,"v":1}]`, err: "expected a string"},
	{name: "v not number", payload: `[{"n":"a","v":"1"}]`, err: "expected a number"},
	{name: "vb not bool", payload: `[{"n":"a","vb":1}]`, err: "expected a boolean"},
	{name: "two values", payload: `[{"n":"a","v":1,"vb":true}]`, err: "more than one of"},
	{name: "duplicate key", payload: `[{"n":"a","v":1,"v":2}]`, err: `key "v" occurs twice`},
	{name: "must understand", payload: `[{"n":"a","v":1,"foo_":1}]`, err: "must-understand"},
	{name: "overflow", payload: `[{"n":"a","v":1e400}]`, err: "out of range"},
	{name: "value overflow with base", payload: `[{"n":"a","bv":1.7e308,"v":1.7e308}]`, err: "overflows"},
	{name: "absolute time past 2262", payload: `[{"n":"a","v":1,"t":1e11}]`, ts: true},
	{name: "relative time too old", payload: `[{"n":"a","v":1,"t":-1e10}]`, ts: true},
	{name: "trailing", payload: `[]]`, err: "unexpected data after the array"},
	{name: "unterminated", payload: `[{"n":"a","v":1}`, err: "unterminated array"},
	{name: "BOM", payload: "\xef\xbb\xbf[{\"n\":\"a\",\"v\":1,\"t\":1.7e9}]", want: `{a=1} @1700000000.000000000`},
	{name: "invalid UTF-8 base name", payload: "[{\"bn\":\"\xff\",\"n\":\"t\",\"v\":1}]", err: "not valid UTF-8"},
	{name: "invalid UTF-8 string value", payload: "[{\"n\":\"t\",\"vs\":\"\xc0\xaf\"}]", err: "not valid UTF-8"},
	{name: "NaN", payload: `[{"n":"a","v":NaN}]`, err: "expected a number"},
	{name: "deep ignored field", payload: `[{"n":"a","v":1,"x":` + strings.Repeat("[", 15) + strings.Repeat("]", 15) + `}]`, err: "nesting deeper"},
}

func stamp(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// render prints records compactly: measurement[tags]{fields} @unix.nanos, records separated by " | ".
func render(recs []Record) string {
	var parts []string
	for _, r := range recs {
		var b strings.Builder
		b.WriteString(r.Measurement)
		if len(r.Tags) > 0 {
			b.WriteByte('[')
			for i, t := range r.Tags {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(t.Name + "=" + t.Value)
			}
			b.WriteByte(']')
		}
		b.WriteByte('{')
		for i, f := range r.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%v", f.Name, f.Value)
		}
		b.WriteByte('}')
		if !r.Time.IsZero() {
			b.WriteString(" @" + stamp(r.Time))
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, " | ")
}

type decodeFunc func(d *Decoder, payload []byte, prec Precision) ([]Record, error)

var (
	decodeJSON   decodeFunc = func(d *Decoder, p []byte, _ Precision) ([]Record, error) { return d.JSON(p) }
	decodeLine   decodeFunc = func(d *Decoder, p []byte, prec Precision) ([]Record, error) { return d.LineProtocol(p, prec) }
	decodeNumber decodeFunc = func(d *Decoder, p []byte, _ Precision) ([]Record, error) { return d.Number(p) }
	decodeSenML  decodeFunc = func(d *Decoder, p []byte, _ Precision) ([]Record, error) { return d.SenML(p, testNow) }
)

func runCases(t *testing.T, cases []decodeCase, fn decodeFunc) {
	t.Helper()
	var shared Decoder // reused across cases, as in production
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, err := fn(&shared, []byte(c.payload), c.prec)
			if c.err != "" || c.ts {
				if err == nil {
					t.Fatalf("want error, got %s", render(recs))
				}
				if c.ts && !errors.Is(err, ErrTimestamp) {
					t.Errorf("error %q does not wrap ErrTimestamp", err)
				}
				if !c.ts && errors.Is(err, ErrTimestamp) {
					t.Errorf("error %q wraps ErrTimestamp", err)
				}
				if !strings.Contains(err.Error(), c.err) {
					t.Errorf("error %q does not contain %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := render(recs); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			// A fresh decoder gives the same records: no state leaks between calls.
			fresh, err := fn(new(Decoder), []byte(c.payload), c.prec)
			if err != nil || render(fresh) != c.want {
				t.Errorf("fresh decoder: %s, %v", render(fresh), err)
			}
		})
	}
}

func TestJSON(t *testing.T)         { runCases(t, jsonCases, decodeJSON) }
func TestLineProtocol(t *testing.T) { runCases(t, lineCases, decodeLine) }
func TestNumber(t *testing.T)       { runCases(t, numberCases, decodeNumber) }
func TestSenML(t *testing.T)        { runCases(t, senmlCases, decodeSenML) }

var detectCases = []struct {
	payload string
	want    Format
}{
	{`{"a":1}`, FormatJSON},
	{"  \n{", FormatJSON},
	{`[{"n":"a","v":1}]`, FormatSenML},
	{"21.5", FormatNumber},
	{" -3", FormatNumber},
	{".5", FormatNumber},
	{"true", FormatNumber},
	{"false\n", FormatNumber},
	{"", FormatNumber},
	{"weather,site=a t=1", FormatLineProtocol},
	{"trueish v=1", FormatLineProtocol},
	{"NaN v=1", FormatLineProtocol},
	{"NaN", FormatNumber},
	{"-Inf\n", FormatNumber},
	{"infinity", FormatNumber},
	{"null", FormatJSON},
	{`"21.5"`, FormatJSON},
	{"\xef\xbb\xbf{\"a\":1}", FormatJSON},
	{"\xef\xbb\xbf[]", FormatSenML},
	{"\xef\xbb\xbf21", FormatNumber},
}

func TestDetect(t *testing.T) {
	for _, c := range detectCases {
		if got := Detect([]byte(c.payload)); got != c.want {
			t.Errorf("Detect(%q) = %v, want %v", c.payload, got, c.want)
		}
	}
}

func TestParseFormatAndPrecision(t *testing.T) {
	for _, f := range []Format{FormatAuto, FormatJSON, FormatLineProtocol, FormatNumber, FormatSenML} {
		got, err := ParseFormat(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f.String(), got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error("ParseFormat(xml) succeeded")
	}
	for _, p := range []Precision{Nanosecond, Microsecond, Millisecond, Second} {
		got, err := ParsePrecision(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePrecision(%q) = %v, %v", p.String(), got, err)
		}
	}
	if p, err := ParsePrecision("µs"); err != nil || p != Microsecond {
		t.Errorf("ParsePrecision(µs) = %v, %v", p, err)
	}
	if _, err := ParsePrecision("m"); err == nil {
		t.Error("ParsePrecision(m) succeeded")
	}
}

// TestRecordsOutliveNothing checks the package-level functions return records that own their memory.
func TestCloneOwnsMemory(t *testing.T) {
	payload := []byte(`{"abc":1,"x":{"y":2}}`)
	recs, err := JSON(payload)
	if err != nil {
		t.Fatal(err)
	}
	copy(payload, strings.Repeat("#", len(payload)))
	if got := render(recs); got != `{abc=1 x_y=2}` {
		t.Errorf("records changed with the payload: %s", got)
	}
	line := []byte("m,t=v f=1")
	lrecs, err := LineProtocol(line, Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	copy(line, "#########")
	if got := render(lrecs); got != `m[t=v]{f=1}` {
		t.Errorf("records changed with the payload: %s", got)
	}
}

func TestUnixTime(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
		ok   bool
	}{
		{1, "1.000000000", true},
		{1e11, "100000000000.000000000", false}, // seconds past 2262
		{1e11 + 1, "100000000.001000000", true},
		{1700000000123.5, "1700000000.123500000", true},
		{math.Inf(1), "", false},
		{math.NaN(), "", false},
	} {
		got, err := unixTime(c.in)
		if (err == nil) != c.ok {
			t.Errorf("unixTime(%v): err %v", c.in, err)
			continue
		}
		if c.ok && stamp(got) != c.want {
			t.Errorf("unixTime(%v) = %s, want %s", c.in, stamp(got), c.want)
		}
	}
}

// maxFieldsCases are payloads of exactly 3 fields per format; with MaxFields 3 they decode, with 2 they stop at
// the third field with ErrTooManyFields.
var maxFieldsCases = []struct {
	name    string
	format  Format
	payload string
}{
	{"json", FormatJSON, `{"a":1,"b":{"c":true},"d":2,"s":"x"}`},
	{"line one line", FormatLineProtocol, `m a=1,b=2,c=3,s="x"`},
	{"line over lines", FormatLineProtocol, "m a=1,b=2\nm c=3"},
	{"senml", FormatSenML, `[{"n":"a","v":1,"t":1.7e9},{"n":"b","v":2,"s":3,"t":1.7e9}]`},
}

func TestMaxFields(t *testing.T) {
	for _, c := range maxFieldsCases {
		t.Run(c.name, func(t *testing.T) {
			d := Decoder{MaxFields: 3}
			if _, _, err := d.Decode(c.format, []byte(c.payload), Nanosecond, testNow); err != nil {
				t.Fatalf("at the limit: %v", err)
			}
			d.MaxFields = 2
			_, _, err := d.Decode(c.format, []byte(c.payload), Nanosecond, testNow)
			if !errors.Is(err, ErrTooManyFields) {
				t.Fatalf("past the limit: %v, want ErrTooManyFields", err)
			}
			d.MaxFields = 0 // no limit
			if _, _, err := d.Decode(c.format, []byte(c.payload), Nanosecond, testNow); err != nil {
				t.Fatalf("without a limit: %v", err)
			}
		})
	}
}
