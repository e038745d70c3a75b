package auth_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"

	"citywatch/dashboards/auth"
)

// permissionCases is the permission model spelled out: every role × every action. A change to the model must
// change this table.
var permissionCases = []struct {
	p       auth.Principal
	allowed []auth.Action
}{
	{auth.Principal{Role: auth.RoleAdmin}, auth.Actions},
	{auth.Principal{Role: auth.RoleOperator}, []auth.Action{auth.ActionSelf, auth.ActionRead, auth.ActionVideo,
		auth.ActionAck, auth.ActionSilence, auth.ActionReplay, auth.ActionReadMetrics}},
	{auth.Principal{Role: auth.RoleHealthStaff, Sites: []string{"a"}}, []auth.Action{auth.ActionSelf, auth.ActionRead,
		auth.ActionVideo, auth.ActionAck, auth.ActionWard}},
	{auth.Principal{Role: auth.RoleViewer, Sites: []string{"a"}}, []auth.Action{auth.ActionSelf, auth.ActionRead}},
	{auth.Principal{Role: auth.RoleViewer, Sites: []string{"a"}, Video: true}, []auth.Action{auth.ActionSelf,
		auth.ActionRead, auth.ActionVideo}},
	{auth.Principal{Role: "root"}, nil},
	{auth.Principal{}, nil},
}

func TestPermissionModel(t *testing.T) {
	for _, tc := range permissionCases {
		for _, act := range append(slices.Clone(auth.Actions), "bogus") {
			t.Run(fmt.Sprintf("%s/video=%t/%s", tc.p.Role, tc.p.Video, act), func(t *testing.T) {
				assert.Equal(t, slices.Contains(tc.allowed, act), tc.p.Can(act))
			})
		}
	}
}

// siteCases: who sees the own site "a", another site "b" and an item without a site.
var siteCases = []struct {
	p                 auth.Principal
	own, other, empty bool
}{
	{auth.Principal{Role: auth.RoleAdmin}, true, true, true},
	{auth.Principal{Role: auth.RoleAdmin, Sites: []string{"a"}}, true, true, true}, // admins are never confined
	{auth.Principal{Role: auth.RoleOperator}, true, true, true},
	{auth.Principal{Role: auth.RoleOperator, Sites: []string{"a"}}, true, false, false},
	{auth.Principal{Role: auth.RoleHealthStaff, Sites: []string{"a"}}, true, false, false},
	{auth.Principal{Role: auth.RoleHealthStaff}, false, false, false}, // no sites: fail closed
	{auth.Principal{Role: auth.RoleViewer, Sites: []string{"a"}, Video: true}, true, false, false},
	{auth.Principal{Role: auth.RoleViewer}, false, false, false},
	{auth.Principal{Role: auth.RoleViewer, Sites: []string{"*"}}, true, true, true},
	{auth.Principal{Role: auth.RoleOperator, Sites: []string{"*"}}, true, true, true},
	{auth.Principal{Role: auth.RoleHealthStaff, Sites: []string{"*"}}, false, false, false}, // refused at creation too
	{auth.Principal{Role: auth.RoleViewer, Sites: []string{"a", "*"}}, true, false, false},
	{auth.Principal{Role: "root"}, false, false, false},
}

func TestCanSeeSite(t *testing.T) {
	for _, tc := range siteCases {
		t.Run(fmt.Sprintf("%s/%v", tc.p.Role, tc.p.Sites), func(t *testing.T) {
			assert.Equal(t, tc.own, tc.p.CanSeeSite("a"), "own site")
			assert.Equal(t, tc.other, tc.p.CanSeeSite("b"), "other site")
			assert.Equal(t, tc.empty, tc.p.CanSeeSite(""), "no site")
		})
	}
}

func TestFilterSites(t *testing.T) {
	type cam struct{ id, site string }
	cams := []cam{{"c1", "a"}, {"c2", "b"}, {"c3", "a"}, {"c4", ""}}
	site := func(c cam) string { return c.site }
	for _, tc := range siteCases {
		got := auth.FilterSites(tc.p, cams, site)
		var want []cam
		for _, c := range cams {
			if tc.p.CanSeeSite(c.site) {
				want = append(want, c)
			}
		}
		assert.ElementsMatch(t, want, got, "%s %v", tc.p.Role, tc.p.Sites)
	}
}

func TestActor(t *testing.T) {
	assert.Equal(t, "alice", auth.Principal{Kind: auth.KindUser, Name: "alice"}.Actor())
	assert.Equal(t, "token/ci", auth.Principal{Kind: auth.KindToken, ID: "tok_1", Name: "ci"}.Actor())
}
