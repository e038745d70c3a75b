package config

import (
	"strings"
	"testing"
)

// fingerprintCases are tls_fingerprint values and whether the one rule (config and the camera monitor)
// accepts them.
var fingerprintCases = []ruleCase{
	{strings.Repeat("ab", 32), true},
	{strings.Repeat("AB", 32), true},
	{"AB" + strings.Repeat(":CD", 31), true},
	{strings.Repeat("ab", 31), false},        // 62 digits
	{strings.Repeat("ab", 33), false},        // 66 digits
	{strings.Repeat("zz", 32), false},        // not hex
	{strings.Repeat("ab", 31) + " a", false}, // a space
	{"", false},
}

func TestValidFingerprint(t *testing.T) {
	checkRule(t, "ValidFingerprint", ValidFingerprint, fingerprintCases)
	if a, b := NormalizeFingerprint("AB:cd"), NormalizeFingerprint("abCD"); a != b {
		t.Errorf("the colon and plain forms differ: %q, %q", a, b)
	}
}
