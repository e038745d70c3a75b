package app

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"citywatch/dashboards/auth"
)

// testHashing is the argon2id cost the app tests run with (Options.PasswordHashing): the lowest argon2 allows.
// At the default cost the hashes every New makes were most of its CPU, in every test that builds an app.
var testHashing = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// TestPasswordHashingOption: Options.PasswordHashing sets the cost of the first admin's stored hash, and the
// zero value keeps auth's default (19 MiB, 2 passes), which serve and demo use.
func TestPasswordHashingOption(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  auth.Argon2Params
		want string
	}{
		{"default", auth.Argon2Params{}, "$m=19456,t=2,p=1$"},
		{"lowered", testHashing, "$m=64,t=1,p=1$"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(testConfig(t, t.TempDir()), Options{PasswordHashing: tc.opt})
			require.NoError(t, err)
			defer a.closeStores()
			var hash string
			require.NoError(t, a.meta.QueryRow(`SELECT password_hash FROM auth_users LIMIT 1`).Scan(&hash))
			require.True(t, strings.Contains(hash, tc.want), "stored hash %q, want the cost %s", hash, tc.want)
		})
	}
}
