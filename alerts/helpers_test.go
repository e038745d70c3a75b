package alerts

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"citywatch/alerts/notify"
	"citywatch/internal/clock"
	"citywatch/store"
	"citywatch/store/tsdb"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fakeOutbox records enqueued changes and writes them through the caller's transaction, so a test can check
// that notifications commit (or roll back) with the state change.
type fakeOutbox struct {
	mu      sync.Mutex
	changes []notify.Change
	fail    error
}

func (f *fakeOutbox) Enqueue(ctx context.Context, tx *sql.Tx, changes ...notify.Change) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS test_outbox (fp TEXT, state TEXT)`); err != nil {
		return err
	}
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO test_outbox VALUES (?, ?)`, c.Fingerprint, c.State); err != nil {
			return err
		}
	}
	f.changes = append(f.changes, changes...)
	return nil
}

// take returns and forgets the recorded changes.
func (f *fakeOutbox) take() []notify.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.changes
	f.changes = nil
	return c
}

type env struct {
	t      *testing.T
	db     *tsdb.DB
	dbPath string
	clock  *clock.Fake
	outbox *fakeOutbox
	m      *Manager
	q      storage.Queryable
}

// instantGrouping notifies at once: no group wait, no group interval.
var instantGrouping = Grouping{GroupWait: -1, GroupInterval: -1, RepeatInterval: time.Hour}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	db, err := tsdb.Open(tsdb.Config{Dir: t.TempDir(), OutOfOrderWindow: 24 * time.Hour}, tsdb.Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	e := &env{t: t, db: db, q: db, dbPath: filepath.Join(t.TempDir(), "alerts.db"), clock: clock.NewFake(t0),
		outbox: &fakeOutbox{}}
	e.start(cfg)
	return e
}

// start (re)creates the manager on the same database, as a restart does.
func (e *env) start(cfg Config) {
	e.t.Helper()
	if e.m != nil {
		require.NoError(e.t, e.m.Close())
	}
	if cfg.Grouping.GroupBy == nil && cfg.Grouping.GroupWait == 0 {
		cfg.Grouping = instantGrouping
	}
	cfg.DBPath = e.dbPath
	m, err := New(cfg, Deps{Queryable: e.q, DB: nil, Outbox: e.outbox, Clock: e.clock})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = m.Close() })
	e.m = m
}

// add stores samples of one series at the given offsets from t0 (seconds) with the given values.
func (e *env) add(name string, lbls map[string]string, points ...float64) {
	e.t.Helper()
	require.Zero(e.t, len(points)%2, "points are (offset seconds, value) pairs")
	var ls []store.Label
	for k, v := range lbls {
		ls = append(ls, store.Label{Name: k, Value: v})
	}
	store.SortLabels(ls)
	var samples []store.Sample
	for i := 0; i < len(points); i += 2 {
		samples = append(samples, store.Sample{Name: name, Labels: ls,
			T: t0.Add(time.Duration(points[i] * float64(time.Second))).UnixMilli(), V: points[i+1]})
	}
	require.NoError(e.t, e.db.Append(context.Background(), samples))
}

// at sets the clock to t0+d and evaluates once.
func (e *env) at(d time.Duration) {
	e.clock.Set(t0.Add(d))
	e.m.evalOnce(context.Background())
}

// active returns the active alerts of rule name, by the value of label key.
func (e *env) active(rule, key string) map[string]Alert {
	e.t.Helper()
	out := map[string]Alert{}
	for _, s := range []State{StatePending, StateFiring} {
		as, err := e.m.Alerts(context.Background(), AlertFilter{State: s})
		require.NoError(e.t, err)
		for _, a := range as {
			if a.Rule == rule {
				out[a.Labels[key]] = a
			}
		}
	}
	return out
}

func states(as map[string]Alert) map[string]State {
	out := map[string]State{}
	for k, a := range as {
		out[k] = a.State
	}
	return out
}

func kinds(cs []notify.Change) []string {
	var out []string
	for _, c := range cs {
		k := c.State
		if c.Reminder {
			k = "reminder"
		}
		out = append(out, c.Name+"/"+c.Labels["site"]+"/"+k)
	}
	return out
}

// failingQueryable fails every select that asks for metric "broken".
type failingQueryable struct{ storage.Queryable }

func (f failingQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	q, err := f.Queryable.Querier(mint, maxt)
	return failingQuerier{q}, err
}

type failingQuerier struct{ storage.Querier }

func (f failingQuerier) Select(ctx context.Context, sorted bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Value == "broken" {
			return storage.ErrSeriesSet(errors.New("disk on fire"))
		}
	}
	return f.Querier.Select(ctx, sorted, hints, ms...)
}
