package camerasim

import (
	"encoding/json"
	"fmt"
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
)

// FaultKinds lists every fault kind, for flags and help texts.
var FaultKinds = []FaultKind{FaultNone, FaultStall, FaultDisconnect, FaultRefuse, FaultFrozen, FaultBlack, FaultMotion, FaultGarbage}

// ParseFaultKind parses a fault kind name; "" means none.
func ParseFaultKind(s string) (FaultKind, error) {
	if s == "" {
		return FaultNone, nil
	}
	for _, k := range FaultKinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(FaultKinds))
	for i, k := range FaultKinds {
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
