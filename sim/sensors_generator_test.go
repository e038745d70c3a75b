package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// metricRange is the range a metric must stay in without faults.
type metricRange struct{ min, max float64 }

// kindContract lists, per device kind, the exact payload fields (besides seq and ts) with their ranges. The
// names are the DESIGN.md sensor metric contract.
var kindContract = map[DeviceKind]map[string]metricRange{
	KindRoom: {"temperature": {19, 26}, "humidity": {30, 60}, "co2": {450, 1400}, "battery": {3.3, 4.2},
		"rssi": {-110, -35}},
	KindWearable: {"body_temperature": {36.3, 37.3}, "heart_rate": {55, 100}, "battery": {3.3, 4.2},
		"rssi": {-110, -35}},
	KindAir: {"pm25": {2, 80}, "noise": {35, 90}, "temperature": {-5, 35}, "humidity": {25, 95},
		"rssi": {-110, -35}},
	KindWater: {"water_level": {0.5, 4}, "battery": {3.3, 4.2}, "rssi": {-110, -35}},
}

// contractMetrics are the sensor metric names of the DESIGN.md contract.
var contractMetrics = []string{"body_temperature", "heart_rate", "temperature", "humidity", "co2", "pm25",
	"noise", "water_level", "battery", "rssi"}

// maxStepChange bounds how much a metric may move between readings one second apart: values vary smoothly.
var maxStepChange = map[string]float64{"temperature": 0.3, "humidity": 1.5, "co2": 25, "body_temperature": 0.05,
	"heart_rate": 6, "pm25": 3, "noise": 8, "water_level": 0.01, "battery": 0.03, "rssi": 6}

var t0 = time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)

func newGen(t *testing.T, cfg SensorsConfig) *Generator {
	t.Helper()
	g, err := NewSensorGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// reading decodes a well-formed payload.
type reading struct {
	fields map[string]float64
	seq    uint64
	ts     int64
}

func decode(t *testing.T, msg SensorMessage) reading {
	t.Helper()
	var raw map[string]json.Number
	dec := json.NewDecoder(bytes.NewReader(msg.Payload))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("payload %q of %s is not a JSON object of numbers: %v", msg.Payload, msg.Device.ID, err)
	}
	r := reading{fields: map[string]float64{}}
	for k, v := range raw {
		switch k {
		case "seq":
			n, err := v.Int64()
			if err != nil {
				t.Fatalf("seq %q: %v", v, err)
			}
			r.seq = uint64(n)
		case "ts":
			n, err := v.Int64()
			if err != nil {
				t.Fatalf("ts %q: %v", v, err)
			}
			r.ts = n
		default:
			f, err := v.Float64()
			if err != nil {
				t.Fatalf("%s %q: %v", k, v, err)
			}
			r.fields[k] = f
		}
	}
	return r
}

func TestDefaultLayout(t *testing.T) {
	devs := newGen(t, SensorsConfig{}).Devices()
	if len(devs) != 20 {
		t.Fatalf("got %d devices, want 20", len(devs))
	}
	kinds := map[DeviceKind]int{}
	seen := map[string]bool{}
	for _, d := range devs {
		kinds[d.Kind]++
		if seen[d.ID] {
			t.Errorf("duplicate device id %q", d.ID)
		}
		seen[d.ID] = true
		if got, want := d.Topic(), "city/"+d.District+"/"+d.Site+"/"+d.ID; got != want {
			t.Errorf("Topic() = %q, want %q", got, want)
		}
	}
	want := map[DeviceKind]int{KindWearable: 6, KindRoom: 4, KindWater: 3, KindAir: 7}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s devices, want %d (layout %v)", kinds[k], k, n, kinds)
		}
	}
	if d := devs[0]; d.ID != "wearable-001" || d.District != "central" || d.Site != "q-hotel-1" {
		t.Errorf("first device = %+v, want wearable-001 in central/q-hotel-1", d)
	}
}

// TestGeneratorContract runs a fleet through two simulated days and checks every payload: the topic, the
// exact field names per kind, the ranges, seq counting up by one per device, ts, and smooth variation.
func TestGeneratorContract(t *testing.T) {
	g := newGen(t, SensorsConfig{Devices: 8, Seed: 7})
	devs := g.Devices()
	type last struct {
		r  reading
		at time.Time
	}
	prev := map[string]last{}
	namesSeen := map[string]bool{}
	// Mostly one reading a second, with a 45-minute gap every 50 rounds so two days are covered quickly.
	now := t0
	for round := 0; round < 3200; round++ {
		if round%50 == 49 {
			now = now.Add(45 * time.Minute)
		} else {
			now = now.Add(time.Second)
		}
		for range devs {
			msg, ok := g.Next(now)
			if !ok {
				t.Fatal("Next returned no message without faults")
			}
			d := msg.Device
			if msg.Topic != d.Topic() || msg.Malformed {
				t.Fatalf("message %+v: wrong topic or malformed", msg)
			}
			r := decode(t, msg)
			contract := kindContract[d.Kind]
			if len(r.fields) != len(contract) {
				t.Fatalf("%s (%s) fields %v, want exactly %v", d.ID, d.Kind, keys(r.fields), keys(contract))
			}
			for name, v := range r.fields {
				rng, ok := contract[name]
				if !ok {
					t.Fatalf("%s (%s) has unexpected field %q", d.ID, d.Kind, name)
				}
				namesSeen[name] = true
				if v < rng.min || v > rng.max || math.IsNaN(v) {
					t.Fatalf("%s %s = %v at %s, outside %v..%v", d.ID, name, v, now, rng.min, rng.max)
				}
			}
			if r.ts != now.UnixMilli() {
				t.Fatalf("ts = %d, want %d", r.ts, now.UnixMilli())
			}
			p, seen := prev[d.ID]
			wantSeq := p.r.seq + 1
			if r.seq != wantSeq || msg.Seq != wantSeq {
				t.Fatalf("%s seq = %d (msg %d), want %d", d.ID, r.seq, msg.Seq, wantSeq)
			}
			if seen && now.Sub(p.at) == time.Second {
				for name, v := range r.fields {
					if d := math.Abs(v - p.r.fields[name]); d > maxStepChange[name] {
						t.Fatalf("%s %s jumped by %v in one second (%v → %v)", msg.Device.ID, name, d, p.r.fields[name], v)
					}
				}
			}
			prev[d.ID] = last{r: r, at: now}
		}
	}
	for _, name := range contractMetrics {
		if !namesSeen[name] {
			t.Errorf("contract metric %q never published", name)
		}
	}
	for name := range namesSeen {
		if !slices.Contains(contractMetrics, name) {
			t.Errorf("published %q, which is not a contract metric name", name)
		}
	}
}

// TestGeneratorVaries checks the values are not constant: over a day each metric spans a good part of its
// range (the diurnal shape plus the walk), as a dashboard user would expect.
func TestGeneratorVaries(t *testing.T) {
	g := newGen(t, SensorsConfig{Devices: 4, Sites: []Site{{District: "d", Name: "s",
		Kinds: []DeviceKind{KindRoom, KindWearable, KindAir, KindWater}}}})
	lo, hi := map[string]float64{}, map[string]float64{}
	now := t0
	for i := 0; i < 24*60; i++ {
		now = now.Add(time.Minute)
		for range 4 {
			msg, _ := g.Next(now)
			for name, v := range decode(t, msg).fields {
				key := string(msg.Device.Kind) + "/" + name
				if _, ok := lo[key]; !ok {
					lo[key], hi[key] = v, v
				}
				lo[key], hi[key] = math.Min(lo[key], v), math.Max(hi[key], v)
			}
		}
	}
	minSpan := map[string]float64{"room/temperature": 1, "room/humidity": 4, "room/co2": 150,
		"wearable/body_temperature": 0.2, "wearable/heart_rate": 8, "air/pm25": 5, "air/noise": 8,
		"air/temperature": 4, "air/humidity": 10, "water/water_level": 0.2}
	for key, span := range minSpan {
		if got := hi[key] - lo[key]; got < span {
			t.Errorf("%s spans only %v over a day (%v..%v), want >= %v", key, got, lo[key], hi[key], span)
		}
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	run := func(seed int64) [][]byte {
		g := newGen(t, SensorsConfig{Seed: seed, Faults: Faults{MalformedRatio: 0.05,
			FeverDevice: "wearable-002", FeverAfter: 10 * time.Second}})
		var out [][]byte
		now := t0
		for i := 0; i < 2000; i++ {
			now = now.Add(50 * time.Millisecond)
			msg, ok := g.Next(now)
			if ok {
				out = append(out, []byte(msg.Topic+" "+string(msg.Payload)))
			}
		}
		return out
	}
	a, b, c := run(42), run(42), run(43)
	if len(a) != len(b) {
		t.Fatalf("same seed gave %d and %d messages", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("same seed, message %d differs:\n%s\n%s", i, a[i], b[i])
		}
	}
	same := 0
	for i := range min(len(a), len(c)) {
		if bytes.Equal(a[i], c[i]) {
			same++
		}
	}
	if same > len(a)/10 {
		t.Fatalf("seeds 42 and 43 gave %d identical messages of %d", same, len(a))
	}
}

// TestGeneratorFever checks the fever fault: normal before, a ramp over about a minute after, a plateau in
// 38.5–39.5 °C, and the other wearables unaffected.
func TestGeneratorFever(t *testing.T) {
	const after = 2 * time.Minute
	g := newGen(t, SensorsConfig{Seed: 3, Faults: Faults{FeverDevice: "wearable-001", FeverAfter: after}})
	devs := g.Devices()
	var series []struct {
		at time.Duration
		v  float64
	}
	now := t0
	start := now.Add(time.Second)
	for i := 0; i < 600; i++ { // 10 minutes, one reading per device per second
		now = now.Add(time.Second)
		for range devs {
			msg, ok := g.Next(now)
			if !ok {
				t.Fatal("no message")
			}
			bt, ok := decode(t, msg).fields["body_temperature"]
			if !ok {
				continue
			}
			if msg.Device.ID != "wearable-001" {
				if bt > 37.3 {
					t.Fatalf("%s without fever has body_temperature %v", msg.Device.ID, bt)
				}
				continue
			}
			series = append(series, struct {
				at time.Duration
				v  float64
			}{now.Sub(start), bt})
		}
	}
	firstOver := time.Duration(-1)
	for _, p := range series {
		switch {
		case p.at < after && p.v > 37.3:
			t.Fatalf("fever before the fault: %v at %v", p.v, p.at)
		case p.v > 38.0 && firstOver < 0:
			firstOver = p.at
		case p.at >= after+90*time.Second && (p.v < 38.4 || p.v > 39.6):
			t.Fatalf("fever plateau %v at %v, want 38.5–39.5", p.v, p.at)
		}
	}
	if firstOver < 0 {
		t.Fatal("body_temperature never went over 38.0")
	}
	// A ramp, not a step: it takes a good part of the minute to pass 38.
	if ramp := firstOver - after; ramp < 15*time.Second || ramp > 70*time.Second {
		t.Fatalf("body_temperature passed 38.0 %v after the fault started, want a ramp of about a minute", ramp)
	}
}

func TestGeneratorSilent(t *testing.T) {
	const after = time.Minute
	g := newGen(t, SensorsConfig{Devices: 5, Faults: Faults{SilentDevice: "water-001", SilentAfter: after}})
	counts := map[string]int{}
	now := t0
	start := now.Add(time.Second)
	slotsWithout := 0
	for i := 0; i < 180; i++ {
		now = now.Add(time.Second)
		for range 5 {
			msg, ok := g.Next(now)
			if !ok {
				if now.Sub(start) < after {
					t.Fatalf("silent before the fault at %v", now.Sub(start))
				}
				slotsWithout++
				continue
			}
			if msg.Device.ID == "water-001" && now.Sub(start) >= after {
				t.Fatalf("silent device published at %v", now.Sub(start))
			}
			counts[msg.Device.ID]++
		}
	}
	if counts["water-001"] != 60 || slotsWithout != 120 {
		t.Fatalf("silent device published %d times with %d empty slots, want 60 and 120", counts["water-001"], slotsWithout)
	}
	for id, n := range counts {
		if id != "water-001" && n != 180 {
			t.Errorf("%s published %d times, want 180 (others keep their rate)", id, n)
		}
	}
}

func TestGeneratorMalformed(t *testing.T) {
	for _, ratio := range []float64{0, 0.02, 0.3, 1} {
		t.Run(fmt.Sprint(ratio), func(t *testing.T) {
			g := newGen(t, SensorsConfig{Seed: 11, Faults: Faults{MalformedRatio: ratio}})
			const n = 10000
			bad := 0
			kinds := map[string]bool{}
			now := t0
			for i := 0; i < n; i++ {
				now = now.Add(100 * time.Millisecond)
				msg, _ := g.Next(now)
				valid := json.Valid(msg.Payload) && bytes.HasPrefix(msg.Payload, []byte("{"))
				if valid == msg.Malformed {
					t.Fatalf("Malformed=%v but payload %q valid=%v", msg.Malformed, msg.Payload, valid)
				}
				if msg.Malformed {
					bad++
					kinds[malformedKind(msg.Payload)] = true
				}
			}
			got := float64(bad) / n
			if math.Abs(got-ratio) > 0.02 {
				t.Fatalf("malformed ratio %v, want about %v", got, ratio)
			}
			if ratio >= 0.3 && len(kinds) != 4 {
				t.Fatalf("malformed kinds seen %v, want all 4", keys(kinds))
			}
		})
	}
}

func malformedKind(p []byte) string {
	switch {
	case len(p) > 0 && p[0] == 0xff:
		return "garbage"
	case bytes.Contains(p, []byte("NaN")):
		return "nan"
	case bytes.HasPrefix(p, []byte("sensor ")):
		return "text"
	case bytes.HasPrefix(p, []byte("{")):
		return "truncated"
	}
	return "unknown " + string(p)
}

func keys[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func BenchmarkGeneratorNext(b *testing.B) {
	g, err := NewSensorGenerator(SensorsConfig{Devices: 1000})
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		g.Next(now)
	}
}
