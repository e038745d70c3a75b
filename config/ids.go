package config

import (
	"regexp"
	"strings"
)

// CameraIDRule describes the one camera id rule, for error messages and docs.
const CameraIDRule = `1-64 characters of [A-Za-z0-9_.-], not "." or ".."`

// cameraIDRE is the camera id rule every package applies (config at load, the monitor, the analyzer and media
// in New). It is the wider of the two rules citywatch used to have (config allowed [a-z0-9_-]+, the components
// [A-Za-z0-9_.-]{1,64}), so every configuration that ran before still loads; "." and ".." are refused because
// an id names the camera's clip directory.
var cameraIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ValidCameraID reports whether id is a valid camera id (CameraIDRule).
func ValidCameraID(id string) bool { return cameraIDRE.MatchString(id) && id != "." && id != ".." }

// fingerprintRE is a SHA-256 fingerprint once colons are removed and letters lowered.
var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// NormalizeFingerprint is a certificate fingerprint as compared: colons removed, letters lowered, so that
// "AB:CD:…" and "abcd…" name the same certificate.
func NormalizeFingerprint(s string) string { return strings.ToLower(strings.ReplaceAll(s, ":", "")) }

// ValidFingerprint reports whether s is a SHA-256 certificate fingerprint, 64 hex digits, colons allowed
// (cameras[].tls_fingerprint): the one rule config and the camera monitor apply.
func ValidFingerprint(s string) bool { return fingerprintRE.MatchString(NormalizeFingerprint(s)) }

// ReceiverNameRule describes the one receiver name rule (notify.receivers[].name), for error messages and docs.
const ReceiverNameRule = "1-64 characters of [a-z0-9_-]"

// ValidReceiverName reports whether name is a valid receiver name (ReceiverNameRule): the rule config applies
// at load and the outbox applies to the receivers it is given. Names are metric label values and appear in
// routes, so they are short and lower case; the outbox's built-in MQTT receiver (notify.mqtt) has a "." so
// that no configured receiver can take its name.
func ValidReceiverName(name string) bool {
	return len(name) <= maxReceiverNameLen && receiverNameRE.MatchString(name)
}
