package auth_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func mustPrefixes(t *testing.T, s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		var err error
		out[i], err = netip.ParsePrefix(p)
		require.NoError(t, err)
	}
	return out
}
