// Package ward is the quarantine ward on top of citywatch's sites: rooms, their occupancies (a pseudonymous
// case id everywhere, personal fields only for the site's health staff and admins), the bindings of wearables,
// room sensors and a door camera zone to a room, the nurses' rounds, the occupant-aware alert signals, the
// daily report and the FHIR R4 export.
//
// # Storage and privacy
//
// Everything lives in the metadata SQLite database (tables ward_*). Personal fields (name, contact) sit in their
// own table, ward_personal, keyed by occupancy, so retention can delete them without touching the pseudonymous
// record: the Store is retention by purpose's occupants store (retention.Occupants), whose Purge deletes one
// ended occupancy's personal fields and manual readings and pseudonymises the ward events naming its case id. Every view of an occupant's record is written to the audit trail (AuditOccupantView).
//
// # Alerts
//
// The engine (Engine) publishes info series into the TSDB, which PromQL rules join with the sensor data:
//
//	ward_occupant_info{site, room, case_id, device}  1 per wearable of a room with an active occupant
//	ward_binding_info{site, room, device}            1 per device bound to a room, occupied or not
//	ward_room_occupied{site, room}                   1 per room with an active occupant
//	ward_round_missed{site, room, case_id, round}    1 per active occupant without a reading at the last closed round
//	ward_wearable_removed{site, room, case_id, device} 1 while skin temperature is low and heart rate absent
//	ward_possible_leave{site, room, case_id}         1 while the door zone sees night motion and the wearable
//	                                                 goes silent or its RSSI drops
//
// The default rule pack's Fever rule multiplies by ward_occupant_info, so a fever names the room and case id,
// and drops wearables bound to a room with no active occupant (suppression); wearables bound to no room keep the
// plain fever alert. RoomCO2High joins ward_binding_info and ward_room_occupied the same way for room sensors. Series that stop (a release) get a staleness marker at once.
package ward
