package analyze

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"citywatch/cameras"
	"citywatch/internal/testenv"
	"citywatch/store/storetest"
)

// cpuTime is the CPU (user+system) used by this process and by its waited-for children (the decoders).
func cpuTime() (self, children time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	children = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return self, children
}

// BenchmarkAnalyzeCPU runs `cams` cameras' worth of clip.h264 (640×360, 12 fps, 1 s GOP) through the
// Analyzer as fast as it goes and reports CPU seconds per camera-second of video, for the default 2 fps
// (every frame decoded) and for 1 fps (keyframes only), against a baseline of bare ffmpeg decoding the same
// video to /dev/null in the same run. cameras/2cores is how many such cameras two cores sustain.
func BenchmarkAnalyzeCPU(b *testing.B) {
	ffmpeg := testenv.LookPath(b, "ffmpeg")
	clip := loadClip(b, clipPath("clip.h264"), cameras.CodecH264)
	const cams, loops = 4, 15 // 4 cameras × 60 s of video each
	videoSeconds := float64(cams * loops * len(clip.AUs) / clipFPS)

	// Baseline: ffmpeg alone decodes and discards the same amount of video (the clip concatenated: raw
	// H.264 cannot be looped with -stream_loop).
	raw, err := os.ReadFile(clipPath("clip.h264"))
	if err != nil {
		b.Fatal(err)
	}
	long := filepath.Join(b.TempDir(), "long.h264")
	if err := os.WriteFile(long, bytes.Repeat(raw, loops), 0o600); err != nil {
		b.Fatal(err)
	}
	_, c0 := cpuTime()
	for range cams {
		cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-threads", "1",
			"-f", "h264", "-i", long, "-f", "null", "-")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("baseline: %v: %s", err, out)
		}
	}
	_, c1 := cpuTime()
	base := (c1 - c0).Seconds() / videoSeconds

	for _, fps := range []float64{2, 1} {
		s0, ch0 := cpuTime()
		cfgs := make([]CameraConfig, cams)
		for i := range cfgs {
			cfgs[i] = CameraConfig{ID: "cam" + string(rune('a'+i)), AnalysisFPS: fps}
		}
		a, err := New(Config{FFmpegPath: ffmpeg, Cameras: cfgs}, Deps{Appender: &storetest.Appender{}})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Start(); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, cc := range cfgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				newPlayer().play(b, a, cc.ID, clip, loops)
			}()
		}
		wg.Wait()
		var frames uint64
		for _, cc := range cfgs {
			waitUntil(b, a, cc.ID, newPlayer().start.Add(time.Duration(loops*len(clip.AUs)/clipFPS-3)*time.Second))
			frames += a.Status(cc.ID).Frames
		}
		a.Close()
		b.Logf("analysis_fps=%g: %d frames analysed", fps, frames)
		s1, ch1 := cpuTime()
		perCam := ((s1 - s0) + (ch1 - ch0)).Seconds() / videoSeconds
		b.ReportMetric(perCam, "cpu-s/cam-s")
		b.ReportMetric(2/perCam, "cameras/2cores")
		b.Logf("analysis_fps=%g: %.4f CPU s per camera-second (ours %.4f + ffmpeg %.4f); bare ffmpeg decode %.4f; ratio %.2f; %.0f cameras on 2 cores",
			fps, perCam, (s1-s0).Seconds()/videoSeconds, (ch1-ch0).Seconds()/videoSeconds, base, perCam/base, 2/perCam)
	}
}
