package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"citywatch/cameras"
	"citywatch/cameras/media"
	"citywatch/cameras/privacymask"
)

// privacyBenchMask covers about a third of the picture, a bed and a window of a ward room.
var privacyBenchMask = privacymask.Mask{
	{{0.05, 0.3}, {0.45, 0.3}, {0.45, 0.95}, {0.05, 0.95}},
	{{0.6, 0.05}, {0.9, 0.05}, {0.9, 0.35}, {0.6, 0.35}},
}

// privacyRows measures what privacy masks cost: a masked snapshot (ffmpeg decode + repaint in Go) against an
// unmasked one, a masked event clip (published after an ffmpeg transcode with the mask) against an unmasked
// one (written as received), and the transcode's CPU per second of video, which is what a masked live view
// would cost per camera had we chosen to transcode it (we refuse it without video_unmasked instead).
func privacyRows(add func(row), skip bool) {
	if skip {
		return
	}
	clip, err := genClip(cameraStream)
	if err != nil {
		failed(add, "privacy masks", err)
		return
	}
	r, err := privacyBench(clip, 9)
	if err != nil {
		failed(add, "privacy masks", err)
		return
	}
	add(row{fmt.Sprintf("privacy-masked snapshot of a fresh %s keyframe (ffmpeg decode + repaint, median of %d)", clip, r.n),
		ms(r.snapMasked), ms(r.snapPlain) + " (the same keyframe unmasked)", ratio(r.snapMasked.Seconds(), r.snapPlain.Seconds()), "≤ +50 ms"})
	add(row{fmt.Sprintf("privacy-masked %.0f s event clip of %s: end of recording → downloadable", r.clipSeconds, clip),
		ms(r.clipMasked), ms(r.clipPlain) + " (unmasked: written as received, no transcode)", ratio(r.clipMasked.Seconds(), r.clipPlain.Seconds()), "< clip duration"})
	add(row{fmt.Sprintf("masked live view if transcoded: CPU per camera (ffmpeg overlay + libx264 veryfast, 1 thread, %s)", clip),
		fmt.Sprintf("%.2f cores", r.transcodeCores), "0 cores (chosen: refused without video_unmasked, raw for admins)", "", "not chosen"})
}

type privacyResult struct {
	n                     int
	snapPlain, snapMasked time.Duration
	clipPlain, clipMasked time.Duration
	clipSeconds           float64
	transcodeCores        float64
}

// benchStream is an Annex-B clip split into access units as the camera monitor delivers them.
type benchStream struct {
	sps, pps []byte
	aus      [][][]byte
	key      []bool
	fps      int
	w, h     int
	i        int
	start    time.Time
}

func newBenchStream(c streamClip) (*benchStream, error) {
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(c.data); err != nil {
		return nil, err
	}
	s := &benchStream{fps: c.fps, w: c.width, h: c.height, start: time.Now()}
	var cur [][]byte
	flush := func() {
		if len(cur) > 0 {
			s.aus = append(s.aus, cur)
			s.key = append(s.key, h264.IsRandomAccess(cur))
		}
		cur = nil
	}
	for _, n := range nalus {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeAccessUnitDelimiter:
			flush()
		case h264.NALUTypeSPS:
			s.sps = n
		case h264.NALUTypePPS:
			s.pps = n
		default:
			cur = append(cur, n)
		}
	}
	flush()
	if len(s.aus) == 0 || s.sps == nil || !s.key[0] {
		return nil, errors.New("privacy bench: clip has no keyframe")
	}
	return s, nil
}

// feed hands the next n access units to every camera (the same frame to each) and returns the last one's time.
func (s *benchStream) feed(m *media.Media, n int, ids ...string) time.Time {
	var at time.Time
	for range n {
		k := s.i % len(s.aus)
		at = s.start.Add(time.Duration(s.i) * time.Second / time.Duration(s.fps))
		au := cameras.AccessUnit{Codec: cameras.CodecH264, NALUs: s.aus[k], Keyframe: s.key[k], Time: at, Session: 1,
			PTS: int64(s.i) * 90000 / int64(s.fps), SPS: s.sps, PPS: s.pps, Width: s.w, Height: s.h}
		for _, id := range ids {
			m.OnAccessUnit(id, au)
		}
		s.i++
	}
	return at
}

func privacyChildCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func privacyBench(c streamClip, rounds int) (privacyResult, error) {
	r := privacyResult{n: rounds}
	s, err := newBenchStream(c)
	if err != nil {
		return r, err
	}
	dir, err := os.MkdirTemp("", "citywatch-bench-privacy")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	const pre, post = 1, 3
	m, err := media.New(media.Config{DataDir: dir, PreSeconds: pre, PostSeconds: post, Cameras: []media.CameraConfig{
		{ID: "plain", Site: "bench"}, {ID: "masked", Site: "bench", PrivacyMask: privacyBenchMask}}}, media.Deps{})
	if err != nil {
		return r, err
	}
	if err := m.Start(); err != nil {
		return r, err
	}
	defer m.Close()
	ctx := context.Background()
	snap := func(id string) (time.Duration, error) {
		t0 := time.Now()
		_, _, err := m.Snapshot(ctx, id)
		return time.Since(t0), err
	}
	var plain, masked []time.Duration
	for range rounds {
		s.feed(m, s.fps, "plain", "masked") // one GOP: a fresh keyframe, so neither snapshot is cached
		p, err := snap("plain")
		if err != nil {
			return r, err
		}
		mk, err := snap("masked")
		if err != nil {
			return r, err
		}
		plain, masked = append(plain, p), append(masked, mk)
	}
	sortDurations(plain)
	sortDurations(masked)
	r.snapPlain, r.snapMasked = plain[len(plain)/2], masked[len(masked)/2]

	clipTime := func(id string) (time.Duration, float64, time.Duration, error) {
		s.feed(m, 2*s.fps, id)
		cl, err := m.StartClip(id, "bench", s.feed(m, 1, id))
		if err != nil {
			return 0, 0, 0, err
		}
		s.feed(m, post*s.fps, id)
		cpu0 := privacyChildCPU()
		t0 := time.Now()
		s.feed(m, 1, id) // past the end: the recording ends
		for {
			got, _, err := m.Clip(id, cl.ID)
			if err == nil {
				return time.Since(t0), got.DurationSeconds, privacyChildCPU() - cpu0, nil
			}
			if time.Since(t0) > 2*time.Minute {
				return 0, 0, 0, fmt.Errorf("clip of %s never published: %w", id, err)
			}
			time.Sleep(2 * time.Millisecond) // polling a result, not waiting for time to pass
		}
	}
	if r.clipPlain, _, _, err = clipTime("plain"); err != nil {
		return r, err
	}
	var cpu time.Duration
	if r.clipMasked, r.clipSeconds, cpu, err = clipTime("masked"); err != nil {
		return r, err
	}
	if r.clipSeconds > 0 {
		r.transcodeCores = cpu.Seconds() / r.clipSeconds
	}
	return r, nil
}
