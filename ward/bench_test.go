package ward

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"citywatch/store"
)

// bench500 is a 500-room site, every room occupied, every wearable reporting once a second for the two minutes
// around the 08:00 round, evaluated just after the round closed.
func bench500(b *testing.B) *env {
	b.Helper()
	round := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	e := newEnv(b, round.Add(-2*time.Hour), Config{})
	ctx := context.Background()
	var ss []store.Sample
	for i := range 500 {
		dev := fmt.Sprintf("wearable-%03d", i)
		r, err := e.ward.Store().CreateRoom(ctx, Room{Site: "big", Name: fmt.Sprintf("%03d", i), Bindings: Bindings{Wearables: []string{dev}}})
		require.NoError(b, err)
		_, err = e.ward.Store().CheckIn(ctx, "big", CheckIn{RoomID: r.ID}, "nurse")
		require.NoError(b, err)
		for ts := round.Add(-time.Minute); ts.Before(round.Add(time.Minute)); ts = ts.Add(time.Second) {
			ss = append(ss, store.Sample{Name: MetricBodyTemperature, Labels: []store.Label{{Name: "device", Value: dev},
				{Name: "site", Value: "big"}}, T: ts.UnixMilli(), V: 36.6})
		}
	}
	require.NoError(b, e.db.Append(ctx, ss))
	e.clock.Set(round.Add(31 * time.Minute))
	return e
}

// BenchmarkWard500 measures, on a 500-room site, one engine evaluation (every series, the closed round,
// the signals), the round view of the day, and the ward view; the ward view is the baseline (one SQL read).
func BenchmarkWard500(b *testing.B) {
	e := bench500(b)
	ctx := context.Background()
	req := httptest.NewRequest("GET", "/api/ward/big", nil)
	b.Run("ward_view", func(b *testing.B) {
		for b.Loop() {
			rec := httptest.NewRecorder()
			e.ward.roster(rec, req, "big")
		}
	})
	b.Run("round_view", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.ward.Rounds(ctx, "big", e.clock.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("evaluate", func(b *testing.B) {
		for b.Loop() {
			if err := e.ward.Evaluate(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
