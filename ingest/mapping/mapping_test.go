package mapping

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"citywatch/store"
)

// testNow is the receive time of every test message; nowMs is its sample time.
var (
	testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	nowMs   = testNow.UnixMilli()
)

// testRules are the configured rules of the "all" mapper (which also has the default mapping) and of the
// "rules" mapper (which has not).
var testRules = []Rule{
	{Topic: "farm/{site}/{device}/{metric}", Format: "number", MetricPrefix: "farm_",
		Labels: map[string]string{"source": "farm"}, DeviceLabels: []string{"site", "device"}},
	{Topic: "lab/{room}", Format: "json", MetricPrefix: "lab_", Include: []string{"temp*", "hum*"},
		Exclude: []string{"humidity_raw"}, Scale: map[string]Scale{"temp_f": {Factor: 0.5, Offset: -6}, "humidity": {Offset: 1}},
		DeviceLabels: []string{"room"}},
	{Topic: "influx/{site}/#", Format: "influx", Precision: "s", Metric: "env", Labels: map[string]string{"zone": "z1"}},
	{Topic: "city/special/{site}/{device}", Format: "json", Metric: "special", DeviceLabels: []string{"device", "site"}},
	{Topic: "senml/{device}", Format: "senml", DeviceLabels: []string{"device"}},
	{Topic: "tank/{device}", Metric: "level", Labels: map[string]string{"kind": "tank"}, DeviceLabels: []string{"kind", "device"}},
	{Topic: "plain/{device}"},
	{Topic: "digits/{device}", MetricPrefix: "d:"},
}

// mapCase is one Map table case: want lists the samples rendered by renderSample, reason the expected
// rejection ("" for success).
type mapCase struct {
	name    string
	mapper  string // "all" (default), "rules" or "default"
	topic   string
	payload string
	want    []string
	device  string
	// noDevice says the result must name no device.
	noDevice bool
	devLbls  string
	reason   string
	errHas   string
}

const devD1 = `device="sensor42", district="d1", site="siteA"`

var mapCases = []mapCase{
	// The DESIGN.md contract, exactly.
	{name: "design example", topic: "city/d1/siteA/sensor42", payload: `{"temperature":21.5,"humidity":40}`,
		want:   []string{`temperature{` + devD1 + `} 21.5 @now`, `humidity{` + devD1 + `} 40 @now`},
		device: "d1/siteA/sensor42", devLbls: `{device="sensor42", district="d1", site="siteA"}`},
	{name: "design example, default only", mapper: "default", topic: "city/d1/siteA/sensor42", payload: `{"temperature":21.5,"humidity":40}`,
		want: []string{`temperature{` + devD1 + `} 21.5 @now`, `humidity{` + devD1 + `} 40 @now`}, device: "d1/siteA/sensor42"},
	{name: "metric topic number", topic: "city/d1/siteA/sensor42/co2", payload: " 612\n",
		want: []string{`co2{` + devD1 + `} 612 @now`}, device: "d1/siteA/sensor42"},
	{name: "metric topic bool", topic: "city/d1/siteA/sensor42/door", payload: "true", want: []string{`door{` + devD1 + `} 1 @now`}},
	{name: "metric topic json", topic: "city/d1/siteA/sensor42/air", payload: `{"pm25":3,"pm10":7}`,
		want: []string{`air_pm25{` + devD1 + `} 3 @now`, `air_pm10{` + devD1 + `} 7 @now`}},
	{name: "nested json", topic: "city/d1/siteA/sensor42", payload: `{"air":{"pm25":3},"battery":3.6,"fw":"1.2"}`,
		want: []string{`air_pm25{` + devD1 + `} 3 @now`, `battery{` + devD1 + `} 3.6 @now`}},
	{name: "json ts ms", topic: "city/d1/siteA/sensor42", payload: `{"ts":1700000000123,"co2":500}`,
		want: []string{`co2{` + devD1 + `} 500 @1700000000123`}},
	{name: "json ts rfc3339", topic: "city/d1/siteA/sensor42", payload: `{"ts":"2023-11-14T22:13:20Z","co2":500}`,
		want: []string{`co2{` + devD1 + `} 500 @1700000000000`}},
	{name: "json names sanitized", topic: "city/d1/siteA/sensor42", payload: `{"pm2.5":1,"2.5um":2,"temp °C":3,"a:b":4}`,
		want: []string{`pm2_5{` + devD1 + `} 1 @now`, `_2_5um{` + devD1 + `} 2 @now`, `temp__C{` + devD1 + `} 3 @now`, `a:b{` + devD1 + `} 4 @now`}},
	{name: "influx on device topic", topic: "city/d1/siteA/sensor42", payload: "weather,room=lab temperature=21.5,rain=0i 1700000000000000000",
		want:   []string{`weather_temperature{device="sensor42", district="d1", room="lab", site="siteA"} 21.5 @1700000000000`, `weather_rain{device="sensor42", district="d1", room="lab", site="siteA"} 0 @1700000000000`},
		device: "d1/siteA/sensor42"},
	{name: "influx tags never override topic labels", topic: "city/d1/siteA/sensor42", payload: "weather,device=evil,site=x,exported_site=y t=1",
		want:   []string{`weather_t{device="sensor42", district="d1", exported_device="evil", exported_exported_site="x", exported_site="y", site="siteA"} 1 @now`},
		reason: ""},
	{name: "influx several lines", topic: "city/d1/siteA/sensor42", payload: "a,k=1 x=1 1000000\na,k=2 x=2 2000000\nb y=3i 3000000\n",
		want: []string{`a_x{device="sensor42", district="d1", k="1", site="siteA"} 1 @1`, `a_x{device="sensor42", district="d1", k="2", site="siteA"} 2 @2`, `b_y{` + devD1 + `} 3 @3`}},
	{name: "influx on metric topic keeps measurement", topic: "city/d1/siteA/sensor42/ignored", payload: "air pm25=3",
		want: []string{`air_pm25{` + devD1 + `} 3 @now`}},
	{name: "influx on site topic", topic: "city/d1/siteA", payload: "gateway,device=gw1 uptime=5i",
		want: []string{`gateway_uptime{device="gw1", district="d1", site="siteA"} 5 @now`}, noDevice: true},
	{name: "influx on district topic", topic: "city/d1", payload: "grid load=0.5", want: []string{`grid_load{district="d1"} 0.5 @now`}, noDevice: true},
	{name: "influx on deep topic", topic: "city/d1/siteA/sensor42/x/y", payload: "m v=1", want: []string{`m_v{` + devD1 + `} 1 @now`}, device: "d1/siteA/sensor42"},
	{name: "influx tag names sanitized", topic: "city/d1", payload: "m,room-id=7,2nd=x v=1", want: []string{`m_v{_2nd="x", district="d1", room_id="7"} 1 @now`}},
	{name: "senml on device topic", topic: "city/d1/siteA/sensor42", payload: `[{"bn":"env.","bt":1700000000,"n":"temp","u":"Cel","v":21.5},{"n":"hum","v":40,"t":1}]`,
		want: []string{`env_temp{` + devD1 + `, unit="Cel"} 21.5 @1700000000000`, `env_hum{` + devD1 + `} 40 @1700000001000`}},
	{name: "senml unit tag vs topic label", mapper: "rules", topic: "senml/dev1", payload: `[{"n":"a","u":"V","v":1}]`,
		want: []string{`a{device="dev1", unit="V"} 1 @now`}, device: "dev1"},
	{name: "senml relative time", topic: "city/d1/siteA/sensor42", payload: `[{"n":"a","v":1,"t":-10}]`,
		want: []string{fmt.Sprintf(`a{`+devD1+`} 1 @%d`, nowMs-10000)}},
	{name: "topic non-ASCII", topic: "city/dé/s/dev", payload: `{"v":1}`,
		want: []string{"v{device=\"dev\", district=\"dé\", site=\"s\"} 1 @now"}, device: "dé/s/dev"},
	{name: "tag order does not matter", topic: "city/d1/siteA/sensor42", payload: "weather,exported_site=y,site=x t=1",
		want: []string{`weather_t{device="sensor42", district="d1", exported_exported_site="x", exported_site="y", site="siteA"} 1 @now`}},

	// Configured rules.
	{name: "rule number with prefix", topic: "farm/north/pump1/flow", payload: "3",
		want: []string{`farm_flow{device="pump1", site="north", source="farm"} 3 @now`}, device: "north/pump1", devLbls: `{device="pump1", site="north"}`},
	{name: "rule metric level sanitized", topic: "farm/north/pump1/flow-rate", payload: "3",
		want: []string{`farm_flow_rate{device="pump1", site="north", source="farm"} 3 @now`}},
	{name: "rule include exclude scale", topic: "lab/room1", payload: `{"temp_f":212,"humidity":40,"humidity_raw":999,"co2":1}`,
		want: []string{`lab_temp_f{room="room1"} 100 @now`, `lab_humidity{room="room1"} 41 @now`}, device: "room1"},
	{name: "rule everything excluded", topic: "lab/room1", payload: `{"co2":1}`, want: []string{}, device: "room1"},
	{name: "rule influx precision and metric", topic: "influx/s1/a/b", payload: "m,t=1,zone=z2 v=1,w=2 1700000000",
		want: []string{`env_v{exported_zone="z2", site="s1", t="1", zone="z1"} 1 @1700000000000`, `env_w{exported_zone="z2", site="s1", t="1", zone="z1"} 2 @1700000000000`}},
	{name: "rule without device labels", topic: "influx/s1", payload: "m v=1 1", want: []string{`env_v{site="s1", zone="z1"} 1 @1000`}, noDevice: true},
	{name: "rule wins over default", topic: "city/special/siteA/dev9", payload: `{"x":1}`,
		want: []string{`special_x{device="dev9", site="siteA"} 1 @now`}, device: "dev9/siteA", devLbls: `{device="dev9", site="siteA"}`},
	{name: "rule static device label", topic: "tank/t7", payload: "1.5", want: []string{`level{device="t7", kind="tank"} 1.5 @now`}, device: "tank/t7"},
	{name: "rule metric joins json fields", topic: "tank/t7", payload: `{"a":1}`, want: []string{`level_a{device="t7", kind="tank"} 1 @now`}},
	{name: "rule prefix before digit", topic: "digits/x", payload: `{"1a":1}`, want: []string{`d:1a{device="x"} 1 @now`}},
	{name: "rule auto json", topic: "plain/x", payload: `{"a":1}`, want: []string{`a{device="x"} 1 @now`}},

	// Rejections.
	{name: "unmapped topic", topic: "other/x", payload: "1", reason: ReasonUnmappedTopic},
	{name: "unmapped without default", mapper: "rules", topic: "city/d1/siteA/sensor42", payload: `{"a":1}`, reason: ReasonUnmappedTopic},
	{name: "empty level", topic: "city//siteA/sensor42", payload: `{"a":1}`, reason: ReasonUnmappedTopic},
	{name: "empty first level", topic: "/city/d1/siteA/s", payload: `{"a":1}`, reason: ReasonUnmappedTopic},
	{name: "trailing slash", topic: "city/d1/siteA/sensor42/", payload: `{"a":1}`, reason: ReasonUnmappedTopic},
	{name: "wildcard topic", topic: "city/+/siteA/sensor42", payload: `{"a":1}`, reason: ReasonUnmappedTopic},
	{name: "empty topic", topic: "", payload: `{"a":1}`, reason: ReasonUnmappedTopic},
	{name: "city alone", topic: "city", payload: "m v=1", reason: ReasonUnmappedTopic},
	{name: "number on device topic", topic: "city/d1/siteA/sensor42", payload: "21.5", reason: ReasonUnmappedTopic, errHas: "{metric}"},
	{name: "json on site topic", topic: "city/d1/siteA", payload: `{"a":1}`, reason: ReasonUnmappedTopic},
	{name: "senml on deep topic", topic: "city/d1/siteA/s/x/y", payload: `[{"n":"a","v":1}]`, reason: ReasonUnmappedTopic},
	{name: "bad json", topic: "city/d1/siteA/sensor42", payload: `{"a":1,}`, reason: ReasonBadJSON},
	{name: "json overflow", topic: "city/d1/siteA/sensor42", payload: `{"a":1e999}`, reason: ReasonBadJSON},
	{name: "json duplicate key", topic: "city/d1/siteA/sensor42", payload: `{"a":1,"a":2}`, reason: ReasonBadJSON},
	{name: "json too deep", topic: "city/d1/siteA/sensor42", payload: strings.Repeat(`{"a":`, 17) + "1" + strings.Repeat("}", 17), reason: ReasonBadJSON},
	{name: "json bad ts", topic: "city/d1/siteA/sensor42", payload: `{"ts":"noon","a":1}`, reason: ReasonBadTimestamp},
	{name: "bad line protocol", topic: "city/d1/siteA/sensor42", payload: "weather temp=", reason: ReasonBadLine},
	{name: "line protocol half bad", topic: "city/d1/siteA/sensor42", payload: "m v=1\nm v=x", reason: ReasonBadLine},
	{name: "line protocol bad ts", topic: "city/d1/siteA/sensor42", payload: "m v=1 99999999999999999999", reason: ReasonBadTimestamp},
	{name: "influx measurement starting with digit", topic: "city/d1/siteA/sensor42/x", payload: "1wire v=1", reason: ReasonBadNumber},
	{name: "bad number", topic: "city/d1/siteA/sensor42/co2", payload: "12 ppm", reason: ReasonBadNumber},
	{name: "number NaN", topic: "farm/n/p/flow", payload: "NaN", reason: ReasonBadNumber},
	{name: "bad senml", topic: "city/d1/siteA/sensor42", payload: `[{"n":"a","v":"x"}]`, reason: ReasonBadSenML},
	{name: "senml bad time", topic: "city/d1/siteA/sensor42", payload: `[{"n":"a","v":1,"t":1e12}]`, reason: ReasonBadTimestamp},
	{name: "empty payload", topic: "city/d1/siteA/sensor42/co2", payload: "", reason: ReasonNoFields},
	{name: "blank payload", topic: "city/d1/siteA/sensor42", payload: " \n", reason: ReasonNoFields},
	{name: "empty object", topic: "city/d1/siteA/sensor42", payload: `{}`, reason: ReasonNoFields},
	{name: "only strings", topic: "city/d1/siteA/sensor42", payload: `{"fw":"1.2","ids":[1,2]}`, reason: ReasonNoFields},
	{name: "only string fields", topic: "city/d1/siteA/sensor42", payload: `m s="x"`, reason: ReasonNoFields},
	{name: "empty senml", topic: "city/d1/siteA/sensor42", payload: `[]`, reason: ReasonNoFields},
	{name: "sanitized names collide", topic: "city/d1/siteA/sensor42", payload: `{"a-b":1,"a.b":2}`, reason: ReasonBadName},
	{name: "digit prefix collides", topic: "city/d1/siteA/sensor42", payload: `{"1a":1,"_1a":2}`, reason: ReasonBadName},
	{name: "empty field name", topic: "city/d1/siteA/sensor42", payload: `{"":1}`, reason: ReasonBadName},
	{name: "reserved tag name", topic: "city/d1", payload: "m,__name__=x v=1", reason: ReasonBadName},
	{name: "tag sanitized to reserved", topic: "city/d1", payload: "m,..x=1 v=1", reason: ReasonBadName},
	{name: "tags collide", topic: "city/d1", payload: "m,a-b=1,a.b=2 v=1", reason: ReasonBadName},
	{name: "name too long", topic: "city/d1/siteA/sensor42", payload: `{"` + strings.Repeat("x", 201) + `":1}`, reason: ReasonBadName},
	{name: "too many labels", topic: "city/d1", payload: "m" + manyTags(64) + " v=1", reason: ReasonBadName, errHas: "65 labels"},
	{name: "most labels", topic: "city/d1", payload: "m" + manyTags(63) + " v=1", want: []string{"m_v{" + manyLabels(63) + `} 1 @now`}},
	{name: "number without metric", topic: "plain/x", payload: "1", reason: ReasonBadName},
	{name: "too large", topic: "city/d1/siteA/sensor42", payload: `{"a":"` + strings.Repeat("x", 300<<10) + `"}`, reason: ReasonTooLarge},
	{name: "dollar topic", topic: "$SYS/broker/load", payload: "1", reason: ReasonUnmappedTopic},

	// Hostile input (see cmd/citywatch/hostile_e2e_test.go for the same kinds against the binary).
	{name: "topic invalid utf8", topic: "city/d\xff/s/dev", payload: `{"v":1}`, reason: ReasonUnmappedTopic, errHas: "UTF-8"},
	{name: "topic too long", topic: "city/d1/siteA/" + strings.Repeat("x", MaxTopicBytes), payload: `{"v":1}`, reason: ReasonTooLarge, errHas: "topic"},
	{name: "topic longest", topic: "city/d1/siteA/" + strings.Repeat("x", MaxTopicBytes-14), payload: `{"v":1}`,
		want: []string{`v{device="` + strings.Repeat("x", MaxTopicBytes-14) + `", district="d1", site="siteA"} 1 @now`}},
	{name: "tag value too long", topic: "city/d1", payload: "m,t=" + strings.Repeat("x", MaxLabelValueBytes+1) + " v=1", reason: ReasonTooLarge, errHas: "tag"},
	{name: "too many fields", topic: "city/d1/siteA/sensor42", payload: manyFields(DefaultMaxFields + 1), reason: ReasonTooManyFields,
		errHas: "too many fields"}, // the decoder stops at the first field past the limit
	{name: "most fields", topic: "city/d1/siteA/sensor42", payload: manyFields(DefaultMaxFields), want: manySamples(DefaultMaxFields)},
	{name: "too many fields over lines", topic: "city/d1", payload: strings.Repeat("m a=1,b=2\n", DefaultMaxFields/2+1), reason: ReasonTooManyFields,
		errHas: "too many fields"},
	{name: "field __name__", topic: "city/d1/siteA/sensor42", payload: `{"__name__":1}`, reason: ReasonBadName, errHas: "reserves"},
	{name: "field sanitized to reserved", topic: "city/d1/siteA/sensor42", payload: `{"--x":1}`, reason: ReasonBadName, errHas: "reserves"},
	{name: "senml name __name__", topic: "city/d1/siteA/sensor42", payload: `[{"bn":"__","n":"name__","v":1}]`, reason: ReasonBadName},
	{name: "field of no letters", topic: "city/d1/siteA/sensor42", payload: `{"°":1}`, reason: ReasonBadName, errHas: "no letter or digit"},
	{name: "field invalid utf8", topic: "city/d1/siteA/sensor42", payload: "{\"\xff\xfe\":1}", reason: ReasonBadJSON, errHas: "UTF-8"},
	{name: "field named like a label", topic: "city/d1/siteA/sensor42", payload: `{"device":5}`, want: []string{`device{` + devD1 + `} 5 @now`}},
	{name: "senml invalid utf8", topic: "city/d1/siteA/sensor42", payload: "[{\"bn\":\"\xff\",\"n\":\"t\",\"v\":1}]", reason: ReasonBadSenML},
	{name: "json ts year 9999", topic: "city/d1/siteA/sensor42", payload: `{"v":1,"ts":"9999-12-31T23:59:59Z"}`, reason: ReasonBadTimestamp},
	{name: "json ts year 1", topic: "city/d1/siteA/sensor42", payload: `{"v":1,"ts":"0001-01-01T00:00:00Z"}`, reason: ReasonBadTimestamp},
	{name: "line negative ts", topic: "city/d1/siteA/sensor42", payload: "m v=1 -1000", reason: ReasonBadTimestamp},
	{name: "number word NaN", topic: "city/d1/siteA/sensor42/level", payload: "NaN", reason: ReasonBadNumber, errHas: "NaN"},
	{name: "number word Infinity", topic: "city/d1/siteA/sensor42/level", payload: "Infinity", reason: ReasonBadNumber},
	{name: "null", topic: "city/d1/siteA/sensor42", payload: "null", reason: ReasonBadJSON},
	{name: "json string", topic: "city/d1/siteA/sensor42", payload: `"21.5"`, reason: ReasonBadJSON},
	{name: "BOM", topic: "city/d1/siteA/sensor42", payload: "\xef\xbb\xbf{\"v\":3}", want: []string{`v{` + devD1 + `} 3 @now`}},
}

// manyFields returns a JSON object of n fields f0..f<n-1> with the value 1.
func manyFields(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"f%d":1`, i)
	}
	b.WriteByte('}')
	return b.String()
}

func manySamples(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`f%d{`+devD1+`} 1 @now`, i)
	}
	return out
}

// testMappers builds the mappers the cases name.
func testMappers(tb testing.TB) map[string]*Mapper {
	tb.Helper()
	out := map[string]*Mapper{}
	for name, args := range map[string]struct {
		rules []Rule
		def   bool
	}{"all": {testRules, true}, "rules": {testRules, false}, "default": {nil, true}} {
		for _, variant := range []string{"", uncachedSuffix} {
			m, err := New(args.rules, Options{DefaultMapping: args.def})
			if err != nil {
				tb.Fatalf("New(%s): %v", name, err)
			}
			if variant == uncachedSuffix {
				m.topics = newTopicCache(0)
			}
			out[name+variant] = m
		}
	}
	return out
}

// uncachedSuffix names the twin of each test mapper whose topic cache holds nothing, so that it maps every
// message as a topic the cache has no room for: TestMap and FuzzMap require both paths to agree.
const uncachedSuffix = "/uncached"

func renderSample(s store.Sample) string {
	t := fmt.Sprint(s.T)
	if s.T == nowMs {
		t = "now"
	}
	return fmt.Sprintf("%s %v @%s", store.LabelsString(s.Name, s.Labels), s.V, t)
}

// TestMap maps every case three times: with a mapper without topic cache, then twice with one mapper, the
// first time taking a topic cache entry, the second time finding it. The cache must not change any outcome.
func TestMap(t *testing.T) {
	mappers := testMappers(t)
	for _, c := range mapCases {
		for round := range 3 {
			t.Run(fmt.Sprintf("%s/%d", c.name, round), func(t *testing.T) { testMapCase(t, mappers, c, round == 0) })
		}
	}
}

func testMapCase(t *testing.T, mappers map[string]*Mapper, c mapCase, uncached bool) {
	name := c.mapper
	if name == "" {
		name = "all"
	}
	if uncached {
		name += uncachedSuffix
	}
	m := mappers[name]
	res, err := m.Map(c.topic, []byte(c.payload), testNow)
	if c.reason != "" {
		var rej *RejectError
		if !errors.As(err, &rej) {
			t.Fatalf("want rejection %s, got %v (%d samples)", c.reason, err, len(res.Samples))
		}
		if rej.Reason != c.reason {
			t.Errorf("reason %s, want %s (%v)", rej.Reason, c.reason, err)
		}
		if !strings.Contains(err.Error(), c.errHas) {
			t.Errorf("error %q does not contain %q", err, c.errHas)
		}
		if len(res.Samples) != 0 {
			t.Errorf("rejection returned %d samples", len(res.Samples))
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	var got []string
	for _, s := range res.Samples {
		got = append(got, renderSample(s))
	}
	if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
		t.Errorf("samples:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
	}
	if c.device != "" && res.Device != c.device {
		t.Errorf("device %q, want %q", res.Device, c.device)
	}
	if c.noDevice && res.Device != "" {
		t.Errorf("device %q, want none", res.Device)
	}
	if c.devLbls != "" {
		if got := store.LabelsString("", res.DeviceLabels); got != c.devLbls {
			t.Errorf("device labels %s, want %s", got, c.devLbls)
		}
	}
	checkResult(t, res)
}

// checkResult asserts the invariants of every successful Result.
func checkResult(t *testing.T, res Result) {
	t.Helper()
	for i := 1; i < len(res.DeviceLabels); i++ {
		if res.DeviceLabels[i-1].Name >= res.DeviceLabels[i].Name {
			t.Errorf("device labels %s not sorted by name (the device registry relies on it to compare them "+
				"without a copy)", store.LabelsString("", res.DeviceLabels))
		}
	}
	if len(res.Samples) > DefaultMaxFields {
		t.Errorf("%d samples, more than the limit of %d", len(res.Samples), DefaultMaxFields)
	}
	for _, s := range res.Samples {
		if !validMetricName(s.Name) || strings.HasPrefix(s.Name, "__") || !hasAlnum(s.Name) {
			t.Errorf("invalid metric name %q", s.Name)
		}
		if math.IsNaN(s.V) || math.IsInf(s.V, 0) {
			t.Errorf("non-finite value in %s", renderSample(s))
		}
		for i, l := range s.Labels {
			if !validLabelName(l.Name) {
				t.Errorf("invalid label name %q in %s", l.Name, renderSample(s))
			}
			if l.Value == "" || !utf8.ValidString(l.Value) || len(l.Value) > MaxLabelValueBytes {
				t.Errorf("bad label value %q in %s", l.Value, renderSample(s))
			}
			if i > 0 && s.Labels[i-1].Name >= l.Name {
				t.Errorf("labels not sorted and unique in %s", renderSample(s))
			}
		}
		if len(s.Labels) != cap(s.Labels) {
			t.Errorf("labels slice has spare capacity; an append by a consumer would write into a shared array")
		}
	}
	if (res.Device == "") != (len(res.DeviceLabels) == 0) {
		t.Errorf("device %q with device labels %v", res.Device, res.DeviceLabels)
	}
}

// TestMapDoesNotAliasPayload checks that a Result survives the payload buffer being reused.
func TestMapDoesNotAliasPayload(t *testing.T) {
	m := testMappers(t)["all"]
	for _, c := range mapCases {
		if c.reason != "" {
			continue
		}
		payload := []byte(c.payload)
		res, err := m.Map(c.topic, payload, testNow)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		before := fmt.Sprint(res)
		for i := range payload {
			payload[i] = '#'
		}
		// Decode something else with every pooled scratch, overwriting decoder buffers.
		for range 4 {
			_, _ = m.Map("city/zz/yy/xx", []byte(`{"qqqqqqqqqqqqqqqqqqqq":1,"wwwwwwwwwwwwwwww":{"eeeeeeeeeeeeeeeee":2}}`), testNow)
			_, _ = m.Map("city/zz", []byte("mmmmmmmmmmmm,tttttttt=vvvvvvvvvv fffffff=1"), testNow)
		}
		if after := fmt.Sprint(res); after != before {
			t.Errorf("%s: result changed after the payload was overwritten:\n%s\n%s", c.name, before, after)
		}
	}
}

// sprintResult renders a mapping's outcome without the samples' series hints, which a topic's first message
// has not and later ones have (topics.go).
func sprintResult(res Result, err error) string {
	res.Samples = slices.Clone(res.Samples)
	for i := range res.Samples {
		res.Samples[i].Hint = nil
	}
	return fmt.Sprint(res, err)
}

func TestMapConcurrent(t *testing.T) {
	m := testMappers(t)["all"]
	want := make([]string, len(mapCases))
	for i, c := range mapCases {
		res, err := m.Map(c.topic, []byte(c.payload), testNow)
		want[i] = sprintResult(res, err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 50 {
				i := (g*7 + n) % len(mapCases)
				c := mapCases[i]
				res, err := m.Map(c.topic, []byte(c.payload), testNow)
				if got := sprintResult(res, err); got != want[i] {
					t.Errorf("%s: concurrent result differs:\n%s\n%s", c.name, got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestMaxPayloadBytes(t *testing.T) {
	m, err := New(nil, Options{DefaultMapping: true, MaxPayloadBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Map("city/d/s/x/v", []byte("1234567890"), testNow); err != nil {
		t.Errorf("10 bytes: %v", err)
	}
	_, err = m.Map("city/d/s/x/v", []byte("12345678901"), testNow)
	var rej *RejectError
	if !errors.As(err, &rej) || rej.Reason != ReasonTooLarge {
		t.Errorf("11 bytes: %v", err)
	}
}

// TestRejectReasonsAreKnown keeps the rejection table honest: every reason it uses is in Reasons and every
// reason in Reasons is exercised.
func TestRejectReasonsAreKnown(t *testing.T) {
	used := map[string]bool{}
	for _, c := range mapCases {
		if c.reason != "" {
			used[c.reason] = true
		}
	}
	for _, r := range Reasons {
		if !used[r] {
			t.Errorf("reason %s has no test case", r)
		}
		delete(used, r)
	}
	for r := range used {
		t.Errorf("reason %s is not in Reasons", r)
	}
}

var newErrCases = []struct {
	name  string
	rules []Rule
	opts  Options
	err   string
}{
	{"empty topic", []Rule{{}}, Options{}, "rules[0].topic: empty topic template"},
	{"hash not last", []Rule{{Topic: "a/#/b"}}, Options{}, `rules[0].topic: topic template "a/#/b": "#" must be the last level`},
	{"reserved capture", []Rule{{Topic: "a/{__x}"}}, Options{}, `rules[0].topic: topic template "a/{__x}": "__x" is not a valid label name`},
	{"bad capture", []Rule{{Topic: "a/{x-y}"}}, Options{}, `"x-y" is not a valid label name`},
	{"capture twice", []Rule{{Topic: "a/{x}/{x}"}}, Options{}, `label "x" captured twice`},
	{"metric twice", []Rule{{Topic: "{metric}/{metric}"}}, Options{}, `{metric} appears twice`},
	{"mixed level", []Rule{{Topic: "a/b+"}}, Options{}, `level "b+" mixes text`},
	{"empty level", []Rule{{Topic: "a//b"}}, Options{}, `level 2 is empty`},
	{"metric and {metric}", []Rule{{Topic: "a/{metric}", Metric: "m"}}, Options{}, `rules[0].metric: "m" conflicts with the {metric} level`},
	{"bad format", []Rule{{Topic: "a", Format: "xml"}}, Options{}, `rules[0].format: unknown format "xml"`},
	{"bad precision", []Rule{{Topic: "a", Precision: "m"}}, Options{}, `rules[0].precision: unknown precision "m"`},
	{"bad metric", []Rule{{Topic: "a", Metric: "1x"}}, Options{}, `rules[0].metric: "1x" is not a valid metric name`},
	{"bad prefix", []Rule{{Topic: "a", MetricPrefix: "a-b"}}, Options{}, `rules[0].metric_prefix: "a-b"`},
	{"number without metric", []Rule{{Topic: "a/{x}", Format: "number"}}, Options{}, `rules[0].metric: format number needs metric`},
	{"reserved static label", []Rule{{Topic: "a", Labels: map[string]string{"__a": "x"}}}, Options{}, `rules[0].labels: "__a" is not a valid label name`},
	{"empty static value", []Rule{{Topic: "a", Labels: map[string]string{"x": ""}}}, Options{}, `rules[0].labels.x: empty value`},
	{"static repeats capture", []Rule{{Topic: "a/{site}", Labels: map[string]string{"site": "x"}}}, Options{}, `rules[0].labels: "site" is also captured`},
	{"bad include", []Rule{{Topic: "a", Include: []string{"["}}}, Options{}, `rules[0].include[0]: bad pattern "["`},
	{"empty exclude", []Rule{{Topic: "a", Exclude: []string{"x", ""}}}, Options{}, `rules[0].exclude[1]: bad pattern ""`},
	{"bad scale", []Rule{{Topic: "a", Scale: map[string]Scale{"a.b": {Factor: 2}}}}, Options{}, `rules[0].scale: "a.b" is not a field name`},
	{"unknown device label", []Rule{{Topic: "a/{x}", DeviceLabels: []string{"y"}}}, Options{}, `rules[0].device_labels[0]: "y" is neither captured`},
	{"device label twice", []Rule{{Topic: "a/{x}", DeviceLabels: []string{"x", "x"}}}, Options{}, `rules[0].device_labels[1]: "x" listed twice`},
	{"second rule", []Rule{{Topic: "a"}, {Topic: "b/#/c"}}, Options{}, `rules[1].topic`},
	{"negative max payload", nil, Options{MaxPayloadBytes: -1}, `max payload bytes must be >= 0`},
}

func TestNewErrors(t *testing.T) {
	for _, c := range newErrCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.rules, c.opts)
			if err == nil {
				t.Fatalf("New succeeded, want %q", c.err)
			}
			if !strings.Contains(err.Error(), c.err) {
				t.Errorf("error %q does not contain %q", err, c.err)
			}
		})
	}
}

func TestNewReportsEveryBadRule(t *testing.T) {
	_, err := New([]Rule{{Topic: ""}, {Topic: "ok"}, {Topic: "x", Format: "xml"}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "rules[0]") || !strings.Contains(err.Error(), "rules[2]") {
		t.Errorf("want errors for rules[0] and rules[2], got %v", err)
	}
}

var templateCases = []struct {
	tmpl, topic string
	parseErr    bool
	match       bool
	labels      string
	metric      string
}{
	{tmpl: "city/{district}/{site}/{device}", topic: "city/d1/siteA/sensor42", match: true, labels: `{district="d1", site="siteA", device="sensor42"}`},
	{tmpl: "city/{district}/{site}/{device}", topic: "city/d1/siteA"},
	{tmpl: "city/{district}/{site}/{device}", topic: "city/d1/siteA/s/x"},
	{tmpl: "city/{district}/{site}/{device}", topic: "town/d1/siteA/s"},
	{tmpl: "city/{district}/{site}/{device}", topic: "city//siteA/s"},
	{tmpl: "city/{district}/{site}/{device}/{metric}", topic: "city/d1/siteA/s/co2", match: true, labels: `{district="d1", site="siteA", device="s"}`, metric: "co2"},
	{tmpl: "a/+/c", topic: "a/b/c", match: true, labels: "{}"},
	{tmpl: "a/+/c", topic: "a//c"},
	{tmpl: "a/#", topic: "a", match: true, labels: "{}"},
	{tmpl: "a/#", topic: "a/b/c", match: true, labels: "{}"},
	{tmpl: "a/#", topic: "ab"},
	{tmpl: "#", topic: "x/y", match: true, labels: "{}"},
	{tmpl: "#", topic: "$SYS/x"},
	{tmpl: "+/x", topic: "$SYS/x"},
	{tmpl: "$SYS/#", topic: "$SYS/x", match: true, labels: "{}"},
	{tmpl: "{metric}/x", topic: "co2/x", match: true, labels: "{}", metric: "co2"},
	{tmpl: "a/{b}", topic: "a/+"},
	{tmpl: "a/{b}", topic: "a/#"},
	{tmpl: "a/{b}", topic: "a/b/"},
	{tmpl: "a/{b}", topic: "a/é", match: true, labels: `{b="é"}`},
	{tmpl: "", parseErr: true},
	{tmpl: "a/", parseErr: true},
	{tmpl: "#/a", parseErr: true},
	{tmpl: "a/{}", parseErr: true},
	{tmpl: "a/{b", parseErr: true},
	{tmpl: "a/{__name__}", parseErr: true},
	{tmpl: strings.Repeat("a/", 64) + "a", parseErr: true},
	{tmpl: strings.Repeat("+/", 64) + "+", parseErr: true},
	{tmpl: "{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}/{k}/{l}/{m}/{n}/{o}/{p}/{q}", parseErr: true},
}

func TestTemplate(t *testing.T) {
	for _, c := range templateCases {
		tm, err := ParseTemplate(c.tmpl)
		if (err != nil) != c.parseErr {
			t.Errorf("ParseTemplate(%q): err %v, want error %v", c.tmpl, err, c.parseErr)
			continue
		}
		if err != nil {
			continue
		}
		if tm.String() != c.tmpl {
			t.Errorf("String() = %q", tm.String())
		}
		m, ok := tm.Match(c.topic)
		if ok != c.match {
			t.Errorf("%q.Match(%q) = %v, want %v", c.tmpl, c.topic, ok, c.match)
			continue
		}
		if !ok {
			continue
		}
		if got := store.LabelsString("", m.Labels); got != c.labels {
			t.Errorf("%q.Match(%q) labels %s, want %s", c.tmpl, c.topic, got, c.labels)
		}
		if m.Metric != c.metric {
			t.Errorf("%q.Match(%q) metric %q, want %q", c.tmpl, c.topic, m.Metric, c.metric)
		}
	}
}

var sanitizeCases = []struct{ in, metric, label string }{
	{"temperature", "temperature", "temperature"},
	{"a:b", "a:b", "a_b"},
	{"pm2.5", "pm2_5", "pm2_5"},
	{"2nd", "_2nd", "_2nd"},
	{"temp °C", "temp__C", "temp__C"},
	{"\xff\xfe", "__", "__"},
	{"", "", ""},
}

func TestSanitize(t *testing.T) {
	for _, c := range sanitizeCases {
		if got := SanitizeMetricName(c.in); got != c.metric {
			t.Errorf("SanitizeMetricName(%q) = %q, want %q", c.in, got, c.metric)
		}
		if got := SanitizeLabelName(c.in); got != c.label {
			t.Errorf("SanitizeLabelName(%q) = %q, want %q", c.in, got, c.label)
		}
	}
}

func manyTags(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ",t%02d=v", i)
	}
	return b.String()
}

func manyLabels(n int) string {
	parts := []string{`district="d1"`}
	for i := range n {
		parts = append(parts, fmt.Sprintf(`t%02d="v"`, i))
	}
	return strings.Join(parts, ", ")
}

// TestRejectionNamesDevice: a bad payload on a topic that names a device still says which device sent it, so
// the device registry counts the error against it; a topic that names none reports no device.
func TestRejectionNamesDevice(t *testing.T) {
	m, err := New(nil, Options{DefaultMapping: true})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		topic, payload, device, reason string
	}{
		{"city/d1/siteA/sensor42", `{"temperature":`, "d1/siteA/sensor42", ReasonBadJSON},
		{"city/d1/siteA/sensor42", `{"label":"x"}`, "d1/siteA/sensor42", ReasonNoFields},
		{"city/d1/siteA/sensor42/co2", `12,5`, "d1/siteA/sensor42", ReasonBadNumber},
		{"elsewhere/x", `1`, "", ReasonUnmappedTopic},
	}
	for _, c := range cases {
		res, err := m.Map(c.topic, []byte(c.payload), time.Unix(0, 0))
		var rej *RejectError
		if !errors.As(err, &rej) || rej.Reason != c.reason {
			t.Errorf("%s %q: err %v, want reason %s", c.topic, c.payload, err, c.reason)
			continue
		}
		if res.Device != c.device || len(res.Samples) != 0 {
			t.Errorf("%s %q: device %q with %d samples, want %q and none", c.topic, c.payload, res.Device, len(res.Samples), c.device)
		}
	}
}
