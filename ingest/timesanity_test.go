package ingest

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"citywatch/ingest/mapping"
	"citywatch/store/tsdb"
)

// realStack is a pipeline with the default mapping in front of a real embedded TSDB.
type realStack struct {
	p   *Pipeline
	db  *tsdb.DB
	reg *prometheus.Registry
}

func openRealStack(t *testing.T, dir string, cfg PipelineConfig, dbCfg tsdb.Config) *realStack {
	t.Helper()
	dbCfg.Dir = dir
	db, err := tsdb.Open(dbCfg, tsdb.Deps{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	m, err := mapping.New(nil, mapping.Options{DefaultMapping: true})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	p, err := NewPipeline(cfg, PipelineDeps{Mapper: m, Appender: db, Registerer: reg})
	require.NoError(t, err)
	return &realStack{p: p, db: db, reg: reg}
}

func (s *realStack) publish(t *testing.T, topic, payload string, recv time.Time) {
	t.Helper()
	require.NoError(t, s.p.Handle(context.Background(), Message{Topic: topic, Payload: []byte(payload),
		Received: recv, Source: "embedded"}))
}

// points returns the stored (time, value) pairs of metric for device, oldest first.
func (s *realStack) points(t *testing.T, metric, device string) [][2]float64 {
	t.Helper()
	q, err := s.db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	set := q.Select(context.Background(), true, nil,
		labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, metric),
		labels.MustNewMatcher(labels.MatchEqual, "device", device))
	var out [][2]float64
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() != 0 {
			ts, v := it.At()
			out = append(out, [2]float64{float64(ts), v})
		}
		require.NoError(t, it.Err())
	}
	require.NoError(t, set.Err())
	return out
}

func (s *realStack) rejected(t *testing.T, reason string) float64 {
	t.Helper()
	v, _ := metricValue(t, s.reg, "citywatch_ingest_rejected_total", "reason", reason)
	return v
}

// futureCases are device timestamps far enough ahead of the receive time to be refused.
var futureCases = []struct {
	name string
	ts   func(now time.Time) string
	// reasons that may refuse it: the decoder refuses times beyond what it represents before the door sees them.
	reasons []string
}{
	{"plus 2 hours in ms", func(now time.Time) string { return fmt.Sprint(now.Add(2 * time.Hour).UnixMilli()) },
		[]string{ReasonTSFuture}},
	{"plus 30 days in ms", func(now time.Time) string { return fmt.Sprint(now.Add(30 * 24 * time.Hour).UnixMilli()) },
		[]string{ReasonTSFuture}},
	{"year 9999", func(time.Time) string { return `"9999-12-31T23:59:59Z"` },
		[]string{ReasonTSFuture, mapping.ReasonBadTimestamp}},
	{"year 9999 in ms", func(time.Time) string { return "253402300799000" }, []string{ReasonTSFuture, mapping.ReasonBadTimestamp}},
}

// TestFutureTimestampDoesNotStopOthers is the regression test for one future-stamped message stopping all
// ingestion: the head's max time moved ahead and the out-of-order window then refused the present, also after a
// restart.
func TestFutureTimestampDoesNotStopOthers(t *testing.T) {
	for _, tc := range futureCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			now := time.Now()
			s := openRealStack(t, dir, PipelineConfig{}, tsdb.Config{})
			s.publish(t, "city/d1/siteA/evil", `{"body_temperature":36.6,"ts":`+tc.ts(now)+`}`, now)
			if dead := s.p.Rejected(); assert.NotEmpty(t, dead) {
				assert.Contains(t, tc.reasons, dead[0].Reason)
				assert.Equal(t, 1.0, s.rejected(t, dead[0].Reason), "the future sample is a counted rejection")
				if dead[0].Reason == ReasonTSFuture {
					assert.Contains(t, dead[0].Error, "ahead of the receive time")
				}
			}
			if devs := s.p.Devices(); assert.Len(t, devs, 1) {
				assert.Equal(t, uint64(1), devs[0].Errors, "a device error")
			}
			assert.Empty(t, s.points(t, "body_temperature", "evil"))

			// Current readings of another device, arrival-stamped and device-stamped, are stored.
			s.publish(t, "city/d2/siteB/good", `{"body_temperature":36.7}`, now.Add(time.Second))
			s.publish(t, "city/d2/siteB/good", fmt.Sprintf(`{"body_temperature":36.8,"ts":%d}`,
				now.Add(2*time.Second).UnixMilli()), now.Add(2*time.Second))
			assert.Len(t, s.points(t, "body_temperature", "good"), 2)
			for _, r := range []string{"store_too_old", "store_out_of_bounds", "store_duplicate"} {
				assert.Zero(t, s.rejected(t, r), r)
			}

			// And after a restart.
			require.NoError(t, s.db.Close())
			s = openRealStack(t, dir, PipelineConfig{}, tsdb.Config{})
			s.publish(t, "city/d2/siteB/good", `{"body_temperature":36.9}`, now.Add(3*time.Second))
			s.publish(t, "city/d3/siteC/other", `{"body_temperature":37.0}`, now.Add(3*time.Second))
			assert.Len(t, s.points(t, "body_temperature", "good"), 3)
			assert.Len(t, s.points(t, "body_temperature", "other"), 1)
		})
	}
}

// TestFutureSkewIsAllowed: a device clock a little ahead (within max_future_skew) is stored as sent.
func TestFutureSkewIsAllowed(t *testing.T) {
	now := time.Now()
	s := openRealStack(t, t.TempDir(), PipelineConfig{}, tsdb.Config{})
	ahead := now.Add(5 * time.Minute).UnixMilli()
	s.publish(t, "city/d1/siteA/fast", fmt.Sprintf(`{"temperature":20,"ts":%d}`, ahead), now)
	assert.Equal(t, [][2]float64{{float64(ahead), 20}}, s.points(t, "temperature", "fast"))
	assert.Zero(t, s.rejected(t, ReasonTSFuture))
}

// TestTooOldTimestampIsRejectedAtTheDoor: a sample older than the store takes is refused before the store, with
// the limit in the message.
func TestTooOldTimestampIsRejectedAtTheDoor(t *testing.T) {
	now := time.Now()
	s := openRealStack(t, t.TempDir(), PipelineConfig{MaxSampleAge: time.Hour}, tsdb.Config{})
	s.publish(t, "city/d1/siteA/old", fmt.Sprintf(`{"temperature":20,"ts":%d}`, now.Add(-3*time.Hour).UnixMilli()), now)
	assert.Equal(t, 1.0, s.rejected(t, ReasonTSTooOld))
	require.NotEmpty(t, s.p.Rejected())
	assert.Contains(t, s.p.Rejected()[0].Error, "1h0m0s")
	s.publish(t, "city/d1/siteA/old", fmt.Sprintf(`{"temperature":21,"ts":%d}`, now.Add(-30*time.Minute).UnixMilli()), now)
	assert.Len(t, s.points(t, "temperature", "old"), 1)
}

// TestBurstKeepsEveryReading is the regression test for a burst of messages without a timestamp arriving in the
// same millisecond: all but the first were refused as duplicates. Every reading must be kept, in order.
func TestBurstKeepsEveryReading(t *testing.T) {
	now := time.Now()
	s := openRealStack(t, t.TempDir(), PipelineConfig{}, tsdb.Config{})
	const n = 500
	for i := range n {
		// Every message arrives in the same millisecond.
		s.publish(t, "city/d1/siteA/burst", fmt.Sprintf(`{"heart_rate":%d}`, i), now)
	}
	pts := s.points(t, "heart_rate", "burst")
	require.Len(t, pts, n)
	for i, p := range pts {
		assert.Equal(t, float64(i), p[1], "readings are kept in arrival order")
	}
	assert.Zero(t, s.rejected(t, "store_duplicate"))
	// Later readings continue after the burst and are stored too.
	s.publish(t, "city/d1/siteA/burst", `{"heart_rate":1000}`, now.Add(time.Millisecond))
	assert.Len(t, s.points(t, "heart_rate", "burst"), n+1)
}

// TestDeviceStampedDuplicates: the same reading twice is stored once without complaint; another value at the same
// device timestamp is a counted rejection.
func TestDeviceStampedDuplicates(t *testing.T) {
	now := time.Now()
	s := openRealStack(t, t.TempDir(), PipelineConfig{}, tsdb.Config{})
	ts := now.Add(-time.Second).UnixMilli()
	for range 3 {
		s.publish(t, "city/d1/siteA/dup", fmt.Sprintf(`{"temperature":20,"ts":%d}`, ts), now)
	}
	assert.Len(t, s.points(t, "temperature", "dup"), 1)
	assert.Zero(t, s.rejected(t, "store_duplicate"))
	s.publish(t, "city/d1/siteA/dup", fmt.Sprintf(`{"temperature":21,"ts":%d}`, ts), now)
	assert.Equal(t, 1.0, s.rejected(t, "store_duplicate"))
	assert.Equal(t, [][2]float64{{float64(ts), 20}}, s.points(t, "temperature", "dup"))
}

// TestPerDeviceSeriesLimit: a device whose firmware puts a counter in its field names gets at most
// MaxSeriesPerDevice series; its existing series and other devices keep flowing.
func TestPerDeviceSeriesLimit(t *testing.T) {
	now := time.Now()
	s := openRealStack(t, t.TempDir(), PipelineConfig{MaxSeriesPerDevice: 10}, tsdb.Config{})
	for i := range 25 {
		s.publish(t, "city/d1/siteA/leaky", fmt.Sprintf(`{"temperature":%d,"reading_%d":1}`, i, i), now.Add(time.Duration(i)*time.Millisecond))
	}
	// temperature plus reading_0..reading_8 fill the 10 series; reading_9..reading_24 are refused.
	assert.Equal(t, 16.0, s.rejected(t, ReasonSeriesLimit))
	assert.Len(t, s.points(t, "temperature", "leaky"), 25, "the existing series keeps flowing")
	assert.Len(t, s.points(t, "reading_3", "leaky"), 1)
	assert.Empty(t, s.points(t, "reading_20", "leaky"))
	if dead := s.p.Rejected(); assert.NotEmpty(t, dead) {
		assert.Equal(t, ReasonSeriesLimit, dead[0].Reason)
		assert.Contains(t, dead[0].Error, "max_series_per_device")
	}
	devs := s.p.Devices()
	require.Len(t, devs, 1)
	assert.Equal(t, uint64(16), devs[0].Errors)

	s.publish(t, "city/d1/siteA/fine", `{"temperature":20,"humidity":40}`, now)
	assert.Len(t, s.points(t, "temperature", "fine"), 1, "other devices are not limited by the leaky one")
	assert.Len(t, s.points(t, "humidity", "fine"), 1)
}

// TestHeadSeriesLimitThroughPipeline: past the store's head series limit new series are refused with reason
// series_limit while existing series keep flowing.
func TestHeadSeriesLimitThroughPipeline(t *testing.T) {
	now := time.Now()
	s := openRealStack(t, t.TempDir(), PipelineConfig{}, tsdb.Config{MaxHeadSeries: 4})
	s.publish(t, "city/d1/siteA/a", `{"temperature":20,"humidity":40}`, now)
	s.publish(t, "city/d1/siteA/b", `{"temperature":21,"humidity":41}`, now)
	s.publish(t, "city/d1/siteA/c", `{"temperature":22}`, now)
	assert.Equal(t, 1.0, s.rejected(t, ReasonSeriesLimit))
	assert.Empty(t, s.points(t, "temperature", "c"))
	if dead := s.p.Rejected(); assert.NotEmpty(t, dead) {
		assert.Contains(t, dead[0].Error, "max_head_series")
	}
	s.publish(t, "city/d1/siteA/a", `{"temperature":23,"humidity":42}`, now.Add(time.Second))
	assert.Len(t, s.points(t, "temperature", "a"), 2, "existing series keep flowing")
	assert.Len(t, s.points(t, "humidity", "a"), 2)
}

// TestSeriesSetIsBoundedAndForgets: the per-device tracking holds at most the limit and forgets idle series.
func TestSeriesSetIsBoundedAndForgets(t *testing.T) {
	var s seriesSet
	now := t0
	s.maybeRotate(now)
	for h := range uint64(100) {
		s.admit(h, -1, 10)
	}
	assert.Equal(t, 10, s.len())
	assert.True(t, s.admit(3, -1, 10), "known series stay admitted")
	assert.False(t, s.admit(50, -1, 10))
	now = now.Add(seriesGeneration)
	s.maybeRotate(now)
	assert.True(t, s.admit(3, -1, 10), "a series seen in the previous generation is kept")
	assert.False(t, s.admit(51, -1, 10))
	now = now.Add(seriesGeneration)
	s.maybeRotate(now)
	assert.True(t, s.admit(51, -1, 10), "series idle for two generations no longer count")
	assert.LessOrEqual(t, s.len(), 10)
}

// TestArrivalStampsBoundedLead: stamps of one topic increase by a millisecond per reading within one millisecond
// of arrival, never run further than maxLead ahead, and do not hold back a quiet topic.
func TestArrivalStampsBoundedLead(t *testing.T) {
	a := newArrivalStamps()
	const recv = int64(1_000_000)
	for i := range int64(6) {
		got, ok := a.stamp("city/d/s/busy", recv, 5*time.Millisecond)
		require.True(t, ok)
		assert.Equal(t, recv+i, got)
	}
	_, ok := a.stamp("city/d/s/busy", recv, 5*time.Millisecond)
	assert.False(t, ok, "a seventh reading in one millisecond would be more than 5ms ahead")
	got, ok := a.stamp("city/d/s/busy", recv+10, 5*time.Millisecond)
	assert.True(t, ok)
	assert.Equal(t, recv+10, got, "once time catches up, stamps are the arrival time again")
	got, ok = a.stamp("city/d/s/quiet", recv, 5*time.Millisecond)
	assert.True(t, ok)
	assert.LessOrEqual(t, got, recv+1)
}

// TestArrivalStampsAfterClockStepBack: after the receive clock steps back by more than the allowed lead (an NTP
// correction), readings without a time are stamped with their arrival time again, not refused until the wall
// clock catches up.
func TestArrivalStampsAfterClockStepBack(t *testing.T) {
	a := newArrivalStamps()
	const lead = 10 * time.Minute
	recv := int64(1_000_000_000)
	for range 3 {
		_, ok := a.stamp("city/d/s/w", recv, lead)
		require.True(t, ok)
	}
	back := recv - (15 * time.Minute).Milliseconds()
	got, ok := a.stamp("city/d/s/w", back, lead)
	require.True(t, ok, "a clock that stepped back 15m is not a flood")
	assert.Equal(t, back, got)
	got, ok = a.stamp("city/d/s/w", back, lead)
	require.True(t, ok)
	assert.Equal(t, back+1, got, "stamps increase again from the new arrival time")
}

// TestBurstBeyondSkewIsCounted: readings without a time that would need stamps beyond max_future_skew are a
// counted ts_future rejection, not a silent drop.
func TestBurstBeyondSkewIsCounted(t *testing.T) {
	now := time.Now()
	s := openRealStack(t, t.TempDir(), PipelineConfig{MaxFutureSkew: 10 * time.Millisecond}, tsdb.Config{})
	for i := range 15 {
		s.publish(t, "city/d1/siteA/flood", fmt.Sprintf(`{"heart_rate":%d}`, i), now)
	}
	assert.Len(t, s.points(t, "heart_rate", "flood"), 11)
	assert.Equal(t, 4.0, s.rejected(t, ReasonTSFuture))
	if dead := s.p.Rejected(); assert.NotEmpty(t, dead) {
		assert.Contains(t, dead[0].Error, "faster than one a millisecond")
	}
}
