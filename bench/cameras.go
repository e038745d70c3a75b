package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"citywatch/cameras"
	"citywatch/cameras/analyze"
	"citywatch/cameras/media"
	"citywatch/config"
	"citywatch/sim/camerasim"
	"citywatch/store"
)

// The camera measurements run the monitor (and the bare reader baseline) in a child process of this program,
// so its CPU time and RSS are its own and not the simulator's, which stays in the parent.

// childReport is what a measuring child prints as one JSON line.
type childReport struct {
	CPUCores     float64 `json:"cpu_cores"`      // CPU time / wall time over the window
	RSSDelta     int64   `json:"rss_delta"`      // RSS at the end minus RSS before the cameras started
	FramesPerSec float64 `json:"frames_per_sec"` // per camera, over the window
	MinFPS       float64 `json:"min_fps"`        // the slowest camera (monitor: its measured FPS)
	FalseOffline int     `json:"false_offline"`  // changes away from online after the first online (monitor)
	Online       int     `json:"online"`         // cameras online at the end (monitor) or streaming (bare)
	ChildCores   float64 `json:"child_cores"`    // CPU of this child's own children (the ffmpeg decoders) / wall
	AnalysedFPS  float64 `json:"analysed_fps"`   // analyze: the slowest camera's analysed frames per second
	Analysing    int     `json:"analysing"`      // analyze: cameras whose decoder produced frames in the window
	RingBytes    float64 `json:"ring_bytes"`     // sinks: the media ring's memory per camera at the end (its own accounting)
	Err          string  `json:"err,omitempty"`
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardAppender takes camera samples and drops them (the TSDB is not what this measures).
type discardAppender struct{ n atomic.Int64 }

func (d *discardAppender) Append(_ context.Context, s []store.Sample) error {
	d.n.Add(int64(len(s)))
	return nil
}

// runChild is the child side: role "monitor" or "bare", n cameras at base/cam1..camN.
func runChild(role, baseURL string, n int, warmup, window time.Duration) {
	rep, err := child(role, baseURL, n, warmup, window)
	if err != nil {
		rep.Err = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(rep)
}

func child(role, base string, n int, warmup, window time.Duration) (childReport, error) {
	var rep childReport
	heapInuse()
	rss0 := rssBytes()
	var frames func() int64
	mark := func() {}
	var finish func() (online int, minFPS float64, falseOffline int)
	var an *analyze.Analyzer
	var ringReg *prometheus.Registry // sinks: the media metrics, for the ring's memory
	switch role {
	case "monitor", "analyze", "sinks":
		cfgs := make([]cameras.CameraConfig, n)
		for i := range cfgs {
			cfgs[i] = cameras.CameraConfig{ID: "cam" + strconv.Itoa(i+1), Site: "s1", URL: base + "/cam" + strconv.Itoa(i+1),
				Transport: cameras.TransportTCP}
		}
		var mu sync.Mutex
		wasOnline := map[string]bool{}
		falseOff := 0
		var sink cameras.AccessUnitSink
		if role == "analyze" || role == "sinks" {
			acams := make([]analyze.CameraConfig, n)
			for i := range acams {
				acams[i] = analyze.CameraConfig{ID: cfgs[i].ID, Site: "s1"} // default analysis fps
			}
			var err error
			if an, err = analyze.New(analyze.Config{Cameras: acams}, analyze.Deps{Appender: &discardAppender{}, Logger: quiet}); err != nil {
				return rep, err
			}
			if err := an.Start(); err != nil {
				return rep, err
			}
			defer an.Close()
			sink = an
		}
		if role == "sinks" {
			// What `citywatch serve` runs for every camera: analysis at the default fps and the media ring
			// (media's defaults as configured: ring_seconds 30 s, at most 32 MiB per camera).
			dir, err := os.MkdirTemp("", "citywatch-bench-media-")
			if err != nil {
				return rep, err
			}
			defer os.RemoveAll(dir)
			mc := config.Default().Media
			mcams := make([]media.CameraConfig, n)
			for i := range mcams {
				mcams[i] = media.CameraConfig{ID: cfgs[i].ID, Site: "s1"}
			}
			ringReg = prometheus.NewRegistry()
			med, err := media.New(media.Config{DataDir: dir, Cameras: mcams, RingSeconds: mc.RingSeconds.Std().Seconds(),
				Retention: mc.ClipRetention.Std(), MaxClipBytes: int64(mc.ClipMaxBytes)}, media.Deps{Logger: quiet, Registerer: ringReg})
			if err != nil {
				return rep, err
			}
			if err := med.Start(); err != nil {
				return rep, err
			}
			defer med.Close()
			sink = cameras.Sinks{an, med}
		}
		m, err := cameras.New(cameras.Config{Cameras: cfgs}, cameras.Deps{Appender: &discardAppender{}, Logger: quiet, Sink: sink,
			Events: func(ev cameras.Event) {
				mu.Lock()
				defer mu.Unlock()
				if ev.To == cameras.StateOnline {
					wasOnline[ev.CameraID] = true
				} else if wasOnline[ev.CameraID] && ev.To != cameras.StateDegraded {
					falseOff++
				}
			}})
		if err != nil {
			return rep, err
		}
		if err := m.Start(); err != nil {
			return rep, err
		}
		defer m.Close()
		frames = func() int64 { return 0 }
		finish = func() (int, float64, int) {
			online, minFPS := 0, 1e9
			for _, st := range m.Cameras() {
				if st.State == cameras.StateOnline {
					online++
				}
				minFPS = min(minFPS, st.FPS)
			}
			mu.Lock()
			defer mu.Unlock()
			return online, minFPS, falseOff
		}
	case "bare":
		counts := make([]atomic.Int64, n)
		var wg sync.WaitGroup
		ctx, cancel := context.WithCancel(context.Background())
		defer func() { cancel(); wg.Wait() }()
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					_ = bareRead(ctx, base+"/cam"+strconv.Itoa(i+1), &counts[i])
				}
			}()
		}
		frames = func() int64 {
			var s int64
			for i := range counts {
				s += counts[i].Load()
			}
			return s
		}
		var startCounts []int64
		snapshot := func() []int64 {
			out := make([]int64, n)
			for i := range counts {
				out[i] = counts[i].Load()
			}
			return out
		}
		mark = func() { startCounts = snapshot() }
		finish = func() (int, float64, int) {
			end := snapshot()
			online, minFPS := 0, 1e9
			for i := range end {
				fps := float64(end[i]-startCounts[i]) / window.Seconds()
				if fps > 0 {
					online++
				}
				minFPS = min(minFPS, fps)
			}
			return online, minFPS, 0
		}
	default:
		return rep, fmt.Errorf("unknown child role %q", role)
	}
	time.Sleep(warmup)
	mark()
	var aFrames0 []uint64
	if an != nil {
		for i := range n {
			aFrames0 = append(aFrames0, an.Status("cam"+strconv.Itoa(i+1)).Frames)
		}
	}
	k0 := childCPU()
	c0, f0, t0 := cpuTime(), frames(), time.Now()
	stopProfile := childProfile(role)
	time.Sleep(window)
	stopProfile()
	wall := time.Since(t0)
	rep.CPUCores = float64(cpuTime()-c0) / float64(wall)
	rep.ChildCores = float64(childCPU().since(k0)) / float64(wall)
	if an != nil {
		rep.AnalysedFPS = 1e9
		for i := range n {
			fps := float64(an.Status("cam"+strconv.Itoa(i+1)).Frames-aFrames0[i]) / wall.Seconds()
			if fps > 0 {
				rep.Analysing++
			}
			rep.AnalysedFPS = min(rep.AnalysedFPS, fps)
		}
	}
	rep.FramesPerSec = float64(frames()-f0) / wall.Seconds() / float64(n)
	rep.RSSDelta = rssBytes() - rss0
	rep.Online, rep.MinFPS, rep.FalseOffline = finish()
	if ringReg != nil {
		rep.RingBytes = gaugeSum(ringReg, "citywatch_media_ring_bytes") / float64(n)
	}
	return rep, nil
}

// gaugeSum is the sum of a gauge's series in reg, 0 when it has none.
func gaugeSum(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

// childProfile starts a CPU profile of the window when CITYWATCH_BENCH_CHILD_CPUPROFILE names a file prefix
// (the file is <prefix>.<role>.pprof; a later child of the same role overwrites it), and returns its stop.
func childProfile(role string) func() {
	prefix := os.Getenv("CITYWATCH_BENCH_CHILD_CPUPROFILE")
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(prefix + "." + role + ".pprof")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child profile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "child profile:", err)
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// bareRead is the baseline reader: one gortsplib client that only depacketizes H.264 into access units.
func bareRead(ctx context.Context, raw string, frames *atomic.Int64) error {
	u, err := base.ParseURL(raw)
	if err != nil {
		return err
	}
	t := gortsplib.TransportTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &t}
	if err := c.Start2(); err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()
	desc, _, err := c.Describe(u)
	if err != nil {
		time.Sleep(200 * time.Millisecond)
		return err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return fmt.Errorf("no H.264 track")
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		return err
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return err
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if au, err := dec.Decode(pkt); err == nil && len(au) > 0 {
			frames.Add(1)
		}
	})
	if _, err := c.Play(nil); err != nil {
		return err
	}
	return c.Wait()
}

// childNice is the niceness of a real-time search's child (and of its ffmpeg decoders): the simulator in this
// process stands in for cameras, which have CPUs of their own, so when the child wants more CPU than the
// machine has it is the child that falls behind, not the cameras it reads. The cost measurements (CPU time per
// camera) run at the bench's own priority.
const childNice = 5

// runMeasuringChild runs this program as a child with the given role and returns its report. nice runs it at
// childNice when `nice` is on PATH.
func runMeasuringChild(role, base string, n int, warmup, window time.Duration, nice bool) (childReport, error) {
	var rep childReport
	exe, err := os.Executable()
	if err != nil {
		return rep, err
	}
	args := []string{exe, "-child", role, "-child-url", base, "-child-n", strconv.Itoa(n),
		"-child-warmup", warmup.String(), "-child-window", window.String()}
	if path, err := exec.LookPath("nice"); err == nil && nice {
		args = append([]string{path, "-n", strconv.Itoa(childNice)}, args...) // nice execs: the pid stays the child's
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return rep, fmt.Errorf("%s child: %w", role, err)
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return rep, fmt.Errorf("%s child output %q: %w", role, out, err)
	}
	if rep.Err != "" {
		return rep, fmt.Errorf("%s child: %s", role, rep.Err)
	}
	return rep, nil
}

// streamClip is the clip the simulator serves for the camera measurements; nil is its embedded 640x360 12 fps
// clip.
type streamClip struct {
	data          []byte
	fps           int
	width, height int
	kbps          int
}

func (c streamClip) String() string {
	if c.data == nil {
		return "640x360 12 fps H.264 (the simulator's embedded clip)"
	}
	return fmt.Sprintf("%dx%d %d fps %d kbit/s H.264", c.width, c.height, c.fps, c.kbps)
}

// cameraStream is what issue 3 specifies for the camera benchmark: 720p, 25 fps, 2 Mbit/s.
var cameraStream = streamClip{fps: 25, width: 1280, height: 720, kbps: 2000}

// genClip encodes a 4 s testsrc2 clip with ffmpeg: baseline profile, GOP 1 s, CBR-ish at c.kbps, Annex-B with
// an AUD before every access unit and SPS/PPS on every keyframe (what the simulator needs to loop it).
func genClip(c streamClip) (streamClip, error) {
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		return c, fmt.Errorf("ffmpeg is needed to encode the camera clip: %w", err)
	}
	dir, err := os.MkdirTemp("", "citywatch-bench-clip")
	if err != nil {
		return c, err
	}
	defer os.RemoveAll(dir)
	out := dir + "/clip.h264"
	rate := strconv.Itoa(c.kbps) + "k"
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=4", c.width, c.height, c.fps),
		"-an", "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-b:v", rate, "-maxrate", rate, "-bufsize", rate,
		"-g", strconv.Itoa(c.fps), "-keyint_min", strconv.Itoa(c.fps), "-sc_threshold", "0", "-bf", "0",
		"-x264-params", "repeat-headers=1:aud=1:nal-hrd=cbr", "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return c, fmt.Errorf("ffmpeg: %w: %s", err, b)
	}
	if c.data, err = os.ReadFile(out); err != nil {
		return c, err
	}
	c.kbps = len(c.data) * 8 / 4 / 1000 // what was actually encoded
	return c, nil
}

// startCameraSim starts n simulated cameras of the embedded clip (the UI measurements use it).
func startCameraSim(n int) (*camerasim.Server, string, error) { return startClipSim(n, streamClip{}) }

// startClipSim starts n simulated cameras streaming clip.
func startClipSim(n int, clip streamClip) (*camerasim.Server, string, error) {
	sim, err := camerasim.New(camerasim.Config{Listen: "127.0.0.1:0", Cameras: n, Clip: clip.data, ClipFPS: clip.fps}, quiet)
	if err != nil {
		return nil, "", err
	}
	if err := sim.Start(); err != nil {
		return nil, "", err
	}
	return sim, "rtsp://" + sim.Addr(), nil
}

// cpuSnapshot is the CPU used by this process's children: live ones from /proc, waited-for ones from rusage.
type cpuSnapshot struct {
	live   map[int]time.Duration
	waited time.Duration
}

// childCPU snapshots the CPU time of this process's children (the analyzer's ffmpeg decoders). /proc reports
// it in clock ticks of 1/100 s (USER_HZ on Linux).
func childCPU() cpuSnapshot {
	snap := cpuSnapshot{live: map[int]time.Duration{}}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err == nil {
		snap.waited = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	self := os.Getpid()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid != self {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		snap.live[pid] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	return snap
}

// since is the children's CPU between prev and s. A child that exited in between counts in full.
func (s cpuSnapshot) since(prev cpuSnapshot) time.Duration {
	d := s.waited - prev.waited
	for pid, t := range s.live {
		d += t - prev.live[pid]
	}
	return d
}

type cameraCost struct {
	n                    int
	clip                 streamClip
	monitor, bare        childReport
	sinks                childReport // the monitor with the default sinks (analysis + media ring), as serve runs it
	sinksRT, bareRT      realtime    // the real-time searches: with the default sinks, and the bare reader
	stallP50, stallP99   time.Duration
	discP50, discP99     time.Duration
	detectN              int
	stallTimeout, checkI time.Duration
}

// cameraBench measures per-camera CPU and RSS of the monitor against the bare reader at n cameras of clip,
// searches the largest camera count (doubling from searchFrom, at most searchMax) the monitor keeps in real
// time with no false offline, and the stall and disconnect detection latency across detectN cameras of the
// simulator's embedded clip. The simulator runs in this process, on the same cores as the measured child:
// a search step also fails when the simulator itself cannot keep its frame clock.
func cameraBench(clip streamClip, n, searchFrom, searchMax, detectN int, warmup, window time.Duration) (cameraCost, error) {
	res := cameraCost{n: n, detectN: detectN, clip: clip}
	sim, base, err := startClipSim(n, clip)
	if err != nil {
		return res, err
	}
	if res.monitor, err = runMeasuringChild("monitor", base, n, warmup, window, false); err != nil {
		sim.Close()
		return res, err
	}
	if res.bare, err = runMeasuringChild("bare", base, n, warmup, window, false); err != nil {
		sim.Close()
		return res, err
	}
	if res.sinks, err = runMeasuringChild("sinks", base, n, warmup, window, false); err != nil {
		sim.Close()
		return res, err
	}
	sim.Close()
	res.sinksRT = realtimeSearch("sinks", clip, searchFrom, searchMax, warmup, window)
	res.bareRT = realtimeSearch("bare", clip, searchFrom, searchMax, warmup, window)
	if res.sinksRT.err != nil {
		return res, res.sinksRT.err
	}
	if res.bareRT.err != nil {
		return res, res.bareRT.err
	}

	sim, base, err = startClipSim(detectN, streamClip{})
	if err != nil {
		return res, err
	}
	defer sim.Close()
	if err := detection(sim, base, &res); err != nil {
		return res, err
	}
	return res, nil
}

type analysisCost struct {
	n             int
	clip          streamClip
	rep           childReport
	perCam        float64 // CPU s per camera-second: monitor + analyzer + ffmpeg decoders
	ours, ffmpeg  float64 // the two parts of perCam
	bareFFmpeg    float64 // CPU s per camera-second of ffmpeg alone decoding the same clip
	fit, fitBare  float64 // cores / perCam, cores / bareFFmpeg
	analysisFPS   float64
	monitorPerCam float64 // the monitor alone (health only), same clip, from cameraBench
}

// analysisBench runs n cameras of clip through cameras.Monitor with an analyze.Analyzer sink at the default
// analysis fps in a measuring child (its CPU and its ffmpeg decoders' CPU), against ffmpeg alone decoding the
// same clip (every frame, as the decoder does at the default rate), measured in this run.
func analysisBench(clip streamClip, n int, warmup, window time.Duration) (analysisCost, error) {
	var acfg analyze.CameraConfig
	acfg.SetDefaults()
	res := analysisCost{n: n, clip: clip, analysisFPS: acfg.AnalysisFPS}
	sim, base, err := startClipSim(n, clip)
	if err != nil {
		return res, err
	}
	res.rep, err = runMeasuringChild("analyze", base, n, warmup, window, false)
	sim.Close()
	if err != nil {
		return res, err
	}
	if res.rep.Analysing != n {
		return res, fmt.Errorf("only %d of %d cameras analysed frames in the window", res.rep.Analysing, n)
	}
	res.ours, res.ffmpeg = res.rep.CPUCores/float64(n), res.rep.ChildCores/float64(n)
	res.perCam = res.ours + res.ffmpeg
	cores := float64(runtime.NumCPU())
	res.fit = cores / res.perCam

	// Baseline: ffmpeg alone decodes 20 s of the same clip (concatenated: raw H.264 cannot be looped) with
	// the analyzer's decoder settings, to /dev/null.
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp("", "citywatch-bench-decode")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	const loops = 5 // × 4 s
	long := dir + "/long.h264"
	if err := os.WriteFile(long, bytes.Repeat(clip.data, loops), 0o600); err != nil {
		return res, err
	}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru0)
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-threads", "1", "-f", "h264", "-i", long, "-f", "null", "-")
	if out, err := cmd.CombinedOutput(); err != nil {
		return res, fmt.Errorf("baseline ffmpeg: %w: %s", err, out)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru1)
	d := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()) - time.Duration(ru0.Utime.Nano()+ru0.Stime.Nano())
	res.bareFFmpeg = d.Seconds() / (loops * 4)
	res.fitBare = cores / res.bareFFmpeg
	return res, nil
}

// detection injects a stall on every camera, then (after they recover) a disconnect, and measures from each
// camera's fault to its state change away from online.
func detection(sim *camerasim.Server, base string, res *cameraCost) error {
	n := res.detectN
	cfgs := make([]cameras.CameraConfig, n)
	for i := range cfgs {
		cfgs[i] = cameras.CameraConfig{ID: "cam" + strconv.Itoa(i+1), URL: base + "/cam" + strconv.Itoa(i+1), Transport: cameras.TransportTCP,
			ReconnectMin: 500 * time.Millisecond, ReconnectMax: time.Second}
	}
	var mu sync.Mutex
	faultAt := map[string]time.Time{}
	var lat []time.Duration
	cfg := cameras.Config{Cameras: cfgs}
	cfg.SetDefaults()
	res.stallTimeout, res.checkI = cfg.Cameras[0].StallTimeout, cfg.CheckInterval
	m, err := cameras.New(cfg, cameras.Deps{Logger: quiet, Events: func(ev cameras.Event) {
		if ev.To == cameras.StateOnline || ev.To == cameras.StateDegraded || ev.To == cameras.StateConnecting {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if t0, ok := faultAt[ev.CameraID]; ok {
			lat = append(lat, ev.Time.Sub(t0))
			delete(faultAt, ev.CameraID)
		}
	}})
	if err != nil {
		return err
	}
	if err := m.Start(); err != nil {
		return err
	}
	defer m.Close()
	allOnline := func() error {
		deadline := time.Now().Add(90 * time.Second)
		for {
			on := 0
			for _, st := range m.Cameras() {
				if st.State == cameras.StateOnline {
					on++
				}
			}
			if on == n {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d of %d cameras online after 90s", on, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	round := func(kind camerasim.FaultKind) ([]time.Duration, error) {
		if err := allOnline(); err != nil {
			return nil, err
		}
		time.Sleep(2 * time.Second)
		mu.Lock()
		lat = nil
		mu.Unlock()
		for i := 1; i <= n; i++ {
			mu.Lock()
			faultAt["cam"+strconv.Itoa(i)] = time.Now()
			mu.Unlock()
			if err := sim.SetFault(i, camerasim.Fault{Kind: kind}); err != nil {
				return nil, err
			}
			// Spread the faults over a second so they fall at every phase of the health check tick.
			time.Sleep(time.Second / time.Duration(n))
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			got := len(lat)
			mu.Unlock()
			if got == n {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s: %d of %d cameras detected within 60s", kind, got, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		for i := 1; i <= n; i++ {
			if err := sim.SetFault(i, camerasim.Fault{Kind: camerasim.FaultNone}); err != nil {
				return nil, err
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), lat...), nil
	}
	stall, err := round(camerasim.FaultStall)
	if err != nil {
		return err
	}
	disc, err := round(camerasim.FaultDisconnect)
	if err != nil {
		return err
	}
	res.stallP50, res.stallP99 = percentile(stall, 50), percentile(stall, 99)
	res.discP50, res.discP99 = percentile(disc, 50), percentile(disc, 99)
	return nil
}

// realtime is the outcome of a real-time search: the largest camera count a child role kept in real time.
type realtime struct {
	maxN      int
	tried     []string
	stopped   string  // why the search stopped
	simPerCam float64 // the simulator's CPU per camera (cores) at the last step tried
	ringBytes float64 // sinks: the media ring's memory per camera at maxN
	rep       childReport
	err       error
}

// realtimeSearch doubles the camera count from from (at most max) until a step fails. A step passes when every
// camera is online (bare: streaming), the slowest keeps ≥ 90% of the clip's fps, no camera left online after
// reaching it, and the simulator itself sent ≥ 90% of the clip's fps per camera (Server.FramesSent): a step
// where the simulator falls behind fails and says so, with the simulator's CPU beside the child's.
func realtimeSearch(role string, clip streamClip, from, max int, warmup, window time.Duration) realtime {
	var res realtime
	fps := float64(clip.fps)
	for k := from; ; k *= 2 {
		k = min(k, max)
		sim, base, err := startClipSim(k, clip)
		if err != nil {
			res.err = err
			return res
		}
		sent0, c0, t0 := sim.FramesSent(), cpuTime(), time.Now()
		rep, err := runMeasuringChild(role, base, k, warmup, window, true)
		simFPS := float64(sim.FramesSent()-sent0) / time.Since(t0).Seconds() / float64(k)
		simCores := float64(cpuTime()-c0) / float64(time.Since(t0))
		sim.Close()
		if err != nil {
			res.err = err
			return res
		}
		res.simPerCam = simCores / float64(k)
		var why []string
		if simFPS < 0.9*fps {
			why = append(why, fmt.Sprintf("the simulator fell behind: it sent only %.1f fps per camera", simFPS))
		}
		if rep.Online != k {
			why = append(why, fmt.Sprintf("%d of %d online", rep.Online, k))
		}
		if rep.FalseOffline > 0 {
			why = append(why, fmt.Sprintf("%d false offline", rep.FalseOffline))
		}
		if rep.MinFPS < 0.9*fps {
			why = append(why, fmt.Sprintf("slowest camera %.1f fps", rep.MinFPS))
		}
		cost := fmt.Sprintf("citywatch %.2f + ffmpeg %.2f cores; simulator %.2f cores, %.2f%% of a core per camera", rep.CPUCores, rep.ChildCores, simCores, simCores/float64(k)*100)
		if role == "bare" {
			cost = fmt.Sprintf("reader %.2f cores; simulator %.2f cores, %.2f%% of a core per camera", rep.CPUCores, simCores, simCores/float64(k)*100)
		}
		fmt.Fprintf(os.Stderr, "    %s, %d cameras: online %d, false offline %d, min fps %.1f, simulator %.1f fps/camera; %s\n",
			role, k, rep.Online, rep.FalseOffline, rep.MinFPS, simFPS, cost)
		if len(why) > 0 {
			res.tried = append(res.tried, fmt.Sprintf("%d: fail (%s; %s)", k, strings.Join(why, ", "), cost))
			res.stopped = fmt.Sprintf("stopped at %d: %s", k, strings.Join(why, ", "))
			return res
		}
		res.tried = append(res.tried, fmt.Sprintf("%d: ok (%s)", k, cost))
		res.maxN, res.ringBytes, res.rep = k, rep.RingBytes, rep
		if k >= max {
			res.stopped = fmt.Sprintf("stopped at the search cap %d", max)
			return res
		}
	}
}
