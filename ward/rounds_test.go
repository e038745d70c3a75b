package ward

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"citywatch/config"
)

var berlin = mustLoc("Europe/Berlin")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// round0800 is the 08:00 round of 2026-12-07 in Berlin (07:00 UTC).
var round0800 = time.Date(2026, 12, 7, 8, 0, 0, 0, berlin)

var decideRoundCases = []struct {
	name     string
	now      time.Time
	readings []Reading
	want     string
	value    float64
	manual   bool
	febrile  bool
}{
	{name: "no reading before close is pending", now: round0800.Add(10 * time.Minute), want: RoundPending},
	{name: "no reading after close is missing", now: round0800.Add(30 * time.Minute), want: RoundMissing},
	{name: "reading outside the window does not count", now: round0800.Add(time.Hour),
		readings: []Reading{{Time: round0800.Add(-31 * time.Minute), Value: 36.6}}, want: RoundMissing},
	{name: "nearest wearable reading wins", now: round0800.Add(time.Hour),
		readings: []Reading{{Time: round0800.Add(-20 * time.Minute), Value: 36.1}, {Time: round0800.Add(2 * time.Minute), Value: 36.7},
			{Time: round0800.Add(25 * time.Minute), Value: 38.4}}, want: RoundDone, value: 36.7},
	{name: "febrile at the threshold", now: round0800.Add(time.Hour),
		readings: []Reading{{Time: round0800, Value: 38.0}}, want: RoundDone, value: 38.0, febrile: true},
	{name: "manual reading within the window counts", now: round0800.Add(time.Hour),
		readings: []Reading{{Time: round0800.Add(5 * time.Minute), Value: 36.9, Manual: true}}, want: RoundDone, value: 36.9, manual: true},
	{name: "late manual entry for this round counts", now: round0800.Add(3 * time.Hour),
		readings: []Reading{{Time: round0800.Add(2 * time.Hour), Value: 37.1, Manual: true, Round: round0800}}, want: RoundDone, value: 37.1, manual: true},
	{name: "manual entry for another round does not count", now: round0800.Add(3 * time.Hour),
		readings: []Reading{{Time: round0800.Add(5 * time.Minute), Value: 37.1, Manual: true, Round: round0800.Add(-12 * time.Hour)}}, want: RoundMissing},
}

func TestDecideRound(t *testing.T) {
	for _, tc := range decideRoundCases {
		t.Run(tc.name, func(t *testing.T) {
			got := DecideRound(round0800, 30*time.Minute, tc.now, tc.readings, 38.0)
			assert.Equal(t, tc.want, got.State)
			assert.Equal(t, tc.febrile, got.Febrile)
			if tc.want == RoundDone {
				assert.Equal(t, tc.value, got.Reading.Value)
				assert.Equal(t, tc.manual, got.Reading.Manual)
			} else {
				assert.Nil(t, got.Reading)
			}
		})
	}
}

var lastClosedCases = []struct {
	name string
	now  time.Time
	want time.Time
}{
	{"before the morning round closes: last evening's", time.Date(2026, 12, 7, 8, 29, 0, 0, berlin), time.Date(2026, 12, 6, 20, 0, 0, 0, berlin)},
	{"when the morning round closes", time.Date(2026, 12, 7, 8, 30, 0, 0, berlin), round0800},
	{"late evening", time.Date(2026, 12, 7, 23, 0, 0, 0, berlin), time.Date(2026, 12, 7, 20, 0, 0, 0, berlin)},
	// 07:45 UTC is 08:45 in Berlin: the zone decides, not UTC.
	{"in the site's zone", time.Date(2026, 12, 7, 7, 45, 0, 0, time.UTC), round0800},
	// The spring DST change: 08:00 local is still 08:00 local.
	{"DST day", time.Date(2026, 3, 29, 9, 0, 0, 0, berlin), time.Date(2026, 3, 29, 8, 0, 0, 0, berlin)},
}

func TestLastClosed(t *testing.T) {
	sc := SiteConfig{Site: "a", Location: berlin}
	for _, tc := range lastClosedCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := sc.LastClosed(tc.now)
			assert.True(t, ok)
			assert.True(t, tc.want.Equal(got), "got %s, want %s", got, tc.want)
		})
	}
}

func TestNight(t *testing.T) {
	sc := SiteConfig{Site: "a", Location: berlin}
	for _, tc := range []struct {
		hhmm  string
		night bool
	}{{"21:59", false}, {"22:00", true}, {"02:00", true}, {"05:59", true}, {"06:00", false}, {"12:00", false}} {
		d, err := config.ParseClock(tc.hhmm)
		assert.NoError(t, err)
		at := time.Date(2026, 12, 7, 0, 0, 0, 0, berlin).Add(d)
		assert.Equal(t, tc.night, sc.Night(at), tc.hhmm)
	}
	day := SiteConfig{Site: "a", NightFrom: time.Hour, NightTo: 5 * time.Hour}
	assert.True(t, day.Night(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)))
	assert.False(t, day.Night(time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)))
}
