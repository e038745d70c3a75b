package config

import (
	"strings"
	"testing"
)

// fingerprintCases are tls_fingerprint values and whether the one rule (config and the camera monitor)
// accepts them.
var fingerprintCases = []struct {
	fp string
	ok bool
}{
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
	for _, tc := range fingerprintCases {
		if got := ValidFingerprint(tc.fp); got != tc.ok {
			t.Errorf("ValidFingerprint(%q) = %v, want %v", tc.fp, got, tc.ok)
		}
	}
	if a, b := NormalizeFingerprint("AB:cd"), NormalizeFingerprint("abCD"); a != b {
		t.Errorf("the colon and plain forms differ: %q, %q", a, b)
	}
}
