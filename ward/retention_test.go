package ward

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/dashboards/audit"
	"citywatch/retention"
)

// TestStoreRetention: the ward's store under the real retention engine. An occupant released 31 days ago
// (site period 30 days) leaves no name, contact or manual reading in the store or in the database file and its
// write-ahead log; the audit records and ward events that named the case id name the deletion record's
// pseudonym instead; the pseudonymous record stays. An occupant still active, and one released 10 days ago,
// keep theirs; a second sweep deletes nothing more.
func TestStoreRetention(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	e := newEnv(t, start, Config{})
	st := e.ward.Store()
	type person struct{ name, contact string }
	people := []person{{"Nguyen Van Anh", "+84 90 111 2222"}, {"Tran Thi Binh", "+84 90 333 4444"},
		{"Le Van Cuong", "+84 90 555 6666"}}
	var occs []Occupancy
	for i, p := range people {
		r := e.room(t, "site-a", "10"+strconv.Itoa(i), "w-10"+strconv.Itoa(i))
		occ, err := st.CheckIn(ctx, "site-a", CheckIn{RoomID: r.ID, Name: p.name, Contact: p.contact}, "nurse")
		require.NoError(t, err)
		_, err = st.AddManualReading(ctx, "site-a", ManualReading{OccupancyID: occ.ID, Value: 38.4, EnteredBy: "nurse"})
		require.NoError(t, err)
		require.NoError(t, st.AddEvent(ctx, Event{Site: "site-a", Room: r.Name, CaseID: occ.CaseID, Kind: EventDoorNight,
			Time: start, Detail: "door zone cam-" + r.Name + "/door"}))
		require.NoError(t, e.audit.Record(ctx, audit.Record{Actor: "nurse", Action: audit.WardCheckIn, Site: "site-a",
			Target: occ.CaseID, Detail: "room " + r.Name + " for " + p.name, Success: true}))
		occs = append(occs, occ)
	}
	e.clock.Set(start.Add(24 * time.Hour))
	_, err := st.SetStatus(ctx, "site-a", occs[0].ID, StatusReleased, "nurse")
	require.NoError(t, err)
	e.clock.Set(start.Add(22 * 24 * time.Hour))
	_, err = st.SetStatus(ctx, "site-a", occs[1].ID, StatusHospitalised, "nurse")
	require.NoError(t, err)
	e.clock.Set(start.Add(32 * 24 * time.Hour)) // 31 days after the first release, 10 after the second

	ended, err := st.EndedBefore(ctx, e.clock.Now())
	require.NoError(t, err)
	require.Len(t, ended, 2, "the active occupancy is not listed")
	assert.Equal(t, retention.Occupancy{Site: "site-a", ID: strconv.FormatInt(occs[0].ID, 10), CaseID: occs[0].CaseID,
		Names: []string{people[0].name, people[0].contact}, Cameras: []string{"cam-100"}, Start: start,
		End: start.Add(24 * time.Hour)}, ended[0])

	eng, err := retention.New(retention.Config{}, retention.Deps{Occupants: st, Audit: e.audit, DB: e.meta, Clock: e.clock})
	require.NoError(t, err)
	rep, err := eng.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Occupancies)
	assert.Equal(t, int64(3), rep.Personal, "name+contact row, one manual reading, one event")

	purges, err := e.audit.Query(ctx, audit.Filter{Action: audit.RetentionPurge})
	require.NoError(t, err)
	require.Len(t, purges, 1)
	pseudonym := purges[0].Target

	for i, want := range []bool{false, true, true} {
		occ, err := st.Occupancy(ctx, "site-a", occs[i].ID, true)
		require.NoError(t, err, "the pseudonymous record stays")
		assert.Equal(t, want, occ.Personal != nil, "personal fields of occupancy %d", i)
	}
	manual, err := st.ManualReadings(ctx, "site-a", start.Add(-time.Hour), start.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, manual, 2)
	for _, m := range manual {
		assert.NotEqual(t, occs[0].ID, m.OccupancyID)
	}
	events, err := st.Events(ctx, "site-a", start.Add(-time.Hour), start.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, events, 3, "events stay for the report")
	assert.Equal(t, pseudonym, events[0].CaseID)
	assert.Equal(t, occs[1].CaseID, events[1].CaseID)

	all, err := e.audit.Query(ctx, audit.Filter{Limit: 1000})
	require.NoError(t, err)
	for _, r := range all {
		assert.NotEqual(t, occs[0].CaseID, r.Target)
		assert.NotContains(t, r.Detail, people[0].name)
	}

	// The bytes of the database and its write-ahead log: the released occupant's name and contact are gone,
	// the others' are there (so the check can see a name).
	files := dbFiles(t, e.dir)
	assert.Empty(t, contains(files, people[0].name, people[0].contact))
	assert.NotEmpty(t, contains(files, people[1].name))

	rep, err = eng.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, retention.Report{}, rep, "a second sweep deletes nothing more")
	n, err := st.Purge(ctx, ended[0])
	require.NoError(t, err)
	assert.Zero(t, n, "a purge of a purged occupancy deletes nothing")

	_, err = st.Purge(ctx, retention.Occupancy{Site: "site-a", ID: strconv.FormatInt(occs[2].ID, 10)})
	assert.ErrorIs(t, err, ErrConflict, "an active occupancy is never purged")
	_, err = st.Purge(ctx, retention.Occupancy{Site: "site-b", ID: strconv.FormatInt(occs[1].ID, 10)})
	assert.ErrorIs(t, err, ErrNotFound, "nor another site's")
}

// dbFiles reads the metadata database and its write-ahead log under dir.
func dbFiles(t *testing.T, dir string) map[string][]byte {
	out := map[string][]byte{}
	for _, f := range []string{"citywatch.db", "citywatch.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		out[f] = b
	}
	require.NotEmpty(t, out["citywatch.db"])
	return out
}

// contains names the files holding one of words.
func contains(files map[string][]byte, words ...string) []string {
	var out []string
	for name, b := range files {
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				out = append(out, name+" has "+w)
			}
		}
	}
	return out
}
