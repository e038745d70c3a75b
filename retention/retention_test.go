package retention

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/cameras/media"
	"citywatch/dashboards/audit"
	"citywatch/internal/clock"
	"citywatch/internal/sqlitedb"
	"citywatch/internal/testenv"
)

// fakeWard keeps occupants' personal fields and manual readings in the metadata database, as the ward does,
// so the test can check the database file itself.
type fakeWard struct {
	db   *sql.DB
	occs []Occupancy
}

func newFakeWard(t *testing.T, db *sql.DB) *fakeWard {
	_, err := db.Exec(`CREATE TABLE personal (occupancy TEXT, name TEXT, contact TEXT);
		CREATE TABLE readings (occupancy TEXT, note TEXT)`)
	require.NoError(t, err)
	return &fakeWard{db: db}
}

// openMeta opens dir/citywatch.db with an audit log on clk and a fake ward in it.
func openMeta(t *testing.T, dir string, clk *clock.Fake) (*sql.DB, *audit.Log, *fakeWard) {
	t.Helper()
	db, err := sqlitedb.Open(filepath.Join(dir, "citywatch.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	lg, err := audit.New(db, audit.Config{}, audit.Deps{Clock: clk})
	require.NoError(t, err)
	return db, lg, newFakeWard(t, db)
}

func (w *fakeWard) add(t *testing.T, o Occupancy, contact string) {
	w.occs = append(w.occs, o)
	_, err := w.db.Exec(`INSERT INTO personal VALUES (?, ?, ?)`, o.ID, o.Names[0], contact)
	require.NoError(t, err)
	_, err = w.db.Exec(`INSERT INTO readings VALUES (?, ?)`, o.ID, "manual 38.1 for "+o.Names[0])
	require.NoError(t, err)
}

func (w *fakeWard) EndedBefore(_ context.Context, t time.Time) ([]Occupancy, error) {
	var out []Occupancy
	for _, o := range w.occs {
		if o.End.Before(t) {
			out = append(out, o)
		}
	}
	return out, nil
}

func (w *fakeWard) Purge(ctx context.Context, o Occupancy) (int64, error) {
	var n int64
	for _, q := range []string{`DELETE FROM personal WHERE occupancy = ?`, `DELETE FROM readings WHERE occupancy = ?`} {
		res, err := w.db.ExecContext(ctx, q, o.ID)
		if err != nil {
			return n, err
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

func (w *fakeWard) personal(t *testing.T, id string) int {
	var n int
	require.NoError(t, w.db.QueryRow(`SELECT (SELECT COUNT(*) FROM personal WHERE occupancy = ?) +
		(SELECT COUNT(*) FROM readings WHERE occupancy = ?)`, id, id).Scan(&n))
	return n
}

// writeClip stores a clip as Media leaves it (an MP4 and its JSON sidecar), before Media starts.
func writeClip(t *testing.T, dir, camera, id string, start time.Time, d time.Duration) {
	cdir := filepath.Join(dir, "clips", camera)
	require.NoError(t, os.MkdirAll(cdir, 0o750))
	c := media.Clip{ID: id, Camera: camera, Reason: "motion", Events: 1, EventTime: start, Start: start,
		End: start.Add(d), DurationSeconds: d.Seconds(), Codec: "H264"}
	b, err := json.Marshal(c)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(cdir, id+".mp4"), []byte("ftyp video of "+camera), 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(cdir, id+".json"), b, 0o640))
}

// TestRetentionByPurpose: an occupant released at T keeps their data for the site's 30 days; a sweep after
// that leaves nothing of them: no personal fields or manual readings, no clip of their room's camera during
// the stay (files included), no audit record naming them, and nothing in the database or any other file
// under the data directory; one deletion record says what went. A second site with 7 days purges sooner;
// clips outside the stay and other occupants stay.
func TestRetentionByPurpose(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	stayStart := clk.Now().Add(-14 * 24 * time.Hour)
	release := clk.Now()
	writeClip(t, dir, "room101", "20260220T100000Z-00000001", stayStart.Add(48*time.Hour), 15*time.Second)
	writeClip(t, dir, "room101", "20260301T075900Z-00000002", release.Add(-time.Minute), 15*time.Second)
	writeClip(t, dir, "room101", "20260302T120000Z-00000003", release.Add(28*time.Hour), 15*time.Second) // the next occupant
	writeClip(t, dir, "room102", "20260225T100000Z-00000004", stayStart.Add(72*time.Hour), 15*time.Second)

	m, err := media.New(media.Config{DataDir: dir, FFmpegPath: "/nonexistent/ffmpeg", Retention: 365 * 24 * time.Hour,
		Cameras: []media.CameraConfig{{ID: "room101", Site: "site-a"}, {ID: "room102", Site: "site-a"}, {ID: "b7", Site: "site-b"}}},
		media.Deps{Clock: clk})
	require.NoError(t, err)
	require.NoError(t, m.Start())
	t.Cleanup(m.Close)

	db, lg, ward := openMeta(t, dir, clk)
	a := Occupancy{Site: "site-a", ID: "occ-1", CaseID: "CASE-8812", Names: []string{"Tran Thi Binh"},
		Cameras: []string{"room101"}, Start: stayStart, End: release}
	other := Occupancy{Site: "site-a", ID: "occ-2", CaseID: "CASE-9001", Names: []string{"Le Van Cuong"},
		Cameras: []string{"room102"}, Start: stayStart, End: release.Add(20 * 24 * time.Hour)}
	b := Occupancy{Site: "site-b", ID: "occ-3", CaseID: "CASE-7777", Names: []string{"Pham Minh Duc"},
		Cameras: []string{"b7"}, Start: stayStart, End: release}
	ward.add(t, a, "+84 90 555 0101")
	ward.add(t, other, "+84 90 555 0202")
	ward.add(t, b, "+84 90 555 0303")
	ctx := context.Background()
	for _, r := range []audit.Record{
		{Actor: "nurse1", Action: audit.WardCheckIn, Site: "site-a", Target: "CASE-8812", Detail: "Tran Thi Binh, room 101", Success: true},
		{Actor: "nurse1", Action: audit.WardOccupantView, Site: "site-a", Target: "CASE-8812", Detail: "with personal fields", Success: true},
		{Actor: "nurse2", Action: audit.WardManualRead, Site: "site-a", Target: "CASE-8812", Detail: "body_temperature 38.1", Success: true},
		{Actor: "nurse2", Action: audit.WardOccupantView, Site: "site-a", Target: "CASE-9001", Detail: "with personal fields", Success: true},
		{Actor: "nurse3", Action: audit.WardOccupantView, Site: "site-b", Target: "CASE-7777", Success: true},
	} {
		require.NoError(t, lg.Record(ctx, r))
	}

	reg := prometheus.NewRegistry()
	e, err := New(Config{Sites: map[string]time.Duration{"site-b": 7 * 24 * time.Hour}},
		Deps{Occupants: ward, Clips: m, Audit: lg, DB: db, Clock: clk, Registerer: reg})
	require.NoError(t, err)
	personA := []string{"CASE-8812", "Tran Thi Binh", "+84 90 555 0101", "20260220T100000Z-00000001", "20260301T075900Z-00000002"}

	clk.Advance(8 * 24 * time.Hour) // site-b's 7 days are over, site-a's 30 are not
	rep, err := e.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Occupancies)
	assert.Zero(t, ward.personal(t, "occ-3"))
	assert.Equal(t, 2, ward.personal(t, "occ-1"), "site-a keeps its occupant's data for 30 days")
	assert.Len(t, m.Clips("room101"), 3)

	clk.Advance(23 * 24 * time.Hour) // 31 days after the release
	rep, err = e.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, Report{Occupancies: 1, Personal: 2, Clips: 2, AuditRecords: 3}, rep)
	assert.Zero(t, ward.personal(t, "occ-1"))
	assert.Equal(t, 2, ward.personal(t, "occ-2"), "the other occupant, released later, keeps theirs")
	var left []string
	for _, c := range m.Clips("room101") {
		left = append(left, c.ID)
	}
	assert.Equal(t, []string{"20260302T120000Z-00000003"}, left, "only the next occupant's clip stays")
	assert.Len(t, m.Clips("room102"), 1)

	// Nothing names the occupant any more: not the audit trail, not any file under the data directory
	// (the database and its write-ahead log included).
	all, err := lg.Query(ctx, audit.Filter{Limit: 1000})
	require.NoError(t, err)
	for _, r := range all {
		js, _ := json.Marshal(r)
		for _, w := range personA {
			assert.NotContains(t, string(js), w)
		}
	}
	require.Empty(t, testenv.FilesContaining(t, dir, personA...))
	assert.NotEmpty(t, testenv.FilesContaining(t, dir, "Le Van Cuong"), "the check must be able to see a name")

	purges, err := lg.Query(ctx, audit.Filter{Action: audit.RetentionPurge})
	require.NoError(t, err)
	require.Len(t, purges, 2)
	p := purges[0]
	assert.Equal(t, "site-a", p.Site)
	assert.True(t, strings.HasPrefix(p.Target, "purged-"), p.Target)
	assert.Contains(t, p.Detail, "2 personal fields and manual readings deleted, 2 clips deleted, 3 audit records pseudonymised")
	assert.True(t, p.Success)
	views, err := lg.Query(ctx, audit.Filter{Action: audit.WardOccupantView, Site: "site-a"})
	require.NoError(t, err)
	var targets []string
	for _, v := range views {
		targets = append(targets, v.Target)
	}
	assert.ElementsMatch(t, []string{p.Target, "CASE-9001"}, targets, "the trail keeps the view, under the pseudonym")

	// A further sweep finds nothing to do and writes no record.
	clk.Advance(time.Hour)
	rep, err = e.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, Report{}, rep)
	purges, err = lg.Query(ctx, audit.Filter{Action: audit.RetentionPurge})
	require.NoError(t, err)
	assert.Len(t, purges, 2)
}

var configCases = []struct {
	name string
	cfg  Config
	err  string
}{
	{"defaults", Config{}, ""},
	{"negative", Config{AfterRelease: -time.Hour}, "retention: after_release and interval must be > 0, got -1h0m0s and 1h0m0s"},
	{"site zero", Config{Sites: map[string]time.Duration{"a": 0}}, `retention: sites["a"]: after_release must be > 0, got 0s`},
}

func TestNewValidates(t *testing.T) {
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tc.cfg, Deps{Occupants: &fakeWard{}})
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, DefaultAfterRelease, e.AfterRelease("any"))
		})
	}
	_, err := New(Config{}, Deps{})
	require.EqualError(t, err, "retention: no occupants store")
}

// TestDue is the pure decision: per-site periods, strictly after the period, never an open stay.
func TestDue(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	after := func(site string) time.Duration {
		if site == "short" {
			return 24 * time.Hour
		}
		return 30 * 24 * time.Hour
	}
	cands := []Occupancy{
		{ID: "open", Site: "x"},
		{ID: "exactly30d", Site: "x", End: now.Add(-30 * 24 * time.Hour)},
		{ID: "31d", Site: "x", End: now.Add(-31 * 24 * time.Hour)},
		{ID: "short2d", Site: "short", End: now.Add(-48 * time.Hour)},
		{ID: "short1h", Site: "short", End: now.Add(-time.Hour)},
	}
	var ids []string
	for _, o := range due(cands, now, after) {
		ids = append(ids, o.ID)
	}
	assert.Equal(t, []string{"31d", "short2d"}, ids)
}

// countingAudit counts Pseudonymise calls (each one scans the site's audit trail).
type countingAudit struct {
	AuditLog
	calls int
}

func (c *countingAudit) Pseudonymise(ctx context.Context, site string, subjects []string, pseudonym string) (int64, error) {
	c.calls++
	return c.AuditLog.Pseudonymise(ctx, site, subjects, pseudonym)
}

// TestSweepSkipsPurged: an occupancy purged completely is remembered, so later sweeps do not scan the audit
// trail and the clips for it again, although the ward still lists it (its pseudonymous record stays).
func TestSweepSkipsPurged(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	db, lg, ward := openMeta(t, dir, clk)
	ward.add(t, Occupancy{Site: "s", ID: "o1", CaseID: "CASE-1", Names: []string{"Name One"}, End: clk.Now()}, "c1")
	for _, withDB := range []bool{true, false} {
		ca := &countingAudit{AuditLog: lg}
		deps := Deps{Occupants: ward, Audit: ca, Clock: clk}
		if withDB {
			deps.DB = db
		}
		e, err := New(Config{}, deps)
		require.NoError(t, err)
		clk.Advance(31 * 24 * time.Hour)
		for range 3 {
			_, err := e.Sweep(context.Background())
			require.NoError(t, err)
		}
		if withDB {
			require.Equal(t, 1, ca.calls, "purged once, then remembered")
		} else {
			require.Equal(t, 3, ca.calls, "without the database every sweep reconsiders it (idempotently)")
		}
	}
	purges, err := lg.Query(context.Background(), audit.Filter{Action: audit.RetentionPurge})
	require.NoError(t, err)
	require.Len(t, purges, 1, "one deletion record however often it is reconsidered")
}
