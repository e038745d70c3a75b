// Package netguard decides which IP addresses are internal (loopback, private, link-local, ...) and so refused
// as outbound destinations (webhooks) unless explicitly allowed. It is a leaf (standard library only): the
// notifier's dialer checks every connection with it, and configuration validation refuses such URLs at load.
package netguard

import "net/netip"

var blockedPrefixes = []struct {
	p      netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "CGNAT"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("fc00::/7"), "unique local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	v4Compatible = netip.MustParsePrefix("::/96")
)

// BlockedReason says why ip is an internal address ("loopback", "private", ...), or "" when it is a public
// address. IPv4 addresses embedded in IPv6 (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96,
// 6to4 2002::/16) are checked as IPv4.
func BlockedReason(ip netip.Addr) string {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	for _, b := range blockedPrefixes {
		if b.p.Contains(ip) {
			return b.reason
		}
	}
	if ip.Is6() {
		a := ip.As16()
		var v4 netip.Addr
		switch {
		case nat64Prefix.Contains(ip), v4Compatible.Contains(ip):
			v4 = netip.AddrFrom4([4]byte(a[12:16]))
		case sixToFour.Contains(ip):
			v4 = netip.AddrFrom4([4]byte(a[2:6]))
		}
		if v4.IsValid() {
			if r := BlockedReason(v4); r != "" {
				return r + " (embedded in IPv6)"
			}
		}
	}
	if ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return "broadcast"
	}
	return ""
}
