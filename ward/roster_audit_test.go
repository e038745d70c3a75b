package ward

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
	"citywatch/dashboards/auth"
)

// TestRosterViewAudited: the ward view (GET /api/ward/{site}) shows every active occupant; when it shows their
// names and contacts (the site's health staff, admins) the view is audited, once per view, naming no one; a
// viewer's ward view (case ids only) shows and audits no personal field.
func TestRosterViewAudited(t *testing.T) {
	for _, tc := range []struct {
		role    auth.Role
		sites   []string
		audited int
	}{
		{auth.RoleHealthStaff, []string{"site-a"}, 1},
		{auth.RoleAdmin, nil, 1},
		{auth.RoleViewer, []string{"site-a"}, 0},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			ae := newAPIEnv(t, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
			code, body := ae.do(t, tc.role, tc.sites, "GET", "/api/ward/site-a", "")
			require.Equal(t, 200, code, body)
			assert.Equal(t, tc.audited == 1, strings.Contains(body, "Secret Name"), "personal fields shown: %s", body)
			recs, err := ae.audit.Query(context.Background(), audit.Filter{Site: "site-a", Action: AuditRosterView, Limit: 100})
			require.NoError(t, err)
			assert.Len(t, recs, tc.audited)
			for _, r := range recs {
				assert.NotContains(t, r.Detail+r.Target, "Secret Name")
			}
		})
	}
}
