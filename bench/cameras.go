package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
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

	"citywatch/cameras"
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
	switch role {
	case "monitor":
		cfgs := make([]cameras.CameraConfig, n)
		for i := range cfgs {
			cfgs[i] = cameras.CameraConfig{ID: "cam" + strconv.Itoa(i+1), Site: "s1", URL: base + "/cam" + strconv.Itoa(i+1),
				Transport: cameras.TransportTCP}
		}
		var mu sync.Mutex
		wasOnline := map[string]bool{}
		falseOff := 0
		m, err := cameras.New(cameras.Config{Cameras: cfgs}, cameras.Deps{Appender: &discardAppender{}, Logger: quiet,
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
	c0, f0, t0 := cpuTime(), frames(), time.Now()
	time.Sleep(window)
	wall := time.Since(t0)
	rep.CPUCores = float64(cpuTime()-c0) / float64(wall)
	rep.FramesPerSec = float64(frames()-f0) / wall.Seconds() / float64(n)
	rep.RSSDelta = rssBytes() - rss0
	rep.Online, rep.MinFPS, rep.FalseOffline = finish()
	return rep, nil
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

// runMeasuringChild runs this program as a child with the given role and returns its report.
func runMeasuringChild(role, base string, n int, warmup, window time.Duration) (childReport, error) {
	var rep childReport
	exe, err := os.Executable()
	if err != nil {
		return rep, err
	}
	cmd := exec.Command(exe, "-child", role, "-child-url", base, "-child-n", strconv.Itoa(n),
		"-child-warmup", warmup.String(), "-child-window", window.String())
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

func startCameraSim(n int) (*camerasim.Server, string, error) {
	sim, err := camerasim.New(camerasim.Config{Listen: "127.0.0.1:0", Cameras: n}, quiet)
	if err != nil {
		return nil, "", err
	}
	if err := sim.Start(); err != nil {
		return nil, "", err
	}
	return sim, "rtsp://" + sim.Addr(), nil
}

type cameraCost struct {
	n                    int
	monitor, bare        childReport
	maxN                 int
	tried                []string
	stallP50, stallP99   time.Duration
	discP50, discP99     time.Duration
	detectN              int
	stallTimeout, checkI time.Duration
}

// cameraBench measures per-camera CPU and RSS of the monitor against the bare reader at n cameras, searches
// the largest camera count (doubling from searchFrom up to searchMax) the monitor keeps in real time with no
// false offline, and the stall and disconnect detection latency across detectN cameras.
func cameraBench(n, searchFrom, searchMax, detectN int, warmup, window time.Duration) (cameraCost, error) {
	res := cameraCost{n: n, detectN: detectN}
	sim, base, err := startCameraSim(max(n, searchMax))
	if err != nil {
		return res, err
	}
	if res.monitor, err = runMeasuringChild("monitor", base, n, warmup, window); err != nil {
		sim.Close()
		return res, err
	}
	if res.bare, err = runMeasuringChild("bare", base, n, warmup, window); err != nil {
		sim.Close()
		return res, err
	}
	for k := searchFrom; ; k = min(k*2, searchMax) {
		rep, err := runMeasuringChild("monitor", base, k, warmup, window)
		if err != nil {
			sim.Close()
			return res, err
		}
		ok := rep.Online == k && rep.FalseOffline == 0 && rep.MinFPS >= 0.9*camerasim.FPS
		res.tried = append(res.tried, fmt.Sprintf("%d:%s", k, map[bool]string{true: "ok", false: fmt.Sprintf("fail(online %d, false offline %d, min fps %.1f)", rep.Online, rep.FalseOffline, rep.MinFPS)}[ok]))
		fmt.Fprintf(os.Stderr, "    %d cameras: online %d, false offline %d, min fps %.1f, cpu %.2f cores\n", k, rep.Online, rep.FalseOffline, rep.MinFPS, rep.CPUCores)
		if !ok {
			break
		}
		res.maxN = k
		if k >= searchMax {
			break
		}
	}
	sim.Close()

	sim, base, err = startCameraSim(detectN)
	if err != nil {
		return res, err
	}
	defer sim.Close()
	if err := detection(sim, base, &res); err != nil {
		return res, err
	}
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
