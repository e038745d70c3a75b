package notify

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// groupCases: the Alertmanager webhook's groupLabels and groupKey follow alerts.group_by (Config.GroupBy), in
// Alertmanager's own form: the route key "{}" (citywatch has one route tree level), ":", and the group labels
// as a sorted label set. A group_by label the alert lacks is left out, as Alertmanager does.
var groupCases = []struct {
	name    string
	groupBy []string
	labels  map[string]string
	key     string
	group   map[string]string
}{
	{"default alertname and site", nil, map[string]string{"site": "ward-b", "device": "bed7"},
		`{}:{alertname="Fever", site="ward-b"}`, map[string]string{"alertname": "Fever", "site": "ward-b"}},
	{"configured", []string{"site", "device"}, map[string]string{"site": "ward-b", "device": "bed7"},
		`{}:{device="bed7", site="ward-b"}`, map[string]string{"device": "bed7", "site": "ward-b"}},
	{"label missing from the alert", []string{"alertname", "camera"}, map[string]string{"site": "ward-b"},
		`{}:{alertname="Fever"}`, map[string]string{"alertname": "Fever"}},
	{"explicit empty: one group", []string{}, map[string]string{"site": "ward-b"},
		`{}:{}`, map[string]string{}},
	{"values are quoted", []string{"site"}, map[string]string{"site": `a "quoted" site`},
		`{}:{site="a \"quoted\" site"}`, map[string]string{"site": `a "quoted" site`}},
}

func TestAlertmanagerGroupFields(t *testing.T) {
	for _, tc := range groupCases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHook(t)
			db, _ := openTestDB(t)
			r := h.receiver("am")
			r.Format = FormatAlertmanager
			o := startOutbox(t, db, Config{Receivers: []Receiver{r}, GroupBy: tc.groupBy}, nil, nil)
			c := testChange("Fever")
			c.Labels = tc.labels
			enqueue(t, db, o, c)
			require.Eventually(t, func() bool { return h.Hits() > 0 }, waitFor, tick)
			h.mu.Lock()
			body := h.reqs[0].body
			h.mu.Unlock()
			var got struct {
				GroupKey    string            `json:"groupKey"`
				GroupLabels map[string]string `json:"groupLabels"`
			}
			require.NoError(t, json.Unmarshal(body, &got))
			require.Equal(t, tc.key, got.GroupKey)
			require.Equal(t, tc.group, got.GroupLabels)
		})
	}
}
