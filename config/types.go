package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// redacted is what a non-empty Secret prints as.
const redacted = "<redacted>"

// Secret is a string that must never be shown: String, every fmt verb, slog, JSON, text and YAML marshalling
// all print "<redacted>" (an empty Secret prints as ""). Value returns the real string.
type Secret string

// Value returns the secret itself. Call it only where the secret is used (an MQTT connect, an HTTP header).
func (s Secret) Value() string { return string(s) }

// String returns "<redacted>", or "" when the secret is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// Format redacts the secret for every fmt verb (%v, %+v, %s, %q, %x, %d, ...).
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprint(f, strconv.Quote(s.String()))
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.String())
	default:
		fmt.Fprint(f, s.String())
	}
}

// LogValue redacts the secret in log/slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret for encoders that use encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON redacts the secret in JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML redacts the secret in YAML.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads a secret from a YAML scalar, so a Secret can be used in other YAML documents. (Config files
// are decoded by Parse, which also expands ${ENV}.)
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("secret must be a string")
	}
	*s = Secret(n.Value)
	return nil
}

// Duration is a time.Duration written in YAML as a string with units: "500ms", "10s", "1h30m", "15d", "1w",
// "1y" (d = 24h, w = 7d, y = 365d, as in Prometheus), or anything time.ParseDuration accepts ("1.5h").
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

var durationRE = regexp.MustCompile(`^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$`)

// ParseDuration parses a duration string like "10s", "1h30m", "15d" or "1w" (the Prometheus syntax), also
// accepting what time.ParseDuration accepts ("1.5h", "100us", "-1s").
func ParseDuration(s string) (Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if s != "" {
		if m := durationRE.FindStringSubmatch(s); m != nil {
			units := []time.Duration{365 * 24 * time.Hour, 7 * 24 * time.Hour, 24 * time.Hour, time.Hour,
				time.Minute, time.Second, time.Millisecond}
			var total time.Duration
			for i, u := range units {
				if m[i+1] == "" {
					continue
				}
				n, err := strconv.ParseInt(m[i+1], 10, 64)
				if err != nil || n > int64(math.MaxInt64/u) || total > math.MaxInt64-time.Duration(n)*u {
					return 0, fmt.Errorf("duration %q is too large", s)
				}
				total += time.Duration(n) * u
			}
			return Duration(total), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return Duration(d), nil
}

// String formats d the way ParseDuration reads it: "15d", "1h30m", "1w", "500ms".
func (d Duration) String() string {
	v := time.Duration(d)
	if v == 0 {
		return "0s"
	}
	if v < 0 && v != math.MinInt64 {
		return "-" + (-d).String()
	}
	if v < 0 {
		return v.String()
	}
	if v%time.Millisecond != 0 {
		return v.String()
	}
	// Whole years or weeks print as such; otherwise days are the largest unit, so "15d" stays "15d".
	const day, week, year = 24 * time.Hour, 7 * 24 * time.Hour, 365 * 24 * time.Hour
	if v%year == 0 {
		return strconv.FormatInt(int64(v/year), 10) + "y"
	}
	if v%week == 0 {
		return strconv.FormatInt(int64(v/week), 10) + "w"
	}
	var b strings.Builder
	units := []struct {
		u    time.Duration
		name string
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}}
	for _, u := range units {
		if n := v / u.u; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			v -= n * u.u
		}
	}
	return b.String()
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes d as a duration string (JSON uses it too).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ByteSize is a number of bytes, written in YAML as "512MiB", "1GB", "64 KiB" or a plain integer of bytes.
// KiB, MiB, GiB, TiB are powers of 1024; kB/KB, MB, GB, TB powers of 1000; units are case-insensitive.
type ByteSize int64

var byteSizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)$`)

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20, "gi": 1 << 30, "gib": 1 << 30,
	"ti": 1 << 40, "tib": 1 << 40,
}

// ParseByteSize parses "512MiB", "1GB", "1.5GiB", "64 KiB" or "1024" (bytes).
func ParseByteSize(s string) (ByteSize, error) {
	m := byteSizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid byte size %q", s)
	}
	mult, ok := byteUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("invalid byte size %q: unknown unit %q", s, m[2])
	}
	if !strings.Contains(m[1], ".") {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || (mult > 1 && float64(n) > math.MaxInt64/mult) {
			return 0, fmt.Errorf("byte size %q is too large", s)
		}
		return ByteSize(n * int64(mult)), nil
	}
	if mult == 1 {
		return 0, fmt.Errorf("invalid byte size %q: a fraction needs a unit", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil || f*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("byte size %q is too large", s)
	}
	return ByteSize(math.Round(f * mult)), nil
}

// String formats b with the largest binary (or else decimal) unit that represents it exactly: "256KiB", "1GB".
func (b ByteSize) String() string {
	if b <= 0 {
		return strconv.FormatInt(int64(b), 10)
	}
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 40, "TiB"}, {1e12, "TB"}, {1 << 30, "GiB"}, {1e9, "GB"}, {1 << 20, "MiB"}, {1e6, "MB"},
		{1 << 10, "KiB"}, {1e3, "kB"}} {
		if int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalYAML writes b with a unit.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// MarshalText writes b with a unit (JSON uses it too).
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText reads a byte size.
func (b *ByteSize) UnmarshalText(t []byte) error {
	v, err := ParseByteSize(string(t))
	if err != nil {
		return err
	}
	*b = v
	return nil
}
