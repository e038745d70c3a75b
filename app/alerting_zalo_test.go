package app

import (
	"testing"

	"github.com/stretchr/testify/require"

	"citywatch/alerts/notify"
	"citywatch/config"
)

// TestNotifyConfigCarriesZalo: the zalo keys of the configuration reach the outbox, which accepts them (a key
// not copied here would make every zalo receiver fail validation at start).
func TestNotifyConfigCarriesZalo(t *testing.T) {
	cfg, err := config.Parse([]byte(`notify:
  receivers:
    - name: district-zalo
      format: zalo
      zalo_user_id: "2512523625412515"
      zalo_access_token: zalo-oa-token-123
`), "c.yaml")
	require.NoError(t, err)
	nc := notify.ConfigFromConfig(cfg)
	require.Len(t, nc.Receivers, 1)
	r := nc.Receivers[0]
	require.Equal(t, notify.FormatZalo, r.Format)
	require.Equal(t, "2512523625412515", r.ZaloUserID)
	require.Equal(t, "zalo-oa-token-123", r.ZaloAccessToken)
	require.NoError(t, nc.Validate())
}
