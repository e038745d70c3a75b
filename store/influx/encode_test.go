package influx

import (
	"math"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/stretchr/testify/require"

	"citywatch/store"
)

var encodeCases = []struct {
	name   string
	static map[string]string
	prec   lineprotocol.Precision
	s      store.Sample
	want   string
	reason string
}{
	{
		name:   "labels and static tags sorted",
		static: map[string]string{"edge": "e1", "site": "s1"},
		prec:   lineprotocol.Millisecond,
		s:      store.Sample{Name: "temperature", Labels: []store.Label{{Name: "device", Value: "d42"}, {Name: "zone", Value: "z"}}, T: 1700000000123, V: 21.5},
		want:   "temperature,device=d42,edge=e1,site=s1,zone=z value=21.5 1700000000123\n",
	},
	{
		name:   "escaping of spaces, commas and equals",
		static: map[string]string{"edge": "e 1"},
		prec:   lineprotocol.Millisecond,
		s:      store.Sample{Name: "my metric,x", Labels: []store.Label{{Name: "a b", Value: "c,d=e"}}, T: 1, V: 1},
		want:   `my\ metric\,x,a\ b=c\,d\=e,edge=e\ 1 value=1 1` + "\n",
	},
	{
		name:   "conflicting label kept as exported_",
		static: map[string]string{"edge": "e1", "site": "hq"},
		prec:   lineprotocol.Second,
		s:      store.Sample{Name: "m", Labels: []store.Label{{Name: "site", Value: "siteA"}}, T: 1700000000999, V: -0.25},
		want:   "m,edge=e1,exported_site=siteA,site=hq value=-0.25 1700000000\n",
	},
	{
		name:   "equal label merged",
		static: map[string]string{"site": "hq"},
		prec:   lineprotocol.Nanosecond,
		s:      store.Sample{Name: "m", Labels: []store.Label{{Name: "site", Value: "hq"}}, T: 2, V: 3},
		want:   "m,site=hq value=3 2000000\n",
	},
	{
		name: "empty label value skipped",
		prec: lineprotocol.Millisecond,
		s:    store.Sample{Name: "m", Labels: []store.Label{{Name: "a", Value: ""}}, T: 5, V: 1e300},
		want: "m value=1e+300 5\n",
	},
	{name: "NaN", prec: lineprotocol.Millisecond, s: store.Sample{Name: "m", V: math.NaN()}, reason: reasonNonFinite},
	{name: "Inf", prec: lineprotocol.Millisecond, s: store.Sample{Name: "m", V: math.Inf(-1)}, reason: reasonNonFinite},
	{name: "empty name", prec: lineprotocol.Millisecond, s: store.Sample{Name: "", V: 1}, reason: reasonInvalid},
	{name: "control char", prec: lineprotocol.Millisecond, s: store.Sample{Name: "m", Labels: []store.Label{{Name: "a", Value: "x\ny"}}, V: 1}, reason: reasonInvalid},
	{name: "bad utf8", prec: lineprotocol.Millisecond, s: store.Sample{Name: "m\xff", V: 1}, reason: reasonInvalid},
}

func TestEncode(t *testing.T) {
	t.Parallel()
	for _, c := range encodeCases {
		t.Run(c.name, func(t *testing.T) {
			e := newEncoder(sortedTags(c.static), c.prec)
			prefix := []byte("prev\n")
			got, reason, err := e.encode(prefix, &c.s)
			if c.reason != "" {
				require.Error(t, err)
				require.Equal(t, c.reason, reason)
				require.Equal(t, "prev\n", string(got), "a refused sample leaves the buffer unchanged")
				return
			}
			require.NoError(t, err)
			require.Equal(t, "prev\n"+c.want, string(got))
		})
	}
}

var badLineCases = []struct {
	name  string
	lines []string
	msg   string
	want  []int
}{
	{
		name:  "influxdb 1.8 field type conflict",
		lines: []string{"good,edge=e value=1 1", "conflict,edge=e value=2 1", "good,edge=e value=3 2", "conflict,edge=e value=4 2"},
		msg:   `partial write: field type conflict: input field "value" on measurement "conflict" is type float, already exists as type string dropped=2`,
		want:  []int{1, 3},
	},
	{
		name:  "conflict names another type: only lines of that type",
		lines: []string{"m value=1 1", `m value="x" 2`},
		msg:   `field type conflict: input field "value" on measurement "m" is type string, already exists as type float`,
		want:  []int{1},
	},
	{
		name:  "escaped measurement",
		lines: []string{`my\ m,a=b value=1 1`, "other value=1 1"},
		msg:   `partial write: field type conflict: input field "value" on measurement "my m" is type float, already exists as type boolean dropped=1`,
		want:  []int{0},
	},
	{
		name:  "unable to parse, several",
		lines: []string{"ok value=1 1", "bad line here", `m\ x,a=3 value= 1`},
		msg:   "partial write: unable to parse 'bad line here': invalid field format\nunable to parse 'm\\ x,a=3 value= 1': missing field value dropped=0",
		want:  []int{1, 2},
	},
	{
		name:  "line numbers",
		lines: []string{"a value=1", "b value=1", "c value=1"},
		msg:   "failed to parse line protocol: errors encountered on line(s): line 2: invalid; line 3: invalid",
		want:  []int{1, 2},
	},
	{name: "line number out of range", lines: []string{"a value=1"}, msg: "line 7: bad", want: []int{}},
	{name: "unknown message", lines: []string{"a value=1"}, msg: "points beyond retention policy dropped=1", want: []int{}},
	{name: "empty", lines: nil, msg: "", want: []int{}},
}

func TestBadLines(t *testing.T) {
	t.Parallel()
	for _, c := range badLineCases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, badLines(c.lines, c.msg))
		})
	}
}

// FuzzBadLines feeds server error messages (outside input) to the parser: it must never panic and only
// return valid, increasing indexes.
func FuzzBadLines(f *testing.F) {
	for _, c := range badLineCases {
		for _, l := range c.lines {
			f.Add(l, c.msg)
		}
		f.Add("", c.msg)
	}
	f.Fuzz(func(t *testing.T, line, msg string) {
		lines := []string{line, "m value=1 1", line + "x"}
		got := badLines(lines, msg)
		for i, g := range got {
			if g < 0 || g >= len(lines) || (i > 0 && got[i-1] >= g) {
				t.Fatalf("bad indexes %v", got)
			}
		}
	})
}

// TestEncodeAllocatesNothing: encoding runs once per sample on the ingest path; with room in the buffer it
// allocates nothing, whatever the order of the labels (sorting them once allocated for every sample).
func TestEncodeAllocatesNothing(t *testing.T) {
	e := newEncoder(sortedTags(map[string]string{"edge": "e1", "site": "hq"}), lineprotocol.Millisecond)
	samples := []store.Sample{
		{Name: "temperature", Labels: []store.Label{{Name: "device", Value: "d42"}, {Name: "district", Value: "d1"}}, T: 1700000000123, V: 21.5},
		{Name: "temperature", Labels: []store.Label{{Name: "zone", Value: "z"}, {Name: "device", Value: "d42"}, {Name: "area", Value: "a"}}, T: 1700000000123, V: 21.5},
		{Name: "m", Labels: []store.Label{{Name: "site", Value: "siteA"}, {Name: "exported_site", Value: "x"}}, T: 1, V: -0.25},
	}
	buf := make([]byte, 0, 4096)
	for i := range samples {
		s := &samples[i]
		_, _, err := e.encode(buf[:0], s) // warm the encoder's own slices
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(100, func() {
			if _, _, err := e.encode(buf[:0], s); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, "allocations per encoded sample %q", s.Name)
	}
}

// FuzzEncodePlainMatchesChecked: the plain fast path writes byte for byte what line-protocol's checked encoder
// writes, and takes nothing the checked encoder would refuse. Seeded with encodeCases.
func FuzzEncodePlainMatchesChecked(f *testing.F) {
	for _, c := range encodeCases {
		var k1, v1, k2, v2 string
		if len(c.s.Labels) > 0 {
			k1, v1 = c.s.Labels[0].Name, c.s.Labels[0].Value
		}
		if len(c.s.Labels) > 1 {
			k2, v2 = c.s.Labels[1].Name, c.s.Labels[1].Value
		}
		f.Add(c.s.Name, k1, v1, k2, v2, c.s.T, c.s.V, uint8(c.prec))
	}
	f.Add("m", "site", "s1", "exported_site", "x", int64(9e12), 1.5, uint8(lineprotocol.Second))
	f.Add("m", "a", "b", "c", "d", int64(-9e12), -2.0, uint8(lineprotocol.Nanosecond))
	f.Add("m", "a", "b", "c", "d", int64(9223372036855), 3.0, uint8(lineprotocol.Millisecond))
	f.Fuzz(func(t *testing.T, name, k1, v1, k2, v2 string, ts int64, v float64, prec uint8) {
		p := lineprotocol.Precision(prec % 4)
		s := store.Sample{Name: name, Labels: []store.Label{{Name: k1, Value: v1}, {Name: k2, Value: v2}}, T: ts, V: v}
		static := sortedTags(map[string]string{"edge": "e1", "site": "s1"})
		got, _, gotErr := newEncoder(static, p).encode([]byte("prev\n"), &s)

		val, ok := lineprotocol.FloatValue(v)
		if !ok {
			require.Error(t, gotErr)
			return
		}
		checked := newEncoder(static, p)
		checked.mergeTags(s.Labels)
		want, _, wantErr := checked.encodeChecked([]byte("prev\n"), &s, val)
		if wantErr != nil {
			require.Error(t, gotErr)
			require.Equal(t, "prev\n", string(got))
			return
		}
		require.NoError(t, gotErr)
		require.Equal(t, string(want), string(got))
	})
}
