package dashboards

import (
	"context"
	"testing"
	"time"

	"citywatch/dashboards/promapi"
	"citywatch/store"
	"citywatch/store/tsdb"
)

// TestPrometheusAPIScopesRawStorage: promapi.New is given the raw TSDB, without ScopeToSites, and still
// confines a site-limited user to their sites. Scoping is by construction; no caller can forget it.
func TestPrometheusAPIScopesRawStorage(t *testing.T) {
	db, err := tsdb.Open(tsdb.Config{Dir: t.TempDir()}, tsdb.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UnixMilli()
	err = db.Append(context.Background(), []store.Sample{
		{Name: "temperature", Labels: []store.Label{{Name: "device", Value: "x"}, {Name: "site", Value: "a"}}, T: now, V: 1},
		{Name: "temperature", Labels: []store.Label{{Name: "device", Value: "y"}, {Name: "secret_b_label", Value: "1"}, {Name: "site", Value: "b"}}, T: now, V: 2},
		{Name: "nosite_metric", Labels: []store.Label{{Name: "device", Value: "z"}}, T: now, V: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := promapi.New(db, promapi.Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertScopedToSites(t, api)
}
