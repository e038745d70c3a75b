package sim

import (
	"flag"
	"strings"
	"testing"
	"time"
)

// faultCases are compact fault strings and what ParseFaults makes of them; they also seed FuzzParseFaults.
var faultCases = []struct {
	in      string
	want    Faults
	wantErr string
}{
	{in: "", want: Faults{}},
	{in: "  ", want: Faults{}},
	{in: "fever=wearable-001@30s", want: Faults{FeverDevice: "wearable-001", FeverAfter: 30 * time.Second}},
	{in: "fever=wearable-002", want: Faults{FeverDevice: "wearable-002"}},
	{in: "silent=room-002@2m", want: Faults{SilentDevice: "room-002", SilentAfter: 2 * time.Minute}},
	{in: "malformed=0.02", want: Faults{MalformedRatio: 0.02}},
	{in: "leave=wearable-003@1m", want: Faults{LeaveDevice: "wearable-003", LeaveAfter: time.Minute}},
	{in: "leave-silent=30s,leave=wearable-003@1m", want: Faults{LeaveDevice: "wearable-003", LeaveAfter: time.Minute,
		LeaveSilentAfter: 30 * time.Second}},
	{in: "leave-silent=30s", wantErr: "faults: leave-silent: needs a leave fault"},
	{in: "leave=w@1s,leave-silent=0s", wantErr: `faults: leave-silent: want a delay above 0, got "0s"`},
	{in: "leave=w@1s,leave-silent=-1s", wantErr: `faults: leave-silent: want a delay above 0, got "-1s"`},
	{in: " fever = wearable-001 @ 1m , silent=air-001@0s, malformed=1 ", want: Faults{
		FeverDevice: "wearable-001", FeverAfter: time.Minute, SilentDevice: "air-001", MalformedRatio: 1}},
	{in: "fever=wearable-001@30s,silent=room-002@2m0s,malformed=0.5", want: Faults{FeverDevice: "wearable-001",
		FeverAfter: 30 * time.Second, SilentDevice: "room-002", SilentAfter: 2 * time.Minute, MalformedRatio: 0.5}},
	{in: "fever", wantErr: `faults: item "fever": want key=value`},
	{in: "=x", wantErr: `faults: item "=x": want key=value`},
	{in: "fever=", wantErr: "faults: fever: device must not be empty"},
	{in: "fever=@1s", wantErr: "faults: fever: device must not be empty"},
	{in: "fever=a/b", wantErr: `faults: fever: device must not contain '/', '+', '#', '$' or NUL, got "a/b"`},
	{in: "fever=w@soon", wantErr: `faults: fever: delay: time: invalid duration "soon"`},
	{in: "silent=w@-1s", wantErr: `faults: silent: delay must be >= 0, got "-1s"`},
	{in: "malformed=1.5", wantErr: `faults: malformed: must be within 0..1, got "1.5"`},
	{in: "malformed=-0.1", wantErr: `faults: malformed: must be within 0..1, got "-0.1"`},
	{in: "malformed=NaN", wantErr: `faults: malformed: must be within 0..1, got "NaN"`},
	{in: "malformed=lots", wantErr: `faults: malformed: not a number: "lots"`},
	{in: "fever=a,fever=b", wantErr: `faults: "fever" given twice`},
	{in: "smoke=room-001", wantErr: `faults: unknown key "smoke" (want fever, silent, leave, leave-silent or malformed)`},
}

func TestParseFaults(t *testing.T) {
	for _, tc := range faultCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFaults(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("ParseFaults(%q) error = %v, want prefix %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFaults(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseFaults(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			// String is the inverse of ParseFaults.
			again, err := ParseFaults(got.String())
			if err != nil || again != got {
				t.Fatalf("ParseFaults(%q.String() = %q) = %+v, %v", tc.in, got.String(), again, err)
			}
		})
	}
}

func FuzzParseFaults(f *testing.F) {
	for _, tc := range faultCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseFaults(in)
		if err != nil {
			return
		}
		if err := got.validate(); err != nil {
			t.Fatalf("ParseFaults(%q) = %+v, which does not validate: %v", in, got, err)
		}
		again, err := ParseFaults(got.String())
		if err != nil || again != got {
			t.Fatalf("round trip of %q: %q → %+v, %v; want %+v", in, got.String(), again, err, got)
		}
	})
}

// configCases are simulator configs and the error Validate reports (empty: valid).
var configCases = []struct {
	name    string
	cfg     SensorsConfig
	wantErr string
}{
	{name: "defaults", cfg: SensorsConfig{}},
	{name: "all set", cfg: SensorsConfig{Broker: "mqtts://broker.example:8883", Devices: 4, Rate: 0.1, QoS: 2,
		Faults: Faults{FeverDevice: "wearable-001", SilentDevice: "air-001", MalformedRatio: 0.1}}},
	{name: "bad scheme", cfg: SensorsConfig{Broker: "http://127.0.0.1:1883"}, wantErr: `broker: unsupported scheme "http"`},
	{name: "no host", cfg: SensorsConfig{Broker: "tcp://"}, wantErr: `broker: URL "tcp://" has no host`},
	{name: "credentials in URL", cfg: SensorsConfig{Broker: "tcp://u:secret@127.0.0.1:1883"},
		wantErr: "broker: put credentials in username/password, not in the URL"},
	{name: "negative devices", cfg: SensorsConfig{Devices: -1}, wantErr: "devices: must be > 0, got -1"},
	{name: "negative rate", cfg: SensorsConfig{Rate: -2}, wantErr: "rate: must be > 0 messages per second per device, got -2"},
	{name: "flood", cfg: SensorsConfig{Devices: 100000, Rate: 100}, wantErr: "rate: devices*rate must be <= 1000000"},
	{name: "qos 3", cfg: SensorsConfig{QoS: 3}, wantErr: "qos: must be 0, 1 or 2, got 3"},
	{name: "bad site", cfg: SensorsConfig{Sites: []Site{{District: "a/b", Name: "", Kinds: []DeviceKind{"lamp"}}}},
		wantErr: "sites[0].district: must not contain '/', '+', '#', '$' or NUL, got \"a/b\"\n" +
			"sites[0].name: must not be empty\n" +
			`sites[0].kinds[0]: unknown kind "lamp" (want room, wearable, air or water)`},
	{name: "site without kinds", cfg: SensorsConfig{Sites: []Site{{District: "a", Name: "b"}}},
		wantErr: "sites[0].kinds: must list at least one device kind"},
	{name: "unknown fever device", cfg: SensorsConfig{Devices: 4, Faults: Faults{FeverDevice: "wearable-009"}},
		wantErr: `faults: fever device "wearable-009" is not one of the 4 simulated devices (wearable-001, wearable-002, water-001, air-001)`},
	{name: "fever on room sensor", cfg: SensorsConfig{Faults: Faults{FeverDevice: "room-001"}},
		wantErr: `faults: fever device "room-001" is a room sensor, not a wearable`},
	{name: "unknown silent device", cfg: SensorsConfig{Faults: Faults{SilentDevice: "nope"}},
		wantErr: `faults: silent device "nope" is not one of the 20 simulated devices`},
	{name: "bad ratio", cfg: SensorsConfig{Faults: Faults{MalformedRatio: 2}},
		wantErr: "faults: malformed ratio must be within 0..1, got 2"},
}

func TestSensorsConfigValidate(t *testing.T) {
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("Validate error = %v, want prefix %q", err, tc.wantErr)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	var cfg SensorsConfig
	fs := flag.NewFlagSet("sensors", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	err := fs.Parse([]string{"--broker", "tcp://127.0.0.1:11883", "--devices", "7", "--rate", "2.5", "--qos", "1",
		"--seed", "42", "--faults", "fever=wearable-001@10s,malformed=0.1", "--username", "sim"})
	if err != nil {
		t.Fatal(err)
	}
	want := SensorsConfig{Broker: "tcp://127.0.0.1:11883", Username: "sim", Devices: 7, Rate: 2.5, QoS: 1, Seed: 42,
		Faults: Faults{FeverDevice: "wearable-001", FeverAfter: 10 * time.Second, MalformedRatio: 0.1}}
	if cfg.Broker != want.Broker || cfg.Username != want.Username || cfg.Devices != want.Devices ||
		cfg.Rate != want.Rate || cfg.QoS != want.QoS || cfg.Seed != want.Seed || cfg.Faults != want.Faults {
		t.Fatalf("flags gave %+v, want %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	fs = flag.NewFlagSet("sensors", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--qos", "3"}); err == nil {
		t.Fatal("--qos 3 accepted")
	}
}
