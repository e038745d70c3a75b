package influx

import (
	"reflect"
	"testing"

	"citywatch/store"
	"citywatch/store/forward"
)

// TestStaticTagsIncludeConfiguredTags: storage.influx.tags (Config.Tags) are written on every sample next to
// edge and site, and edge/site come from the edge identity.
func TestStaticTagsIncludeConfiguredTags(t *testing.T) {
	t.Parallel()
	c := Config{Settings: forward.Settings{Edge: "e1"}, Site: "hq", Tags: map[string]string{"city": "hanoi", "edge": "ignored"}}
	want := map[string]string{"city": "hanoi", "edge": "e1", "site": "hq"}
	if got := c.staticTags(); !reflect.DeepEqual(got, want) {
		t.Errorf("staticTags = %v, want %v", got, want)
	}
	line, _, err := newEncoder(sortedTags(c.staticTags()), precisions["s"]).encode(nil,
		&store.Sample{Name: "m", Labels: []store.Label{{Name: "city", Value: "hue"}}, T: 1700000000000, V: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := "m,city=hanoi,edge=e1,exported_city=hue,site=hq value=1 1700000000\n"; string(line) != want {
		t.Errorf("line %q, want %q", line, want)
	}
}
