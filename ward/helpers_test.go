package ward

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
	"citywatch/internal/clock"
	"citywatch/internal/sqlitedb"
	"citywatch/store"
	"citywatch/store/tsdb"
)

type env struct {
	ward  *Ward
	db    *tsdb.DB
	audit *audit.Log
	clock *clock.Fake
	meta  *sql.DB
	dir   string // the data directory: citywatch.db (and its -wal) and tsdb/
}

// newEnv builds a ward on a fresh metadata database and embedded TSDB, at now on a fake clock.
func newEnv(t testing.TB, now time.Time, cfg Config) *env {
	t.Helper()
	dir := t.TempDir()
	meta, err := sqlitedb.Open(filepath.Join(dir, "citywatch.db"))
	require.NoError(t, err)
	t.Cleanup(func() { meta.Close() })
	c := clock.NewFake(now)
	db, err := tsdb.Open(tsdb.Config{Dir: filepath.Join(dir, "tsdb"), OutOfOrderWindow: 48 * time.Hour,
		MaxFutureSkew: 48 * time.Hour}, tsdb.Deps{Clock: c})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	lg, err := audit.New(meta, audit.Config{}, audit.Deps{Clock: c})
	require.NoError(t, err)
	w, err := New(cfg, Deps{DB: meta, Reader: QueryableReader{db}, Appender: db, Audit: lg, Clock: c})
	require.NoError(t, err)
	return &env{ward: w, db: db, audit: lg, clock: c, meta: meta, dir: dir}
}

// wearable appends one sample a second of metric for device at site over [from, to).
func (e *env) wearable(t *testing.T, site, device, metric string, from, to time.Time, v float64) {
	t.Helper()
	var ss []store.Sample
	for ts := from; ts.Before(to); ts = ts.Add(time.Second) {
		ss = append(ss, store.Sample{Name: metric, Labels: []store.Label{{Name: "device", Value: device},
			{Name: "site", Value: site}}, T: ts.UnixMilli(), V: v})
	}
	require.NoError(t, e.db.Append(context.Background(), ss))
}

// room creates a room with one wearable at site.
func (e *env) room(t testing.TB, site, name, wearable string) Room {
	t.Helper()
	r, err := e.ward.Store().CreateRoom(context.Background(), Room{Site: site, Name: name,
		Bindings: Bindings{Wearables: []string{wearable}, Camera: "cam-" + name, Zone: "door"}})
	require.NoError(t, err)
	return r
}

// motion is camera_motion_score samples of one zone, one a second over [from, to].
func motion(site, camera, zone string, from, to time.Time, v float64) []store.Sample {
	var ss []store.Sample
	for ts := from; !ts.After(to); ts = ts.Add(time.Second) {
		ss = append(ss, store.Sample{Name: "camera_motion_score", Labels: []store.Label{{Name: "camera", Value: camera},
			{Name: "site", Value: site}, {Name: "zone", Value: zone}}, T: ts.UnixMilli(), V: v})
	}
	return ss
}
