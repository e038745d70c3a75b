package ward

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
)

// badSettings are bodies of PUT /api/ward/{site}/settings that must be refused (400) without a change.
var badSettings = []string{
	`{"time_zone":"Mars/Olympus"}`,
	`{"time_zone":"Local"}`,
	`{"rounds":["8:00"]}`,
	`{"rounds":["08:00","08:00"]}`,
	`{"rounds":["24:00"]}`,
	`{"rounds":[` + strings.TrimSuffix(strings.Repeat(`"00:00",`, 25), ",") + `]}`,
	`{"night":"22:00"}`,
	`{"night":"06:00-06:00"}`,
	`{"retention_days":-1}`,
	`{"retention_days":3651}`,
	`{"retention_days":"7"}`,
	`{"rounds":"08:00"}`,
	`{"unknown":1}`,
}

// TestSiteSettingsOverTheAPI: health staff of a site (and admins) set its round schedule, time zone, night hours
// and retention days over the API; the change is audited, applies at once (the round view, retention's
// periods), is kept in the metadata database (a new ward on it has it), and leaves other sites and the
// configuration's defaults alone. Viewers and operators cannot change it; health staff of another site get 404.
func TestSiteSettingsOverTheAPI(t *testing.T) {
	ae := newAPIEnv(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	own := []string{"site-a"}
	code, body := ae.do(t, auth.RoleViewer, own, "GET", "/api/ward/site-a/settings", "")
	require.Equal(t, http.StatusOK, code, body)
	var v SettingsView
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	assert.Equal(t, SettingsView{Site: "site-a", TimeZone: "UTC", Rounds: []string{"08:00", "20:00"}, Night: "22:00-06:00",
		RetentionDays: 30}, v, "the configuration's defaults")

	const put = `{"time_zone":"Asia/Ho_Chi_Minh","rounds":["14:00","07:30","21:00"],"night":"21:30-05:30","retention_days":14}`
	for _, who := range []struct {
		role  auth.Role
		sites []string
		want  int
	}{
		{auth.RoleViewer, own, http.StatusForbidden},
		{auth.RoleOperator, nil, http.StatusForbidden},
		{auth.RoleHealthStaff, []string{"site-b"}, http.StatusNotFound},
	} {
		code, body := ae.do(t, who.role, who.sites, "PUT", "/api/ward/site-a/settings", put)
		assert.Equal(t, who.want, code, "%s %v: %s", who.role, who.sites, body)
	}
	code, body = ae.do(t, auth.RoleHealthStaff, own, "PUT", "/api/ward/site-a/settings", put)
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	assert.Equal(t, "Asia/Ho_Chi_Minh", v.TimeZone)
	assert.Equal(t, []string{"07:30", "14:00", "21:00"}, v.Rounds)
	assert.Equal(t, "21:30-05:30", v.Night)
	assert.Equal(t, 14, v.RetentionDays)
	assert.Equal(t, 14, v.Overrides.RetentionDays)
	assert.NotEmpty(t, v.UpdatedBy)

	// It applies at once: the round view of the site has its three rounds in its zone; site-b keeps the defaults.
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	rounds, err := ae.ward.Rounds(context.Background(), "site-a", day)
	require.NoError(t, err)
	require.Len(t, rounds, 3)
	assert.Equal(t, time.Date(2026, 12, 7, 0, 30, 0, 0, time.UTC), rounds[0].Round, "07:30 in Ho Chi Minh City is 00:30 UTC")
	rounds, err = ae.ward.Rounds(context.Background(), "site-b", day)
	require.NoError(t, err)
	assert.Len(t, rounds, 2)
	sc := ae.ward.Site("site-a")
	assert.Equal(t, 21*time.Hour+30*time.Minute, sc.NightFrom)
	assert.Equal(t, map[string]time.Duration{"site-a": 14 * 24 * time.Hour}, ae.ward.RetentionPeriods())

	// Audited with who and what.
	recs, err := ae.audit.Query(context.Background(), audit.Filter{Site: "site-a", Action: string(AuditSettings), Limit: 10})
	require.NoError(t, err)
	require.Len(t, recs, 1, "only the accepted change (refused roles never reach the handler)")
	assert.Contains(t, recs[0].Detail, "Asia/Ho_Chi_Minh")
	assert.Contains(t, recs[0].Detail, "retention_days 14")

	// Kept: a ward built anew on the same database has the settings.
	again, err := New(Config{}, Deps{DB: ae.meta, Reader: QueryableReader{ae.db}, Clock: ae.clock})
	require.NoError(t, err)
	assert.Equal(t, v.Rounds, again.SettingsOf("site-a").Rounds)
	assert.Equal(t, "Asia/Ho_Chi_Minh", again.SettingsOf("site-a").TimeZone)

	// Bad values are refused and change nothing.
	for _, b := range badSettings {
		code, body := ae.do(t, auth.RoleHealthStaff, own, "PUT", "/api/ward/site-a/settings", b)
		assert.Equal(t, http.StatusBadRequest, code, "%s: %s", b, body)
	}
	assert.Equal(t, v.Rounds, ae.ward.SettingsOf("site-a").Rounds)

	// An empty body goes back to the configuration's settings.
	code, body = ae.do(t, auth.RoleAdmin, nil, "PUT", "/api/ward/site-a/settings", `{}`)
	require.Equal(t, http.StatusOK, code, body)
	assert.Equal(t, []string{"08:00", "20:00"}, ae.ward.SettingsOf("site-a").Rounds)
	assert.Empty(t, ae.ward.RetentionPeriods())
}

// TestSiteSettingsOverConfig: a site's configured settings are the default the API's settings replace field by
// field; the configured retention shows as the site's retention days until the API sets its own.
func TestSiteSettingsOverConfig(t *testing.T) {
	prague, err := time.LoadLocation("Europe/Prague")
	require.NoError(t, err)
	e := newEnv(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), Config{
		Sites:                 []SiteConfig{{Site: "s", Location: prague, Rounds: []time.Duration{6 * time.Hour}}},
		RetentionAfterRelease: 60 * 24 * time.Hour, SiteRetention: map[string]time.Duration{"s": 10 * 24 * time.Hour}})
	assert.Equal(t, SettingsView{Site: "s", TimeZone: "Europe/Prague", Rounds: []string{"06:00"}, Night: "22:00-06:00",
		RetentionDays: 10, Configured: true}, e.ward.SettingsOf("s"))
	assert.Equal(t, 60, e.ward.SettingsOf("other").RetentionDays)
	assert.False(t, e.ward.SettingsOf("other").Configured, "a site ward.sites[] does not list")
	require.NoError(t, e.ward.SetSiteSettings(context.Background(), "s", SiteSettings{Night: "23:00-07:00"}, "nurse"))
	v := e.ward.SettingsOf("s")
	assert.Equal(t, "Europe/Prague", v.TimeZone, "fields left out keep the configuration's")
	assert.Equal(t, []string{"06:00"}, v.Rounds)
	assert.Equal(t, "23:00-07:00", v.Night)
	assert.Equal(t, 10, v.RetentionDays)
}
