package ward

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/deploy/rules"
)

// TestOccupantSignalsThroughEngine: "possible leave" and "wearable removed" as the engine reads them from the
// TSDB and the ward pack alerts on them — possible leave for night door motion with either the wearable silent
// or its RSSI fallen away from the room's gateway, not with the wearable present and steady nor by day;
// wearable removed for a skin temperature drop with no heart rate, not while the heart rate still reports nor
// at a normal temperature.
func TestOccupantSignalsThroughEngine(t *testing.T) {
	night := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	day := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	type data func(e *env, t *testing.T, now time.Time)
	temp := func(v float64, upTo time.Duration) data {
		return func(e *env, t *testing.T, now time.Time) {
			e.wearable(t, "site-a", "wearable-001", MetricBodyTemperature, now.Add(-20*time.Minute), now.Add(-upTo), v)
		}
	}
	heart := func(e *env, t *testing.T, now time.Time) {
		e.wearable(t, "site-a", "wearable-001", MetricHeartRate, now.Add(-20*time.Minute), now, 72)
	}
	rssi := func(drop bool) data {
		return func(e *env, t *testing.T, now time.Time) {
			e.wearable(t, "site-a", "wearable-001", "rssi", now.Add(-25*time.Minute), now.Add(-time.Minute), -55)
			last := -56.0
			if drop {
				last = -80
			}
			e.wearable(t, "site-a", "wearable-001", "rssi", now.Add(-time.Minute), now, last)
		}
	}
	doorMotion := func(e *env, t *testing.T, now time.Time) {
		require.NoError(t, e.db.Append(context.Background(), motion("site-a", "cam-101", "door", now.Add(-20*time.Second), now, 0.4)))
	}
	leave := []string{"case_id=Q-1,room=101,site=site-a"}
	removed := []string{"case_id=Q-1,device=wearable-001,room=101,site=site-a"}
	for _, tc := range []struct {
		name          string
		now           time.Time
		data          []data
		leave, remove []string
	}{
		{"night motion, wearable silent", night, []data{temp(36.6, 10*time.Minute), heart, doorMotion}, leave, nil},
		{"night motion, RSSI fell away from the gateway", night, []data{temp(36.6, 0), heart, rssi(true), doorMotion}, leave, nil},
		{"night motion, wearable present and steady", night, []data{temp(36.6, 0), heart, rssi(false), doorMotion}, nil, nil},
		{"day motion, wearable silent", day, []data{temp(36.6, 10*time.Minute), heart, doorMotion}, nil, nil},
		{"skin temperature dropped, no heart rate", day, []data{temp(30.5, 0)}, nil, removed},
		{"skin temperature dropped, heart rate reports", day, []data{temp(30.5, 0), heart}, nil, nil},
		{"normal temperature, no heart rate", day, []data{temp(36.6, 0)}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, tc.now, Config{})
			r := e.room(t, "site-a", "101", "wearable-001")
			_, err := e.ward.Store().CheckIn(ctx, "site-a", CheckIn{RoomID: r.ID, CaseID: "Q-1", Start: tc.now.Add(-time.Hour)}, "nurse")
			require.NoError(t, err)
			for _, d := range tc.data {
				d(e, t, tc.now)
			}
			require.NoError(t, e.ward.Evaluate(ctx))
			assert.Equal(t, tc.leave, e.eval(t, packExpr(t, rules.WardName, rules.Ward, "PossibleLeave")), "PossibleLeave")
			assert.Equal(t, tc.remove, e.eval(t, packExpr(t, rules.WardName, rules.Ward, "WearableRemoved")), "WearableRemoved")
		})
	}
}
