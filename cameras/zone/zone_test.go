package zone

import (
	"strings"
	"testing"
)

// parseCases are zones as written in cameras[].zones and the error Parse gives ("" = valid).
var parseCases = []struct {
	in, err string
}{
	{"door: 0.6,0.1 0.95,0.1 0.95,0.9 0.6,0.9", ""},
	{"all: 0,0 1,0 1,1 0,1", ""},
	{"door 0,0 1,0 1,1", `want "name: x1,y1`},
	{"door: 0.1,0.1 0.5,0.1", "must have 3..64 points, got 2"},
	{"door: 0,0 1,0 2,1", "coordinates must be in 0..1"},
	{"door: 0,0 0.001,0 0,0.001", "area must be at least"},
	{"bad name!: 0,0 1,0 1,1", "name: must be 1-32 characters"},
	{"door: 0,0 x,0 1,1", "point 1: x:"},
	{"door: 0,0 NaN,0 1,1", "coordinates must be in 0..1"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		_, err := Parse(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("Parse(%q): %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.in, err, tc.err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		z, err := Parse(s)
		if err == nil {
			if verr := z.Validate(); verr != nil {
				t.Errorf("Parse(%q) returned an invalid zone: %v", s, verr)
			}
		}
	})
}
