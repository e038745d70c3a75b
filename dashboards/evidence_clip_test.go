package dashboards

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"citywatch/cameras/media"
)

// alertClipCases: an alert on the camera timeline carries the finished clip recorded nearest its start, within
// alertClipWindow either side; a clip still recording has no still yet and is passed over.
var alertClipCases = []struct {
	name  string
	clips []media.Clip
	at    time.Time
	want  string
}{
	{"no clips", nil, evT0, ""},
	{"the nearest of two", []media.Clip{{ID: "a", EventTime: evT0.Add(-90 * time.Second)}, {ID: "b", EventTime: evT0.Add(30 * time.Second)}}, evT0, "b"},
	{"at the window's edge", []media.Clip{{ID: "a", EventTime: evT0.Add(alertClipWindow)}}, evT0, "a"},
	{"beyond the window", []media.Clip{{ID: "a", EventTime: evT0.Add(alertClipWindow + time.Second)}, {ID: "b", EventTime: evT0.Add(-alertClipWindow - time.Second)}}, evT0, ""},
	{"still recording", []media.Clip{{ID: "a", EventTime: evT0, Recording: true}, {ID: "b", EventTime: evT0.Add(time.Minute)}}, evT0, "b"},
	{"a tie goes to the earlier", []media.Clip{{ID: "late", EventTime: evT0.Add(time.Minute)}, {ID: "early", EventTime: evT0.Add(-time.Minute)}}, evT0, "early"},
}

func TestAlertClip(t *testing.T) {
	for _, tc := range alertClipCases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, alertClip(tc.clips, tc.at))
		})
	}
}
