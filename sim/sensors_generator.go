package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Device is one simulated device.
type Device struct {
	// ID is the device label and last topic level, unique in the fleet: the kind and a per-kind number,
	// such as "wearable-001".
	ID string
	// Kind says what the device measures.
	Kind DeviceKind
	// District and Site place the device.
	District, Site string
}

// Topic returns the device's default-mapping topic, city/{district}/{site}/{device}.
func (d Device) Topic() string { return "city/" + d.District + "/" + d.Site + "/" + d.ID }

// layoutDevices deals n devices to sites in turn and, within a site, to its kinds in turn. Device ids number
// each kind from 001 in dealing order, so with the default sites "wearable-001" is in central/q-hotel-1.
func layoutDevices(n int, sites []Site) []Device {
	if len(sites) == 0 {
		return nil
	}
	perKind := map[DeviceKind]int{}
	perSite := make([]int, len(sites))
	devs := make([]Device, 0, max(n, 0))
	for i := 0; i < n; i++ {
		si := i % len(sites)
		s := sites[si]
		if len(s.Kinds) == 0 {
			continue
		}
		k := s.Kinds[perSite[si]%len(s.Kinds)]
		perSite[si]++
		perKind[k]++
		devs = append(devs, Device{ID: fmt.Sprintf("%s-%03d", k, perKind[k]), Kind: k, District: s.District, Site: s.Name})
	}
	return devs
}

// SensorMessage is one generated publish.
type SensorMessage struct {
	// Topic is city/{district}/{site}/{device}.
	Topic string
	// Payload is the JSON object, or a malformed payload when Malformed is set.
	Payload []byte
	// Device is the device that sent it.
	Device Device
	// Seq is the device's message counter, starting at 1; malformed messages use a number too.
	Seq uint64
	// Malformed says the payload was deliberately corrupted.
	Malformed bool
}

// Generator produces the simulated fleet's readings. It is deterministic: the same configuration (including
// Seed) and the same sequence of times give the same messages. It is not safe for concurrent use.
type Generator struct {
	faults  Faults
	devices []*deviceState
	rng     *rand.Rand // malformed choices
	next    int        // round-robin cursor
	start   time.Time  // time of the first Next call
	started bool
	buf     []byte
}

// NewSensorGenerator validates cfg and returns a generator for its fleet (cfg.Broker and the MQTT fields are
// not used by the generator but are validated too).
func NewSensorGenerator(cfg SensorsConfig) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sensor simulator: %w", err)
	}
	cfg = cfg.withDefaults()
	g := &Generator{
		faults: cfg.Faults,
		rng:    rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
	}
	for i, d := range layoutDevices(cfg.Devices, cfg.Sites) {
		rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)+1))
		g.devices = append(g.devices, newDeviceState(d, rng, cfg.Faults.FeverDevice == d.ID))
	}
	return g, nil
}

// Devices returns the simulated fleet in publishing order.
func (g *Generator) Devices() []Device {
	out := make([]Device, len(g.devices))
	for i, d := range g.devices {
		out[i] = d.dev
	}
	return out
}

// Next produces the reading of the next device in round-robin order at time now. It returns false when that
// device is silent (the silent fault), so each device keeps its own slot and the others' rate is unchanged.
// Times should not go backwards; a device that sees no time pass repeats its state with fresh noise.
func (g *Generator) Next(now time.Time) (SensorMessage, bool) {
	if !g.started {
		g.start, g.started = now, true
	}
	d := g.devices[g.next]
	g.next = (g.next + 1) % len(g.devices)
	elapsed := now.Sub(g.start)
	if g.faults.SilentDevice == d.dev.ID && elapsed >= g.faults.SilentAfter {
		return SensorMessage{}, false
	}
	if f := g.faults; f.LeaveDevice == d.dev.ID && f.LeaveSilentAfter > 0 && elapsed >= f.LeaveAfter+f.LeaveSilentAfter {
		return SensorMessage{}, false // out of the gateway's range
	}
	d.step(now, elapsed, g.faults.FeverAfter)
	if g.faults.LeaveDevice == d.dev.ID && elapsed >= g.faults.LeaveAfter {
		d.applyLeave()
	}
	d.seq++
	g.buf = d.appendJSON(g.buf[:0], now)
	msg := SensorMessage{Topic: d.topic, Device: d.dev, Seq: d.seq}
	if g.faults.MalformedRatio > 0 && g.rng.Float64() < g.faults.MalformedRatio {
		msg.Payload, msg.Malformed = g.malformed(d), true
	} else {
		msg.Payload = append([]byte(nil), g.buf...)
	}
	return msg, true
}

// malformed corrupts the reading just encoded in g.buf in one of the ways real devices do.
func (g *Generator) malformed(d *deviceState) []byte {
	switch g.rng.IntN(4) {
	case 0: // truncated by a short write or an MTU limit
		return append([]byte(nil), g.buf[:len(g.buf)/2]...)
	case 1: // a firmware debug line on the data topic
		return []byte("sensor " + d.dev.ID + " rebooted, fw 1.4.2")
	case 2: // a JSON encoder that prints NaN for a failed read
		return []byte(`{"` + d.metrics[0].spec.name + `":NaN,"seq":` + strconv.FormatUint(d.seq, 10) + `}`)
	default: // line noise; 0xff first so it is never valid UTF-8, JSON or a number
		b := make([]byte, 8+g.rng.IntN(24))
		for i := range b {
			b[i] = byte(g.rng.UintN(256))
		}
		b[0] = 0xff
		return b
	}
}

// metricSpec describes one metric's behaviour: a mean-reverting random walk around a diurnal baseline,
// clamped to hard bounds.
type metricSpec struct {
	name     string
	min, max float64
	mid, amp float64
	shape    func(hour float64) float64 // diurnal shape in -1..1
	spread   float64                    // per-device offset of the baseline, ±spread
	sigma    float64                    // noise per √second
	theta    float64                    // mean reversion rate per second
	decimals int
}

// peakAt returns a 24-hour cosine peaking at hour p.
func peakAt(p float64) func(float64) float64 {
	return func(h float64) float64 { return math.Cos(2 * math.Pi * (h - p) / 24) }
}

// rushHours peaks at 08:00 and 20:00 with a trough around 02:00 and 14:00.
func rushHours(h float64) float64 { return math.Cos(4 * math.Pi * (h - 8) / 24) }

// tide is a semi-diurnal (12.42 h) wave, as on a tidal river.
func tide(h float64) float64 { return math.Cos(2 * math.Pi * h / 12.42) }

var (
	// Quarantine-room climate.
	specRoomTemperature = metricSpec{name: "temperature", min: 19, max: 26, mid: 22, amp: 1.2, shape: peakAt(15),
		spread: 1, sigma: 0.02, theta: 1.0 / 600, decimals: 2}
	specRoomHumidity = metricSpec{name: "humidity", min: 30, max: 60, mid: 44, amp: 5, shape: peakAt(6),
		spread: 4, sigma: 0.1, theta: 1.0 / 600, decimals: 1}
	specRoomCO2 = metricSpec{name: "co2", min: 450, max: 1400, mid: 800, amp: 220, shape: peakAt(23),
		spread: 80, sigma: 4, theta: 1.0 / 300, decimals: 0}
	// Patient vital signs; body temperature follows the circadian rhythm with its late-afternoon peak.
	specBodyTemperature = metricSpec{name: "body_temperature", min: 36.3, max: 37.3, mid: 36.8, amp: 0.2,
		shape: peakAt(18), spread: 0.12, sigma: 0.004, theta: 1.0 / 300, decimals: 2}
	specHeartRate = metricSpec{name: "heart_rate", min: 55, max: 100, mid: 72, amp: 7, shape: peakAt(15),
		spread: 6, sigma: 0.8, theta: 1.0 / 30, decimals: 0}
	// Outdoor air quality.
	specPM25 = metricSpec{name: "pm25", min: 2, max: 80, mid: 18, amp: 8, shape: rushHours,
		spread: 4, sigma: 0.4, theta: 1.0 / 120, decimals: 1}
	specNoise = metricSpec{name: "noise", min: 35, max: 90, mid: 58, amp: 9, shape: peakAt(13),
		spread: 4, sigma: 1.2, theta: 1.0 / 15, decimals: 1}
	specAirTemperature = metricSpec{name: "temperature", min: -5, max: 35, mid: 14, amp: 5, shape: peakAt(15),
		spread: 1, sigma: 0.02, theta: 1.0 / 900, decimals: 2}
	specAirHumidity = metricSpec{name: "humidity", min: 25, max: 95, mid: 65, amp: 15, shape: peakAt(5),
		spread: 5, sigma: 0.1, theta: 1.0 / 900, decimals: 1}
	// River level, slowly varying.
	specWaterLevel = metricSpec{name: "water_level", min: 0.5, max: 4, mid: 1.8, amp: 0.25, shape: tide,
		spread: 0.4, sigma: 0.0006, theta: 1.0 / 1800, decimals: 3}
	// Radio link quality; a base per device with fading.
	specRSSI = metricSpec{name: "rssi", min: -110, max: -35, mid: -72, amp: 0, shape: peakAt(0),
		spread: 15, sigma: 0.8, theta: 1.0 / 10, decimals: 0}
)

// kindMetrics lists each kind's metrics in payload order; battery is added for battery-powered kinds.
var kindMetrics = map[DeviceKind][]*metricSpec{
	KindRoom:     {&specRoomTemperature, &specRoomHumidity, &specRoomCO2, &specRSSI},
	KindWearable: {&specBodyTemperature, &specHeartRate, &specRSSI},
	KindAir:      {&specPM25, &specNoise, &specAirTemperature, &specAirHumidity, &specRSSI},
	KindWater:    {&specWaterLevel, &specRSSI},
}

// batteryDrain is the battery voltage drop per second: a wearable lasts about a day, a room sensor months.
var batteryDrain = map[DeviceKind]float64{
	KindRoom:     0.9 / (120 * 86400),
	KindWearable: 0.8 / 86400,
	KindWater:    0.9 / (365 * 86400),
}

const (
	batteryFull  = 4.2
	batteryEmpty = 3.3
	// batteryRecharge is where a wearable goes on the charger (or a sensor gets a new cell).
	batteryRecharge = 3.45
	// maxStep bounds the time step of one update so a long gap cannot overshoot the mean reversion.
	maxStep = 60.0
	// feverRamp is how long the fever takes to reach its plateau.
	feverRamp = time.Minute
)

type metricState struct {
	spec   *metricSpec
	offset float64
	value  float64
}

type deviceState struct {
	dev     Device
	topic   string
	rng     *rand.Rand
	metrics []metricState
	battery float64 // volts; 0 for mains-powered kinds
	drain   float64
	seq     uint64
	last    time.Time
	stepped bool

	fever       bool
	feverTarget float64 // plateau temperature, 38.5–39.5
	feverFrom   float64 // body temperature when the fever started
	feverOn     bool
}

func newDeviceState(d Device, rng *rand.Rand, fever bool) *deviceState {
	s := &deviceState{dev: d, topic: d.Topic(), rng: rng, fever: fever, drain: batteryDrain[d.Kind]}
	for _, spec := range kindMetrics[d.Kind] {
		s.metrics = append(s.metrics, metricState{spec: spec, offset: (rng.Float64()*2 - 1) * spec.spread})
	}
	if s.drain > 0 {
		s.battery = 3.7 + rng.Float64()*0.5
	}
	if fever {
		s.feverTarget = 38.5 + rng.Float64()
	}
	return s
}

// baseline is where metric m reverts to at hour h.
func (m *metricState) baseline(h float64) float64 {
	return clamp(m.spec.mid+m.spec.amp*m.spec.shape(h)+m.offset, m.spec.min, m.spec.max)
}

func hourOfDay(t time.Time) float64 {
	return float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
}

// step advances the device's state to now.
func (s *deviceState) step(now time.Time, elapsed, feverAfter time.Duration) {
	h := hourOfDay(now)
	if !s.stepped {
		s.stepped, s.last = true, now
		for i := range s.metrics {
			m := &s.metrics[i]
			// Start at the walk's stationary spread around the baseline, as if it had been running.
			sd := m.spec.sigma / math.Sqrt(2*m.spec.theta)
			m.value = clamp(m.baseline(h)+s.rng.NormFloat64()*sd, m.spec.min, m.spec.max)
		}
		return
	}
	dt := min(max(now.Sub(s.last).Seconds(), 0), maxStep)
	s.last = now
	for i := range s.metrics {
		m := &s.metrics[i]
		target := m.baseline(h)
		theta := min(m.spec.theta*dt, 1)
		m.value += theta*(target-m.value) + m.spec.sigma*math.Sqrt(dt)*s.rng.NormFloat64()
		m.value = clamp(m.value, m.spec.min, m.spec.max)
	}
	if s.drain > 0 {
		s.battery -= s.drain * dt
		if s.battery < batteryRecharge {
			s.battery = batteryFull - s.rng.Float64()*0.05
		}
	}
	if s.fever && elapsed >= feverAfter {
		s.applyFever(elapsed - feverAfter)
	}
}

// LeaveRSSIDrop is how far (dB) the leave fault lowers a wearable's rssi: well past the ward's default 10 dB.
const LeaveRSSIDrop = 25

// applyLeave holds the rssi LeaveRSSIDrop below its baseline: the wearable went out of the room with its wearer.
func (s *deviceState) applyLeave() {
	for i := range s.metrics {
		if m := &s.metrics[i]; m.spec.name == "rssi" {
			m.value = clamp(m.baseline(0)-LeaveRSSIDrop+s.rng.NormFloat64(), m.spec.min, m.spec.max)
		}
	}
}

// applyFever overrides body temperature with a ramp from its normal value to the plateau over feverRamp,
// and raises the heart rate by about 10 bpm per °C as a febrile patient's does.
func (s *deviceState) applyFever(since time.Duration) {
	bt, hr := &s.metrics[0], &s.metrics[1]
	if !s.feverOn {
		s.feverOn, s.feverFrom = true, bt.value
	}
	frac := min(since.Seconds()/feverRamp.Seconds(), 1)
	temp := s.feverFrom + (s.feverTarget-s.feverFrom)*frac + s.rng.NormFloat64()*0.03
	bt.value = clamp(temp, 35, 41)
	hr.value = clamp(hr.baseline(12)+10*(bt.value-37)+s.rng.NormFloat64(), 55, 140)
}

// appendJSON encodes the current reading as a JSON object: metrics in kind order, then battery, seq and ts.
func (s *deviceState) appendJSON(b []byte, now time.Time) []byte {
	b = append(b, '{')
	for i, m := range s.metrics {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendField(b, m.spec.name, m.value, m.spec.decimals)
	}
	if s.drain > 0 {
		b = append(b, ',')
		b = appendField(b, "battery", clamp(s.battery+s.rng.NormFloat64()*0.003, batteryEmpty, batteryFull), 3)
	}
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, s.seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	return append(b, '}')
}

func appendField(b []byte, name string, v float64, decimals int) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	return strconv.AppendFloat(b, round(v, decimals), 'f', -1, 64)
}

func round(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}

func clamp(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }
