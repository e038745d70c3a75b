package sim

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DeviceKind says what a simulated device measures.
type DeviceKind string

// The simulated device kinds. Their metric names are the contract names from DESIGN.md.
const (
	// KindRoom is a quarantine-room sensor: temperature, humidity, co2, battery, rssi.
	KindRoom DeviceKind = "room"
	// KindWearable is a patient wearable: body_temperature, heart_rate, battery, rssi.
	KindWearable DeviceKind = "wearable"
	// KindAir is a street air-quality station: pm25, noise, temperature, humidity, rssi (mains powered).
	KindAir DeviceKind = "air"
	// KindWater is a river or canal level gauge: water_level, battery, rssi.
	KindWater DeviceKind = "water"
)

// Valid reports whether k is one of the known kinds.
func (k DeviceKind) Valid() bool {
	switch k {
	case KindRoom, KindWearable, KindAir, KindWater:
		return true
	}
	return false
}

// Site is one place with simulated devices. Devices are dealt to sites in turn, and within a site to its
// kinds in turn, so every site gets a share of the fleet.
type Site struct {
	// District is the district label and first topic level after "city/".
	District string
	// Name is the site label and the next topic level.
	Name string
	// Kinds lists the device kinds at the site, in the order they are dealt.
	Kinds []DeviceKind
}

// DefaultSites returns the default fleet layout: two quarantine hotels with patient wearables and room
// sensors, a river embankment with a level gauge and an air-quality station, and a market square with air
// quality. It returns a new slice on each call.
func DefaultSites() []Site {
	return []Site{
		{District: "central", Name: "q-hotel-1", Kinds: []DeviceKind{KindWearable, KindRoom}},
		{District: "north", Name: "q-hotel-2", Kinds: []DeviceKind{KindWearable, KindRoom}},
		{District: "riverside", Name: "embankment", Kinds: []DeviceKind{KindWater, KindAir}},
		{District: "old-town", Name: "market-square", Kinds: []DeviceKind{KindAir}},
	}
}

// SensorsConfig configures the sensor simulator.
type SensorsConfig struct {
	// Broker is the MQTT broker URL (tcp://, mqtt://, ssl://, tls://, ws://, wss://).
	// It defaults to tcp://127.0.0.1:1883.
	Broker string
	// Username and Password authenticate to the broker. They default to empty (anonymous). The password is
	// never logged.
	Username, Password string
	// ClientID is the MQTT client id. It defaults to "citywatch-sim-" followed by random hex, so two
	// simulators do not take over each other's session.
	ClientID string
	// Devices is the number of simulated devices. It defaults to 20.
	Devices int
	// Rate is the number of messages per second per device. It defaults to 1.
	Rate float64
	// QoS is the MQTT quality of service for publishes (0, 1 or 2). It defaults to 0.
	QoS byte
	// Seed makes the generated readings reproducible: the same seed and times give the same payloads.
	// It defaults to 0 (itself a fixed seed).
	Seed int64
	// Sites is the fleet layout. It defaults to DefaultSites().
	Sites []Site
	// Faults injects failures. It defaults to none.
	Faults Faults
}

// Faults injects failures into the simulated fleet. Times count from the generator's first reading.
type Faults struct {
	// FeverDevice names a wearable whose body_temperature ramps to 38.5–39.5 °C over about a minute, starting
	// FeverAfter after the start. Empty means no fever.
	FeverDevice string
	// FeverAfter is when the fever starts.
	FeverAfter time.Duration
	// SilentDevice names a device that stops publishing SilentAfter after the start. Empty means none.
	SilentDevice string
	// SilentAfter is when the silent device stops.
	SilentAfter time.Duration
	// LeaveDevice names a wearable whose occupant walks out of the room LeaveAfter after the start: its rssi drops
	// by LeaveRSSIDrop dB and stays there (away from the room's gateway), for the ward's "possible leave". Empty
	// means none.
	LeaveDevice string
	// LeaveAfter is when the occupant leaves.
	LeaveAfter time.Duration
	// LeaveSilentAfter, if above 0, is how long after LeaveAfter the leaving wearable also goes silent (out of
	// the gateway's range): the other half of the ward's "wearable silent or away". 0 (the default) keeps it
	// reporting, away.
	LeaveSilentAfter time.Duration
	// MalformedRatio is the fraction (0..1) of messages replaced by a malformed payload: truncated JSON,
	// plain text, JSON with NaN, or binary garbage.
	MalformedRatio float64
}

const (
	defaultBroker  = "tcp://127.0.0.1:1883"
	defaultDevices = 20
	defaultRate    = 1.0
	// maxTotalRate bounds devices*rate so a typo cannot turn the simulator into a flood.
	maxTotalRate = 1_000_000
)

// withDefaults returns c with unset fields defaulted (the client id is defaulted by the publisher).
func (c SensorsConfig) withDefaults() SensorsConfig {
	if c.Broker == "" {
		c.Broker = defaultBroker
	}
	if c.Devices == 0 {
		c.Devices = defaultDevices
	}
	if c.Rate == 0 {
		c.Rate = defaultRate
	}
	if len(c.Sites) == 0 {
		c.Sites = DefaultSites()
	}
	return c
}

// Validate checks c after defaults are applied; it reports every problem it finds.
func (c SensorsConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	if err := validateBrokerURL(c.Broker); err != nil {
		errs = append(errs, err)
	}
	if c.Devices < 0 {
		errs = append(errs, fmt.Errorf("devices: must be > 0, got %d", c.Devices))
	}
	if math.IsNaN(c.Rate) || c.Rate <= 0 || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate: must be > 0 messages per second per device, got %v", c.Rate))
	} else if c.Devices > 0 && float64(c.Devices)*c.Rate > maxTotalRate {
		errs = append(errs, fmt.Errorf("rate: devices*rate must be <= %d messages per second, got %v",
			maxTotalRate, float64(c.Devices)*c.Rate))
	}
	if c.QoS > 2 {
		errs = append(errs, fmt.Errorf("qos: must be 0, 1 or 2, got %d", c.QoS))
	}
	for i, s := range c.Sites {
		errs = append(errs, validateSite(i, s)...)
	}
	if err := c.Faults.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, c.validateFaultDevices())
	}
	return errors.Join(errs...)
}

func validateBrokerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("broker: invalid URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("broker: unsupported scheme %q (want tcp, mqtt, ssl, tls, mqtts, ws or wss)", u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("broker: URL %q has no host", raw)
	}
	if u.User != nil {
		// Keep credentials out of URLs: they end up in logs and process listings.
		return errors.New("broker: put credentials in username/password, not in the URL")
	}
	return nil
}

func validateSite(i int, s Site) []error {
	var errs []error
	for _, f := range []struct{ key, v string }{{"district", s.District}, {"name", s.Name}} {
		if err := validateTopicLevel(f.v); err != nil {
			errs = append(errs, fmt.Errorf("sites[%d].%s: %w", i, f.key, err))
		}
	}
	if len(s.Kinds) == 0 {
		errs = append(errs, fmt.Errorf("sites[%d].kinds: must list at least one device kind", i))
	}
	for j, k := range s.Kinds {
		if !k.Valid() {
			errs = append(errs, fmt.Errorf("sites[%d].kinds[%d]: unknown kind %q (want room, wearable, air or water)",
				i, j, string(k)))
		}
	}
	return errs
}

// validateTopicLevel checks that v can be one MQTT topic level and a label value.
func validateTopicLevel(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	if strings.ContainsAny(v, "/+#$\x00") {
		return fmt.Errorf("must not contain '/', '+', '#', '$' or NUL, got %q", v)
	}
	return nil
}

// validateFaultDevices checks that the fault targets exist in the fleet c describes.
func (c SensorsConfig) validateFaultDevices() error {
	devs := layoutDevices(c.Devices, c.Sites)
	find := func(id string) *Device {
		for i := range devs {
			if devs[i].ID == id {
				return &devs[i]
			}
		}
		return nil
	}
	var errs []error
	if id := c.Faults.FeverDevice; id != "" {
		switch d := find(id); {
		case d == nil:
			errs = append(errs, fmt.Errorf("faults: fever device %q is not one of the %d simulated devices (%s)",
				id, len(devs), deviceSummary(devs)))
		case d.Kind != KindWearable:
			errs = append(errs, fmt.Errorf("faults: fever device %q is a %s sensor, not a wearable", id, d.Kind))
		}
	}
	if id := c.Faults.SilentDevice; id != "" && find(id) == nil {
		errs = append(errs, fmt.Errorf("faults: silent device %q is not one of the %d simulated devices (%s)",
			id, len(devs), deviceSummary(devs)))
	}
	return errors.Join(errs...)
}

// deviceSummary names the first few devices, for error messages.
func deviceSummary(devs []Device) string {
	const show = 6
	var names []string
	for i, d := range devs {
		if i == show {
			names = append(names, "...")
			break
		}
		names = append(names, d.ID)
	}
	return strings.Join(names, ", ")
}

func (f Faults) validate() error {
	var errs []error
	if f.FeverAfter < 0 {
		errs = append(errs, fmt.Errorf("faults: fever delay must be >= 0, got %q", f.FeverAfter))
	}
	if f.SilentAfter < 0 {
		errs = append(errs, fmt.Errorf("faults: silent delay must be >= 0, got %q", f.SilentAfter))
	}
	if f.LeaveSilentAfter < 0 || f.LeaveSilentAfter > 0 && f.LeaveDevice == "" {
		errs = append(errs, fmt.Errorf("faults: leave-silent %s needs a leave fault (leave=DEVICE@DELAY) and a delay above 0", f.LeaveSilentAfter))
	}
	if math.IsNaN(f.MalformedRatio) || f.MalformedRatio < 0 || f.MalformedRatio > 1 {
		errs = append(errs, fmt.Errorf("faults: malformed ratio must be within 0..1, got %v", f.MalformedRatio))
	}
	for _, d := range []struct{ key, id string }{{"fever", f.FeverDevice}, {"silent", f.SilentDevice}} {
		if d.id != "" {
			if err := validateTopicLevel(d.id); err != nil {
				errs = append(errs, fmt.Errorf("faults: %s device: %w", d.key, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ParseFaults parses the compact flag form of Faults: comma-separated items
//
//	fever=DEVICE[@DELAY]   silent=DEVICE[@DELAY]   leave=DEVICE[@DELAY]   leave-silent=DELAY   malformed=RATIO
//
// for example "fever=wearable-001@30s,silent=room-002@2m,malformed=0.02". leave-silent (with leave) silences the
// leaving wearable DELAY after it left. DELAY is a Go duration and
// defaults to 0 (from the start). The empty string means no faults. Each key may appear once.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		key, val, ok := strings.Cut(item, "=")
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		if !ok || key == "" {
			return Faults{}, fmt.Errorf("faults: item %q: want key=value (fever=DEVICE@DELAY, silent=DEVICE@DELAY, leave=DEVICE@DELAY, leave-silent=DELAY, malformed=RATIO)", item)
		}
		if seen[key] {
			return Faults{}, fmt.Errorf("faults: %q given twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case "fever":
			f.FeverDevice, f.FeverAfter, err = parseDeviceAt(val)
		case "silent":
			f.SilentDevice, f.SilentAfter, err = parseDeviceAt(val)
		case "leave":
			f.LeaveDevice, f.LeaveAfter, err = parseDeviceAt(val)
		case "leave-silent":
			f.LeaveSilentAfter, err = time.ParseDuration(val)
			if err == nil && f.LeaveSilentAfter <= 0 {
				err = fmt.Errorf("want a delay above 0, got %q", val)
			}
		case "malformed":
			f.MalformedRatio, err = strconv.ParseFloat(val, 64)
			if err == nil && (math.IsNaN(f.MalformedRatio) || f.MalformedRatio < 0 || f.MalformedRatio > 1) {
				err = fmt.Errorf("must be within 0..1, got %q", val)
			}
			if err != nil && errors.Is(err, strconv.ErrSyntax) {
				err = fmt.Errorf("not a number: %q", val)
			}
		default:
			return Faults{}, fmt.Errorf("faults: unknown key %q (want fever, silent, leave, leave-silent or malformed)", key)
		}
		if err != nil {
			return Faults{}, fmt.Errorf("faults: %s: %w", key, err)
		}
	}
	if f.LeaveSilentAfter > 0 && f.LeaveDevice == "" {
		return Faults{}, errors.New("faults: leave-silent: needs a leave fault (leave=DEVICE@DELAY)")
	}
	return f, nil
}

func parseDeviceAt(v string) (string, time.Duration, error) {
	id, delay, hasDelay := strings.Cut(v, "@")
	id = strings.TrimSpace(id)
	if err := validateTopicLevel(id); err != nil {
		return "", 0, fmt.Errorf("device %w", err)
	}
	if !hasDelay {
		return id, 0, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(delay))
	if err != nil {
		return "", 0, fmt.Errorf("delay: %w", err)
	}
	if d < 0 {
		return "", 0, fmt.Errorf("delay must be >= 0, got %q", delay)
	}
	return id, d, nil
}

// String formats f in the compact form ParseFaults reads; it returns "" for no faults.
func (f Faults) String() string {
	var items []string
	if f.FeverDevice != "" {
		items = append(items, "fever="+f.FeverDevice+"@"+f.FeverAfter.String())
	}
	if f.SilentDevice != "" {
		items = append(items, "silent="+f.SilentDevice+"@"+f.SilentAfter.String())
	}
	if f.LeaveDevice != "" {
		items = append(items, "leave="+f.LeaveDevice+"@"+f.LeaveAfter.String())
		if f.LeaveSilentAfter > 0 {
			items = append(items, "leave-silent="+f.LeaveSilentAfter.String())
		}
	}
	if f.MalformedRatio != 0 {
		items = append(items, "malformed="+strconv.FormatFloat(f.MalformedRatio, 'g', -1, 64))
	}
	return strings.Join(items, ",")
}

// Set parses s with ParseFaults into f, so Faults works as a flag.Value.
func (f *Faults) Set(s string) error {
	v, err := ParseFaults(s)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// RegisterFlags adds the simulator's flags (--broker, --username, --password, --client-id, --devices, --rate,
// --qos, --seed, --faults) to fs, with c's current values as defaults and c as destination.
func (c *SensorsConfig) RegisterFlags(fs *flag.FlagSet) {
	d := c.withDefaults()
	c.Broker, c.Devices, c.Rate = d.Broker, d.Devices, d.Rate
	fs.StringVar(&c.Broker, "broker", c.Broker, "MQTT broker URL")
	fs.StringVar(&c.Username, "username", c.Username, "MQTT username")
	fs.StringVar(&c.Password, "password", c.Password, "MQTT password (visible in process listings; prefer a test-only account)")
	fs.StringVar(&c.ClientID, "client-id", c.ClientID, "MQTT client id (default: citywatch-sim-<random>)")
	fs.IntVar(&c.Devices, "devices", c.Devices, "number of simulated devices")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "messages per second per device")
	fs.Func("qos", "MQTT QoS for publishes: 0, 1 or 2 (default 0)", func(s string) error {
		q, err := strconv.ParseUint(s, 10, 8)
		if err != nil || q > 2 {
			return fmt.Errorf("want 0, 1 or 2, got %q", s)
		}
		c.QoS = byte(q)
		return nil
	})
	fs.Int64Var(&c.Seed, "seed", c.Seed, "random seed; the same seed gives the same readings")
	fs.Var(&c.Faults, "faults", `fault injection, e.g. "fever=wearable-001@30s,silent=room-002@2m,leave=wearable-003@1m,leave-silent=1m,malformed=0.02"`)
}
