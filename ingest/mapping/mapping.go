// Package mapping maps an MQTT topic and payload to samples: the default citywatch topic mapping and
// configured rules (topic templates, payload format, prefix, static labels, field filters, unit scaling).
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
	// DeviceLabels are the labels that identify the device (for the default mapping: district, site, device).
	DeviceLabels []store.Label
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
)

// Reasons lists every rejection reason, so counters can be initialised to zero.
var Reasons = []string{ReasonUnmappedTopic, ReasonTooLarge, ReasonBadJSON, ReasonBadLine, ReasonBadSenML,
	ReasonBadNumber, ReasonBadTimestamp, ReasonNoFields, ReasonBadName}

// RejectError says why a message was rejected. Reason is one of the Reason* constants.
type RejectError struct {
	Reason string
	Err    error
}

func (e *RejectError) Error() string { return fmt.Sprintf("%s: %v", e.Reason, e.Err) }

func (e *RejectError) Unwrap() error { return e.Err }
