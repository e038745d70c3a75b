// Package mapping maps an MQTT topic and payload to samples: the default citywatch topic mapping and
// configured rules (topic templates, payload format, prefix, static labels, field filters, unit scaling).
//
// Rules are tried in order and the first whose topic template matches maps the message; then, when
// Options.DefaultMapping is on, the default mapping (the DESIGN.md contract):
//
//	city/{district}/{site}/{device}           JSON object → a metric per field; SenML → a metric per record
//	                                          name; line protocol → <measurement>_<field>
//	city/{district}/{site}/{device}/{metric}  plain number → {metric}; JSON → {metric}_<field>; line protocol
//	                                          → <measurement>_<field>
//	city/{district}[/{site}[/{device}/...]]   line protocol only
//
// with the labels district, site and device and Result.Device "district/site/device". Anything else, or a
// format the matched topic shape does not take (a number on a device topic, JSON on a site topic), is
// rejected as unmapped_topic. Formats are detected by decode.Detect unless a rule fixes one.
//
// Naming: metric names are <base>_<field>, where base is Rule.Metric, else the {metric} level (not for line
// protocol), else the Influx measurement; then sanitized to [a-zA-Z_:][a-zA-Z0-9_:]* (invalid characters
// become "_"), filtered by Include/Exclude, scaled, and given MetricPrefix; a leading digit gets "_" in front.
// Label names from tags are sanitized to [a-zA-Z_][a-zA-Z0-9_]*; names starting with "__", empty or longer
// than MaxNameLen are rejected (bad_name), as are metric names starting with "__" (reserved) or without a letter
// or digit, and two fields or tags that become the same name. Empty tag values are dropped; label values are
// valid UTF-8 (the decoders reject invalid text, topics that are not UTF-8 are unmapped_topic). Labels are
// sorted.
//
// Limits: payloads over Options.MaxPayloadBytes, topics over MaxTopicBytes and tag values over
// MaxLabelValueBytes are too_large; messages with more than Options.MaxFields fields are too_many_fields.
//
// Topic labels win: a tag named like a topic or static label (say device) never replaces it; it is kept as
// exported_device, as Prometheus does with honor_labels off.
//
// Time: the payload's timestamp when it has one, else the receive time, in Unix milliseconds. Line-protocol
// timestamps are nanoseconds unless a rule sets Precision (the default mapping uses nanoseconds).
package mapping

import (
	"fmt"

	"citywatch/store"
)

// Result is what one message maps to.
type Result struct {
	// Samples are the samples of the message, labels sorted.
	Samples []store.Sample
	// Device identifies the sending device ("d1/siteA/sensor42": the values of the rule's device labels joined
	// with "/"), or "" when the topic names none.
	Device string
	// DeviceLabels are the labels that identify the device (for the default mapping: device, district, site),
	// sorted by name like every label set.
	DeviceLabels []store.Label
	// ArrivalTime says that no sample carries a time of its own: every T is the receive time, so the pipeline
	// may move it by a millisecond to keep readings that arrive in one millisecond apart.
	ArrivalTime bool
}

// Rejection reasons. They are label values of citywatch_ingest_rejected_total, so the set is closed.
const (
	ReasonUnmappedTopic = "unmapped_topic"
	ReasonTooLarge      = "too_large"
	ReasonBadJSON       = "bad_json"
	ReasonBadLine       = "bad_line_protocol"
	ReasonBadSenML      = "bad_senml"
	ReasonBadNumber     = "bad_number"
	ReasonBadTimestamp  = "bad_timestamp"
	ReasonNoFields      = "no_fields"
	ReasonBadName       = "bad_name"
	ReasonTooManyFields = "too_many_fields"
)

// Reasons lists every rejection reason, so counters can be initialised to zero.
var Reasons = []string{ReasonUnmappedTopic, ReasonTooLarge, ReasonBadJSON, ReasonBadLine, ReasonBadSenML,
	ReasonBadNumber, ReasonBadTimestamp, ReasonNoFields, ReasonBadName, ReasonTooManyFields}

// RejectError says why a message was rejected. Reason is one of the Reason* constants.
type RejectError struct {
	Reason string
	Err    error
}

func (e *RejectError) Error() string { return fmt.Sprintf("%s: %v", e.Reason, e.Err) }

func (e *RejectError) Unwrap() error { return e.Err }
