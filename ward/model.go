package ward

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Status is the state of an occupancy.
type Status string

// The occupancy states. Only StatusActive occupies a room; the others end the occupancy.
const (
	StatusActive       Status = "active"
	StatusReleased     Status = "released"
	StatusTransferred  Status = "transferred"
	StatusHospitalised Status = "hospitalised"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusReleased, StatusTransferred, StatusHospitalised:
		return true
	}
	return false
}

// Room is one room of a site's ward.
type Room struct {
	ID    int64  `json:"id"`
	Site  string `json:"site"`
	Name  string `json:"name"`
	Floor string `json:"floor,omitempty"`
	// PlanX and PlanY place the room on the site plan (0..1 of its width and height) when one exists.
	PlanX *float64 `json:"plan_x,omitempty"`
	PlanY *float64 `json:"plan_y,omitempty"`
	// Bindings are the devices and the camera zone watching the room.
	Bindings Bindings `json:"bindings"`
}

// Bindings tie devices and a camera zone to a room.
type Bindings struct {
	// Wearables are the device ids of the occupant's wearables (body_temperature, heart_rate, rssi).
	Wearables []string `json:"wearables"`
	// Sensors are the room sensors' device ids.
	Sensors []string `json:"sensors"`
	// Camera and Zone watch the room's door.
	Camera string `json:"camera,omitempty"`
	Zone   string `json:"zone,omitempty"`
}

// Occupancy is one person's stay in a room, known everywhere by its pseudonymous case id.
type Occupancy struct {
	ID     int64  `json:"id"`
	Site   string `json:"site"`
	RoomID int64  `json:"room_id"`
	Room   string `json:"room"`
	CaseID string `json:"case_id"`
	// Start and PlannedEnd are the quarantine period.
	Start      time.Time `json:"start"`
	PlannedEnd time.Time `json:"planned_end"`
	Status     Status    `json:"status"`
	// StatusBy and StatusAt say who last changed the status, and when.
	StatusBy string    `json:"status_by"`
	StatusAt time.Time `json:"status_at"`
	// Personal is only filled for health staff of the site and admins.
	Personal *Personal `json:"personal,omitempty"`
}

// Personal are an occupant's personal fields, kept apart from the pseudonymous record (table ward_personal).
type Personal struct {
	Name    string `json:"name"`
	Contact string `json:"contact"`
}

// Manual reading metrics.
const (
	MetricBodyTemperature = "body_temperature"
	MetricHeartRate       = "heart_rate"
)

// ManualReading is a reading a nurse entered.
type ManualReading struct {
	ID          int64     `json:"id"`
	OccupancyID int64     `json:"occupancy_id"`
	Site        string    `json:"site"`
	Metric      string    `json:"metric"`
	Value       float64   `json:"value"`
	Time        time.Time `json:"time"`
	// Round, when set, is the round the nurse entered the reading for (a late entry); otherwise the reading
	// counts for the round it is nearest to, within the window.
	Round     time.Time `json:"round,omitzero"`
	EnteredBy string    `json:"entered_by"`
}

// Event is something the ward saw happen in a room (door motion at night, a possible leave, a removed wearable),
// kept for the daily report.
type Event struct {
	ID     int64     `json:"id"`
	Site   string    `json:"site"`
	Room   string    `json:"room"`
	CaseID string    `json:"case_id,omitempty"`
	Kind   string    `json:"kind"`
	Time   time.Time `json:"time"`
	Detail string    `json:"detail,omitempty"`
}

// Event kinds.
const (
	EventDoorNight       = "door_night"
	EventPossibleLeave   = "possible_leave"
	EventWearableRemoved = "wearable_removed"
)

// Errors of the store.
var (
	ErrNotFound = errors.New("ward: not found")
	ErrConflict = errors.New("ward: conflict")
	ErrInvalid  = errors.New("ward: invalid")
)

// caseIDRE is a FHIR id ([A-Za-z0-9\-\.]{1,64}), so a case id is a valid Patient id in the export.
var caseIDRE = regexp.MustCompile(`^[A-Za-z0-9.-]{1,64}$`)

// nameRE bounds room names, device ids, camera ids and zones: they become label values and URL segments.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ValidateBindings checks the ids of b.
func ValidateBindings(b Bindings) error {
	for _, d := range append(append([]string{}, b.Wearables...), b.Sensors...) {
		if !nameRE.MatchString(d) {
			return invalid("device id %q: letters, digits, '.', '_' and '-', at most 64", d)
		}
	}
	if len(b.Wearables)+len(b.Sensors) > 32 {
		return invalid("at most 32 devices per room")
	}
	if (b.Camera == "") != (b.Zone == "") {
		return invalid("camera and zone go together")
	}
	if b.Camera != "" && (!nameRE.MatchString(b.Camera) || !nameRE.MatchString(b.Zone)) {
		return invalid("camera %q or zone %q: letters, digits, '.', '_' and '-', at most 64", b.Camera, b.Zone)
	}
	return nil
}
