package config

import (
	"testing"
	"time"
)

func TestParseClockAndNight(t *testing.T) {
	for _, bad := range []string{"", "8:00", "24:00", "08:60", "08-00", "0800", "aa:bb"} {
		if _, err := ParseClock(bad); err == nil {
			t.Errorf("ParseClock(%q): no error", bad)
		}
	}
	if d, err := ParseClock("20:30"); err != nil || d != 20*time.Hour+30*time.Minute {
		t.Errorf("ParseClock(20:30) = %v, %v", d, err)
	}
	for _, bad := range []string{"", "22:00", "22:00-22:00", "22:00-6:00", "22:00/06:00"} {
		if _, _, err := ParseNight(bad); err == nil {
			t.Errorf("ParseNight(%q): no error", bad)
		}
	}
	if from, to, err := ParseNight("22:00-06:00"); err != nil || from != 22*time.Hour || to != 6*time.Hour {
		t.Errorf("ParseNight(22:00-06:00) = %v, %v, %v", from, to, err)
	}
}
