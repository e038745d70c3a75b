package app

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"citywatch/config"
	"citywatch/dashboards/auth"
	"citywatch/store"
)

// clientRules fire at once: one alert at site-a, one at site-b.
const clientRules = `groups:
  - name: client
    rules:
      - alert: SiteAUp
        expr: label_replace(vector(1), "site", "site-a", "", "")
        labels: {severity: info}
        annotations: {summary: "site a is up"}
      - alert: SiteBUp
        expr: label_replace(vector(2), "site", "site-b", "", "")
`

// bearer adds a token to every request of a client.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func promClient(t *testing.T, addr, token string) promv1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: "http://" + addr, RoundTripper: bearer{token, http.DefaultTransport}})
	require.NoError(t, err)
	return promv1.NewAPI(c)
}

// TestPrometheusClient runs client_golang's API client (what Grafana's Prometheus data source and most Go
// tooling use) against a running citywatch and calls every method Grafana uses: each must succeed and return
// citywatch's data, and a site-limited account's client sees only its site's alerts.
func TestPrometheusClient(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(clientRules), 0o600))
	cfg := testConfig(t, dir)
	cfg.Alerts.RuleFiles = []string{rules}
	cfg.Alerts.EvalInterval = config.Duration(200 * time.Millisecond)
	const configSecret = "config-admin-token-must-never-show-0123"
	cfg.Auth.AdminToken = config.Secret(configSecret)
	require.NoError(t, cfg.Validate())
	const adminToken = "client-test-admin-token-0123456789"
	a := runApp(t, cfg, Options{PasswordHashing: testHashing, AdminToken: adminToken, Flags: map[string]string{"config": "/etc/citywatch.yaml"}})
	ctx := t.Context()
	now := time.Now()
	require.NoError(t, a.appender.Append(ctx, []store.Sample{
		{Name: "temperature", Labels: []store.Label{{Name: "device", Value: "d1"}, {Name: "site", Value: "site-a"}}, T: now.UnixMilli(), V: 21},
		{Name: "temperature", Labels: []store.Label{{Name: "device", Value: "d2"}, {Name: "site", Value: "site-b"}}, T: now.UnixMilli(), V: 22},
	}))
	viewerA, err := a.auth.IssueToken(ctx, "viewer-a", auth.RoleViewer, []string{"site-a"}, false, time.Hour)
	require.NoError(t, err)

	c := promClient(t, a.HTTPAddr(), adminToken)
	window := func() (time.Time, time.Time) { return now.Add(-time.Hour), now.Add(time.Minute) }

	v, _, _, err := c.Query(ctx, "temperature", now)
	require.NoError(t, err, "Query")
	require.Len(t, v.(model.Vector), 2)
	start, end := window()
	v, _, _, err = c.QueryRange(ctx, "sum(temperature)", promv1.Range{Start: start, End: end, Step: time.Minute})
	require.NoError(t, err, "QueryRange")
	require.Len(t, v.(model.Matrix), 1)
	series, _, _, err := c.Series(ctx, []string{"temperature"}, start, end)
	require.NoError(t, err, "Series")
	require.Len(t, series, 2)
	names, _, _, err := c.LabelNames(ctx, nil, start, end)
	require.NoError(t, err, "LabelNames")
	require.Contains(t, names, model.LabelName("device"))
	values, _, _, err := c.LabelValues(ctx, "site", nil, start, end)
	require.NoError(t, err, "LabelValues")
	require.Contains(t, values, model.LabelValue("site-b"))
	_, err = c.Metadata(ctx, "", "")
	require.NoError(t, err, "Metadata")
	ex, err := c.QueryExemplars(ctx, "temperature", start, end)
	require.NoError(t, err, "QueryExemplars")
	require.Empty(t, ex)

	// The rules fire on the first evaluations.
	var alerts promv1.AlertsResult
	require.Eventually(t, func() bool {
		alerts, err = c.Alerts(ctx)
		return err == nil && len(alerts.Alerts) == 2
	}, 20*time.Second, 100*time.Millisecond, "Alerts: %v %+v", err, alerts)
	rulesRes, err := c.Rules(ctx, nil)
	require.NoError(t, err, "Rules")
	group := findGroup(t, rulesRes, "client") // besides citywatch's own rules (selfrules.go)
	require.Equal(t, rules, group.File)
	require.Len(t, group.Rules, 2)
	ar, ok := group.Rules[0].(promv1.AlertingRule)
	require.True(t, ok, "%T", group.Rules[0])
	require.Equal(t, "SiteAUp", ar.Name)
	require.Equal(t, promv1.RuleHealth(promv1.RuleHealthGood), ar.Health)
	require.Equal(t, model.LabelValue("site a is up"), ar.Annotations["summary"])
	require.Len(t, ar.Alerts, 1)

	targets, err := c.Targets(ctx)
	require.NoError(t, err, "Targets")
	require.Empty(t, targets.Active)
	require.Empty(t, targets.Dropped)
	_, err = c.AlertManagers(ctx)
	require.NoError(t, err, "AlertManagers")
	bi, err := c.Buildinfo(ctx)
	require.NoError(t, err, "Buildinfo")
	require.NotEmpty(t, bi.Version)
	ri, err := c.Runtimeinfo(ctx)
	require.NoError(t, err, "Runtimeinfo")
	require.True(t, ri.ReloadConfigSuccess)
	require.Equal(t, "15d", ri.StorageRetention)
	require.Positive(t, ri.GoroutineCount)
	flags, err := c.Flags(ctx)
	require.NoError(t, err, "Flags")
	require.Equal(t, "/etc/citywatch.yaml", flags["config"])
	conf, err := c.Config(ctx)
	require.NoError(t, err, "Config")
	require.Contains(t, conf.YAML, "data_dir:")
	require.Contains(t, conf.YAML, "admin_token: <redacted>")
	require.NotContains(t, conf.YAML, configSecret)
	tsdbRes, err := c.TSDB(ctx)
	require.NoError(t, err, "TSDB")
	require.GreaterOrEqual(t, tsdbRes.HeadStats.NumSeries, 2)
	require.NotEmpty(t, tsdbRes.SeriesCountByMetricName)
	formatted, err := c.FormatQuery(ctx, "sum(temperature)by(site)")
	require.NoError(t, err, "FormatQuery")
	require.Equal(t, `"sum by (site) (temperature)"`, formatted) // the client returns data as raw JSON, as from Prometheus

	// A viewer of site-a: their site's alert only, in /alerts and inside /rules; the status endpoints refuse.
	ca := promClient(t, a.HTTPAddr(), viewerA)
	alerts, err = ca.Alerts(ctx)
	require.NoError(t, err)
	require.Len(t, alerts.Alerts, 1)
	require.Equal(t, model.LabelValue("site-a"), alerts.Alerts[0].Labels["site"])
	rulesRes, err = ca.Rules(ctx, nil)
	require.NoError(t, err)
	for _, g := range rulesRes.Groups {
		for _, r := range g.Rules {
			for _, al := range r.(promv1.AlertingRule).Alerts {
				require.Equal(t, model.LabelValue("site-a"), al.Labels["site"], "a site-a viewer sees another site's alert")
			}
		}
	}
	group = findGroup(t, rulesRes, "client")
	require.Equal(t, string(promv1.AlertStateFiring), group.Rules[0].(promv1.AlertingRule).State)
	require.Equal(t, string(promv1.AlertStateInactive), group.Rules[1].(promv1.AlertingRule).State)
	v, _, _, err = ca.Query(ctx, "temperature", now)
	require.NoError(t, err)
	require.Len(t, v.(model.Vector), 1)
	_, err = ca.TSDB(ctx)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "403"), err.Error())
}

func findGroup(t *testing.T, res promv1.RulesResult, name string) promv1.RuleGroup {
	t.Helper()
	for _, g := range res.Groups {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no rule group %q in %+v", name, res.Groups)
	return promv1.RuleGroup{}
}
