package audit

// The quarantine ward's audited actions (package ward). Their target is the occupant's case id or the room,
// never a name; retention by purpose deletes or pseudonymises them with the occupant's record.
const (
	// WardOccupantView is a view of one occupant's record.
	WardOccupantView Action = "ward_occupant_view"
	// WardRosterView is a view of a site's ward that showed occupants' personal fields.
	WardRosterView   Action = "ward_roster_view"
	WardRoomCreate   Action = "ward_room_create"
	WardBindings     Action = "ward_bindings_change"
	WardCheckIn      Action = "ward_check_in"
	WardStatusChange Action = "ward_status_change"
	WardManualRead   Action = "ward_manual_reading"
	// WardExport is a daily report or FHIR export.
	WardExport Action = "ward_export"
	// WardSettings is a change of a site's ward settings (rounds, time zone, night hours, retention days).
	WardSettings Action = "ward_settings_change"
)

// wardActions are the ward's actions, part of Actions.
var wardActions = []Action{WardOccupantView, WardRosterView, WardRoomCreate, WardBindings, WardCheckIn,
	WardStatusChange, WardManualRead, WardExport, WardSettings}
