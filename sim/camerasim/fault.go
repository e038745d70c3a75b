package camerasim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// FaultKind names a way a simulated camera misbehaves.
type FaultKind string

// Fault kinds. Each is what a real camera or its network does to a monitor.
const (
	// FaultNone streams the normal clip.
	FaultNone FaultKind = "none"
	// FaultStall keeps every RTSP session and socket open but sends no RTP packets.
	FaultStall FaultKind = "stall"
	// FaultDisconnect closes every session of the camera; while the fault lasts, new connections to the
	// camera are closed at DESCRIBE (the camera dropped off the network and comes back after Duration).
	FaultDisconnect FaultKind = "disconnect"
	// FaultRefuse closes every session of the camera and answers new DESCRIBEs with 503 Service Unavailable.
	FaultRefuse FaultKind = "refuse"
	// FaultFrozen resends the same keyframe at the normal rate: the picture freezes while the stream looks healthy.
	FaultFrozen FaultKind = "frozen"
	// FaultBlack streams an all-black clip (lens covered, video loss).
	FaultBlack FaultKind = "black"
	// FaultMotion streams the normal scene with a large box moving across it (y 100..260, full width).
	FaultMotion FaultKind = "motion"
	// FaultGarbage sends RTP packets with valid headers and random payload bytes.
	FaultGarbage FaultKind = "garbage"
	// FaultLoss drops 20% of RTP packets (the receiver sees sequence-number gaps).
	FaultLoss FaultKind = "loss"
	// FaultLowFPS sends one frame in four (3 fps instead of 12).
	FaultLowFPS FaultKind = "lowfps"
)

const (
	lossRatio     = 0.2
	lowFPSDivisor = 4
)

// FaultKinds lists every fault kind, for flags and help texts.
func FaultKinds() []FaultKind {
	return []FaultKind{FaultNone, FaultStall, FaultDisconnect, FaultRefuse, FaultFrozen, FaultBlack, FaultMotion,
		FaultGarbage, FaultLoss, FaultLowFPS}
}

// ParseFaultKind parses a fault kind name; "" means none.
func ParseFaultKind(s string) (FaultKind, error) {
	if s == "" {
		return FaultNone, nil
	}
	for _, k := range FaultKinds() {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(FaultKinds()))
	for i, k := range FaultKinds() {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown fault kind %q (want one of %s)", s, strings.Join(names, ", "))
}

// Fault is a misbehaviour applied to one camera.
type Fault struct {
	// Kind is what the camera does.
	Kind FaultKind
	// Duration is how long the fault lasts before the camera returns to normal; 0 means until changed.
	Duration time.Duration
	// Region is an optional x, y, w, h rectangle. Only the zero value is accepted today: the motion clip is
	// pre-encoded (gen-clip.sh), so its box always crosses the band y 100..260.
	Region [4]int
}

// Validate reports whether f can be applied.
func (f Fault) Validate() error {
	if _, err := ParseFaultKind(string(f.Kind)); err != nil {
		return err
	}
	if f.Duration < 0 {
		return fmt.Errorf("duration must be >= 0, got %q", f.Duration)
	}
	if f.Region != [4]int{} {
		return fmt.Errorf("region is not supported: the motion clip is pre-encoded and its box crosses y 100..260")
	}
	return nil
}

// faultRequest is the JSON body of POST /cameras/{n}/fault.
type faultRequest struct {
	Kind     string `json:"kind"`
	Duration string `json:"duration,omitempty"`
	Region   []int  `json:"region,omitempty"`
}

// maxFaultBody bounds the control API request body.
const maxFaultBody = 4 << 10

// parseFaultJSON decodes and validates a fault request body.
func parseFaultJSON(b []byte) (Fault, error) {
	var req faultRequest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Fault{}, fmt.Errorf("invalid JSON: %w", err)
	}
	kind, err := ParseFaultKind(req.Kind)
	if err != nil {
		return Fault{}, err
	}
	f := Fault{Kind: kind}
	if req.Duration != "" {
		d, err := time.ParseDuration(req.Duration)
		if err != nil {
			return Fault{}, fmt.Errorf("duration: %w", err)
		}
		f.Duration = d
	}
	if len(req.Region) != 0 {
		if len(req.Region) != 4 {
			return Fault{}, fmt.Errorf("region must be [x,y,w,h], got %d numbers", len(req.Region))
		}
		copy(f.Region[:], req.Region)
	}
	if err := f.Validate(); err != nil {
		return Fault{}, err
	}
	return f, nil
}

// ScheduledFault applies Fault to camera Camera (1-based) At after Start.
type ScheduledFault struct {
	// Camera is the 1-based camera number.
	Camera int
	// At is the offset from Start (or from the start of each Repeat period).
	At time.Duration
	// Fault is what to apply.
	Fault Fault
}

// ParseScheduledFault parses a fault spec for flags: CAMERA:KIND[@AT][+DURATION], for example
// "2:stall@10s+15s" (camera 2 stalls 10s after start, for 15s) or "4:refuse" (camera 4 refuses from the
// start, until changed).
func ParseScheduledFault(spec string) (ScheduledFault, error) {
	cam, rest, ok := strings.Cut(spec, ":")
	if !ok {
		return ScheduledFault{}, fmt.Errorf("fault spec %q: want CAMERA:KIND[@AT][+DURATION]", spec)
	}
	n, err := strconv.Atoi(cam)
	if err != nil || n < 1 {
		return ScheduledFault{}, fmt.Errorf("fault spec %q: camera must be a number >= 1", spec)
	}
	sf := ScheduledFault{Camera: n}
	kindAt, dur, hasDur := strings.Cut(rest, "+")
	if hasDur {
		if sf.Fault.Duration, err = time.ParseDuration(dur); err != nil {
			return ScheduledFault{}, fmt.Errorf("fault spec %q: duration: %w", spec, err)
		}
	}
	kind, at, hasAt := strings.Cut(kindAt, "@")
	if hasAt {
		if sf.At, err = time.ParseDuration(at); err != nil {
			return ScheduledFault{}, fmt.Errorf("fault spec %q: at: %w", spec, err)
		}
	}
	if kind == "" {
		return ScheduledFault{}, fmt.Errorf("fault spec %q: missing fault kind", spec)
	}
	if sf.Fault.Kind, err = ParseFaultKind(kind); err != nil {
		return ScheduledFault{}, fmt.Errorf("fault spec %q: %w", spec, err)
	}
	if err := sf.Fault.Validate(); err != nil {
		return ScheduledFault{}, fmt.Errorf("fault spec %q: %w", spec, err)
	}
	if sf.At < 0 {
		return ScheduledFault{}, fmt.Errorf("fault spec %q: at must be >= 0", spec)
	}
	return sf, nil
}

// DemoSchedule returns a repeating schedule for a demo with at least 6 cameras that shows every state
// the monitor knows (except unauthorized, which needs a wrong password on the monitor side) and the
// picture faults that analysis detects: camera 1 stays healthy; 2 stalls; 3 drops off the network;
// 4 refuses sessions; 5 sends garbage, then loses packets, then drops its frame rate; 6 goes black,
// then shows motion, then freezes. It repeats every period.
func DemoSchedule() (schedule []ScheduledFault, period time.Duration) {
	s := func(cam int, at time.Duration, kind FaultKind, d time.Duration) ScheduledFault {
		return ScheduledFault{Camera: cam, At: at, Fault: Fault{Kind: kind, Duration: d}}
	}
	return []ScheduledFault{
		s(5, 5*time.Second, FaultGarbage, 12*time.Second),
		s(2, 10*time.Second, FaultStall, 15*time.Second),
		s(6, 15*time.Second, FaultBlack, 10*time.Second),
		s(3, 20*time.Second, FaultDisconnect, 10*time.Second),
		s(4, 30*time.Second, FaultRefuse, 12*time.Second),
		s(6, 30*time.Second, FaultMotion, 10*time.Second),
		s(5, 35*time.Second, FaultLoss, 10*time.Second),
		s(6, 45*time.Second, FaultFrozen, 10*time.Second),
		s(5, 50*time.Second, FaultLowFPS, 8*time.Second),
		// cam1 watches a ward room's door in the demo: its night-time motion is the ward's "possible leave".
		s(1, 60*time.Second, FaultMotion, 20*time.Second),
	}, 90 * time.Second
}
