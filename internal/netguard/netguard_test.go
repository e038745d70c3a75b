package netguard

import (
	"net/netip"
	"testing"
)

// blockedCases are addresses and whether they are internal; IPv4 embedded in IPv6 counts as IPv4.
var blockedCases = []struct {
	ip       string
	internal bool
}{
	{"8.8.8.8", false},
	{"2001:4860:4860::8888", false},
	{"127.0.0.1", true},
	{"10.1.2.3", true},
	{"172.16.0.1", true},
	{"192.168.1.1", true},
	{"169.254.169.254", true},
	{"100.64.0.1", true},
	{"255.255.255.255", true},
	{"::1", true},
	{"fe80::1", true},
	{"fd00::1", true},
	{"::ffff:127.0.0.1", true},
	{"64:ff9b::a00:1", true},    // NAT64 of 10.0.0.1
	{"2002:c0a8:101::1", true},  // 6to4 of 192.168.1.1
	{"64:ff9b::808:808", false}, // NAT64 of 8.8.8.8
}

func TestBlockedReason(t *testing.T) {
	for _, tc := range blockedCases {
		if got := BlockedReason(netip.MustParseAddr(tc.ip)) != ""; got != tc.internal {
			t.Errorf("BlockedReason(%s) internal = %v, want %v", tc.ip, got, tc.internal)
		}
	}
}
