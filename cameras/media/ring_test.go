package media

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"citywatch/cameras"
)

// ringFrame is one access unit in a ring test: k marks a keyframe, size its payload bytes.
type ringFrame struct {
	k       bool
	size    int
	session uint64
}

// gopFrames returns n GOPs of frames each: a keyframe of keySize then P-frames of pSize.
func gopFrames(n, frames, keySize, pSize int) []ringFrame {
	var out []ringFrame
	for range n {
		out = append(out, ringFrame{k: true, size: keySize, session: 1})
		for range frames - 1 {
			out = append(out, ringFrame{size: pSize, session: 1})
		}
	}
	return out
}

var ringCases = []struct {
	name     string
	seconds  float64
	maxBytes int64
	frames   []ringFrame // 10 fps
	// wantStarts are the frame indexes whose keyframes start the buffered GOPs.
	wantStarts  []int
	wantEvicted uint64
	wantSkipped uint64
}{
	{name: "empty until keyframe", seconds: 10, maxBytes: 1 << 20,
		frames:     []ringFrame{{size: 10, session: 1}, {size: 10, session: 1}, {k: true, size: 10, session: 1}},
		wantStarts: []int{2}, wantSkipped: 2},
	{name: "within bounds keeps all", seconds: 10, maxBytes: 1 << 20, frames: gopFrames(3, 10, 1000, 100),
		wantStarts: []int{0, 10, 20}},
	{name: "time bound evicts whole gops", seconds: 2, maxBytes: 1 << 20, frames: gopFrames(5, 10, 1000, 100),
		// span from GOP 2 (1.0 s..) to the last frame (4.9 s) is 2.9 s > 2; from GOP 3 it is 1.9 s.
		wantStarts: []int{30, 40}, wantEvicted: 3},
	{name: "byte bound evicts oldest", seconds: 100, maxBytes: 3 * (1000 + 9*100 + 10*(auOverhead+24)),
		frames: gopFrames(6, 10, 1000, 100), wantStarts: []int{30, 40, 50}, wantEvicted: 3},
	{name: "oversized gop discarded until next keyframe", seconds: 100, maxBytes: 2000,
		frames:     append(gopFrames(1, 3, 5000, 10), gopFrames(1, 3, 100, 10)...),
		wantStarts: []int{3}, wantSkipped: 2},
	{name: "session change resets", seconds: 100, maxBytes: 1 << 20,
		frames: append(gopFrames(2, 5, 100, 10), ringFrame{k: true, size: 100, session: 2},
			ringFrame{size: 10, session: 2}),
		wantStarts: []int{10}},
}

func TestRingBoundsAndGOPAlignment(t *testing.T) {
	for _, tc := range ringCases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(tc.seconds, tc.maxBytes)
			var pts []int64
			for i, f := range tc.frames {
				p := int64(i) * 9000
				pts = append(pts, p)
				r.push(cameras.AccessUnit{NALUs: [][]byte{make([]byte, f.size)}, Keyframe: f.k, PTS: p,
					Session: f.session, Time: epoch.Add(time.Duration(i) * 100 * time.Millisecond)})
				assert.LessOrEqual(t, r.bytes, tc.maxBytes, "frame %d", i)
				if len(r.gops) > 0 {
					assert.True(t, r.gops[0].aus[0].Keyframe, "frame %d: ring must start at a keyframe", i)
				}
			}
			var want []int64
			for _, i := range tc.wantStarts {
				want = append(want, pts[i])
			}
			assert.Equal(t, want, nilIfEmpty(r.gopStarts()))
			assert.Equal(t, tc.wantEvicted, r.evicted, "evicted")
			assert.Equal(t, tc.wantSkipped, r.skipped, "skipped")
			var sum int64
			for _, g := range r.gops {
				for _, au := range g.aus {
					sum += auBytes(au)
				}
			}
			assert.Equal(t, sum, r.bytes, "accounted bytes")
		})
	}
}

func nilIfEmpty(s []int64) []int64 {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestRingSince(t *testing.T) {
	r := newRing(100, 1<<20)
	for i, f := range gopFrames(4, 10, 100, 10) {
		r.push(cameras.AccessUnit{NALUs: [][]byte{make([]byte, f.size)}, Keyframe: f.k, PTS: int64(i) * 9000,
			Session: 1, Time: epoch.Add(time.Duration(i) * 100 * time.Millisecond)})
	}
	cases := []struct {
		at        time.Duration
		wantFirst time.Duration
	}{
		{-time.Second, 0}, {0, 0}, {1500 * time.Millisecond, time.Second}, {2 * time.Second, 2 * time.Second},
		{10 * time.Second, 3 * time.Second},
	}
	for _, c := range cases {
		aus := r.since(epoch.Add(c.at))
		if assert.NotEmpty(t, aus) {
			assert.True(t, aus[0].Keyframe)
			assert.Equal(t, epoch.Add(c.wantFirst), aus[0].Time, "since %v", c.at)
			assert.Equal(t, epoch.Add(3900*time.Millisecond), aus[len(aus)-1].Time)
		}
	}
}
