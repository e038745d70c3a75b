package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/config"
	"citywatch/internal/clock"
	"citywatch/internal/sqlitedb"
	"citywatch/sim"
	"citywatch/ward"
)

type noData struct{}

func (noData) Points(context.Context, string, map[string]string, time.Time, time.Time) ([]ward.Point, error) {
	return nil, nil
}

// TestDemoWard: the demo's ward has a room per simulated wearable of the hotels, occupants in all but one, the
// leave fault's wearable behind cam1's door, the past round done by hand except in the rooms without a
// wearable; seeding twice changes nothing; and the demo's ward settings validate.
func TestDemoWard(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 10, 7, 30, 0, time.UTC)
	cfg, err := DemoConfig(DemoOptions{DataDir: t.TempDir(), HTTP: "127.0.0.1:0", MQTT: "127.0.0.1:0"})
	require.NoError(t, err, "the demo's ward settings validate")
	require.Len(t, cfg.Ward.Sites, 2)
	sites := demoWardSites(now)
	assert.Equal(t, "Asia/Ho_Chi_Minh", sites[0].TimeZone, "the demo's wards are in Vietnam")
	assert.Equal(t, []string{"16:47", "17:47"}, sites[0].Rounds, "local time (UTC+7)")
	assert.Equal(t, "16:07-23:07", sites[0].Night)

	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "citywatch.db"))
	require.NoError(t, err)
	defer db.Close()
	section := config.Default().Ward
	section.Sites = sites
	wc, err := ward.ConfigFromConfig(section, config.Default().Privacy)
	require.NoError(t, err)
	w, err := ward.New(wc, ward.Deps{DB: db, Reader: noData{}, Clock: clock.NewFake(now)})
	require.NoError(t, err)
	simCfg := sim.SensorsConfig{Devices: 20}
	require.NoError(t, seedDemoWard(ctx, w.Store(), simCfg, now))
	require.NoError(t, seedDemoWard(ctx, w.Store(), simCfg, now), "seeding again is a no-op")
	rooms, err := w.Store().Rooms(ctx, "")
	require.NoError(t, err)
	assert.Len(t, rooms, len(sim.WardRooms(simCfg))+2)
	occs, err := w.Store().Occupancies(ctx, "", true, false)
	require.NoError(t, err)
	assert.Len(t, occs, len(rooms)-1, "one vacant room")
	leave := false
	for _, r := range rooms {
		if r.Bindings.Camera == demoDoorCamera {
			leave = assert.Equal(t, []string{demoLeaveDevice}, r.Bindings.Wearables)
		}
	}
	assert.True(t, leave, "the leave fault's wearable is behind the door camera")
	views, err := w.Rounds(ctx, "q-hotel-1", now)
	require.NoError(t, err)
	require.Len(t, views, 2)
	assert.Equal(t, 3, views[0].Done, "the past round, by hand")
	assert.Equal(t, 1, views[0].Missing, "the room without a wearable")
	assert.Equal(t, 4, views[1].Pending)
}
