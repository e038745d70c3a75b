package camerasim

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"citywatch/internal/clock"
	"citywatch/internal/testenv"
)

func TestClipsParse(t *testing.T) {
	cs, err := loadClips()
	require.NoError(t, err)
	for name, c := range map[string]*clip{"normal": cs.normal, "black": cs.black, "motion": cs.motion} {
		require.Equal(t, 640, c.width, name)
		require.Equal(t, 360, c.height, name)
		require.Len(t, c.aus, 4*FPS, name) // 4 s at FPS
		require.Equal(t, 0, c.keyframe, name)
	}
	require.Equal(t, 640, cs.h265.width)
	require.Len(t, cs.h265.aus, 2*FPS)
	require.NotNil(t, cs.h265.vps)
	_, err = parseClip([]byte("not h264"), CodecH264)
	require.Error(t, err)
}

var badConfigs = []struct {
	cfg  Config
	want string
}{
	{Config{Cameras: -1}, "cameras: must be 1..1000"},
	{Config{Cameras: MaxCameras + 1}, "cameras: must be 1..1000"},
	{Config{Password: "x"}, "password set without username"},
	{Config{Cameras: 2, Schedule: []ScheduledFault{{Camera: 3, Fault: Fault{Kind: FaultStall}}}}, "schedule[0].camera: must be 1..2"},
	{Config{Schedule: []ScheduledFault{{Camera: 1, Fault: Fault{Kind: "melt"}}}}, `unknown fault kind "melt"`},
	{Config{Schedule: []ScheduledFault{{Camera: 1, At: 5 * time.Second, Fault: Fault{Kind: FaultStall}}}, ScheduleRepeat: time.Second}, "schedule_repeat"},
	{Config{H265: []int{2}}, "h265[0]: must be 1..1"},
	{Config{MJPEG: []int{0}}, "mjpeg[0]: must be 1..1"},
	{Config{Cameras: 2, H265: []int{2}, MJPEG: []int{1, 2}}, "mjpeg[1]: camera 2 is also listed in h265"},
	{Config{ClipFPS: -1}, "clip_fps: must be 1..120"},
	{Config{ClipFPS: 121}, "clip_fps: must be 1..120"},
	{Config{Clip: []byte("not h264")}, "camerasim: clip:"},
	{Config{H265: []int{1}, Schedule: []ScheduledFault{{Camera: 1, Fault: Fault{Kind: FaultBlack}}}}, "streams H.265"},
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range badConfigs {
		_, err := New(tc.cfg, nil)
		require.ErrorContains(t, err, tc.want)
	}
}

var faultBodies = []struct {
	body string
	want Fault
	err  string
}{
	{`{"kind":"stall","duration":"10s"}`, Fault{Kind: FaultStall, Duration: 10 * time.Second}, ""},
	{`{"kind":"none"}`, Fault{Kind: FaultNone}, ""},
	{`{"kind":"garbage"}`, Fault{Kind: FaultGarbage}, ""},
	{`{"kind":"melt"}`, Fault{}, "unknown fault kind"},
	{`{"kind":"stall","duration":"soon"}`, Fault{}, "duration"},
	{`{"kind":"stall","duration":"-1s"}`, Fault{}, "duration must be >= 0"},
	{`{"kind":"motion","region":[1,2,3]}`, Fault{}, "region must be [x,y,w,h]"},
	{`{"kind":"motion","region":[1,2,3,4]}`, Fault{}, "region is not supported"},
	{`{"kind":"stall","extra":1}`, Fault{}, "unknown field"},
	{`[`, Fault{}, "invalid JSON"},
}

func TestParseFaultJSON(t *testing.T) {
	for _, tc := range faultBodies {
		f, err := parseFaultJSON([]byte(tc.body))
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.body)
			continue
		}
		require.NoError(t, err, tc.body)
		require.Equal(t, tc.want, f)
	}
}

func FuzzParseFaultJSON(f *testing.F) {
	for _, tc := range faultBodies {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fault, err := parseFaultJSON(b)
		if err == nil {
			require.NoError(t, fault.Validate())
		}
	})
}

func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	s, err := New(cfg, nil)
	require.NoError(t, err)
	require.NoError(t, s.Start())
	t.Cleanup(s.Close)
	return s
}

// reader plays one camera and records RTP timestamps.
type reader struct {
	mu  sync.Mutex
	ts  []uint32
	err error
}

func play(t *testing.T, s *Server, n int, user, pass string) (*reader, *gortsplib.Client) {
	t.Helper()
	u, err := base.ParseURL(s.URL(n))
	require.NoError(t, err)
	if user != "" {
		u, err = base.ParseURL("rtsp://" + user + ":" + pass + "@" + s.Addr() + "/cam1")
		require.NoError(t, err)
	}
	tr := gortsplib.TransportTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tr}
	require.NoError(t, c.Start2())
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		return &reader{err: err}, c
	}
	var h264 *format.H264
	medi := desc.FindFormat(&h264)
	require.NotNil(t, medi)
	_, err = c.Setup(desc.BaseURL, medi, 0, 0)
	require.NoError(t, err)
	r := &reader{}
	c.OnPacketRTP(medi, h264, func(pkt *rtp.Packet) {
		r.mu.Lock()
		if len(r.ts) == 0 || r.ts[len(r.ts)-1] != pkt.Timestamp {
			r.ts = append(r.ts, pkt.Timestamp)
		}
		r.mu.Unlock()
	})
	_, err = c.Play(nil)
	require.NoError(t, err)
	return r, c
}

func (r *reader) frames() []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint32(nil), r.ts...)
}

// TestStreamTimestampsAndStall steps the cameras on a fake clock: consecutive frames are one frame period
// apart in RTP time, and a stall of three periods sends nothing (the ticks inside it leave exactly one jump in
// the timestamps, a multiple of the period) and ends by itself when its duration has passed.
func TestStreamTimestampsAndStall(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := startServer(t, Config{Cameras: 2, Clock: clk})
	r, _ := play(t, s, 2, "", "")
	require.NoError(t, r.err)
	const period = time.Second / FPS
	const step = uint32(90000 / FPS)
	// advanceUntil moves the fake clock a frame period at a time until cond holds. A tick the camera has not
	// taken yet when the next one falls due is dropped, as with time.Ticker; timestamps count taken ticks.
	advanceUntil := func(cond func() bool) {
		t.Helper()
		require.Eventually(t, func() bool {
			if cond() {
				return true
			}
			clk.Advance(period)
			return false
		}, 10*time.Second, 2*time.Millisecond)
	}
	advanceUntil(func() bool { return len(r.frames()) >= 6 })
	ts := r.frames()
	for i := 1; i < len(ts); i++ {
		require.Equal(t, step, ts[i]-ts[i-1], "frame %d", i)
	}

	require.NoError(t, s.SetFault(2, Fault{Kind: FaultStall, Duration: 3 * period}))
	// jump is the index of the first frame after a gap; frames sent before the stall may still arrive first.
	jump := 0
	advanceUntil(func() bool {
		ts := r.frames()
		for i := 1; i < len(ts); i++ {
			if ts[i]-ts[i-1] != step {
				jump = i
				return len(ts) > i+3 // and the stream runs on after the stall
			}
		}
		return false
	})
	ts = r.frames()
	require.Greater(t, ts[jump]-ts[jump-1], step, "the ticks inside the stall sent nothing")
	require.Zero(t, (ts[jump]-ts[jump-1])%step, "timestamps jumped by whole frame periods")
	for i := 1; i < len(ts); i++ {
		if i != jump {
			require.Equal(t, step, ts[i]-ts[i-1], "frame %d: one jump only", i)
		}
	}
	require.Equal(t, FaultNone, s.Faults()[1].Kind, "the stall ended after its duration")
}

func TestAuthAndRefuse(t *testing.T) {
	s := startServer(t, Config{Cameras: 1, Username: "u", Password: "p"})
	r, _ := play(t, s, 1, "", "")
	require.ErrorContains(t, r.err, "401")
	r, _ = play(t, s, 1, "u", "wrong")
	require.ErrorContains(t, r.err, "401")
	r, _ = play(t, s, 1, "u", "p")
	require.NoError(t, r.err)
	require.Eventually(t, func() bool { return len(r.frames()) > 0 }, 10*time.Second, 10*time.Millisecond)

	require.NoError(t, s.SetFault(1, Fault{Kind: FaultRefuse, Duration: time.Hour}))
	r, _ = play(t, s, 1, "u", "p")
	require.ErrorContains(t, r.err, "503")
	require.Equal(t, FaultRefuse, s.Faults()[0].Kind)
	require.Error(t, s.SetFault(2, Fault{Kind: FaultStall}))
}

func TestTimedFaultExpires(t *testing.T) {
	s := startServer(t, Config{Cameras: 1, Schedule: []ScheduledFault{{Camera: 1, Fault: Fault{Kind: FaultBlack, Duration: 200 * time.Millisecond}}}})
	require.Eventually(t, func() bool { return s.Faults()[0].Kind == FaultBlack }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return s.Faults()[0].Kind == FaultNone }, 5*time.Second, 5*time.Millisecond)
}

func TestControlAPI(t *testing.T) {
	s := startServer(t, Config{Cameras: 2, ControlListen: "127.0.0.1:0"})
	base := "http://" + s.ControlAddr()
	for _, tc := range []struct {
		path, body string
		code       int
	}{
		{"/cameras/1/fault", `{"kind":"frozen","duration":"1m"}`, http.StatusNoContent},
		{"/cameras/2/fault", `{"kind":"bogus"}`, http.StatusBadRequest},
		{"/cameras/3/fault", `{"kind":"stall"}`, http.StatusNotFound},
		{"/cameras/x/fault", `{"kind":"stall"}`, http.StatusNotFound},
		{"/cameras/2/fault", strings.Repeat(" ", maxFaultBody+10), http.StatusRequestEntityTooLarge},
	} {
		res, err := http.Post(base+tc.path, "application/json", strings.NewReader(tc.body))
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, tc.code, res.StatusCode, tc.path+" "+tc.body)
	}
	require.Equal(t, FaultFrozen, s.Faults()[0].Kind)
	require.False(t, s.Faults()[0].Until.IsZero())
	res, err := http.Get(base + "/cameras")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
}

var faultSpecs = []struct {
	spec string
	want ScheduledFault
	err  string
}{
	{"2:stall@10s+15s", ScheduledFault{Camera: 2, At: 10 * time.Second, Fault: Fault{Kind: FaultStall, Duration: 15 * time.Second}}, ""},
	{"4:refuse", ScheduledFault{Camera: 4, Fault: Fault{Kind: FaultRefuse}}, ""},
	{"1:garbage+1m", ScheduledFault{Camera: 1, Fault: Fault{Kind: FaultGarbage, Duration: time.Minute}}, ""},
	{"stall", ScheduledFault{}, "want CAMERA:KIND"},
	{"0:stall", ScheduledFault{}, "camera must be a number"},
	{"1:", ScheduledFault{}, "missing fault kind"},
	{"1:melt", ScheduledFault{}, "unknown fault kind"},
	{"1:stall@soon", ScheduledFault{}, "at:"},
	{"1:stall@-1s", ScheduledFault{}, "at must be >= 0"},
	{"1:stall+-1s", ScheduledFault{}, "duration must be >= 0"},
}

func TestParseScheduledFault(t *testing.T) {
	for _, tc := range faultSpecs {
		got, err := ParseScheduledFault(tc.spec)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.spec)
			continue
		}
		require.NoError(t, err, tc.spec)
		require.Equal(t, tc.want, got, tc.spec)
	}
}

func FuzzParseScheduledFault(f *testing.F) {
	for _, tc := range faultSpecs {
		f.Add(tc.spec)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		sf, err := ParseScheduledFault(spec)
		if err == nil {
			require.NoError(t, sf.Fault.Validate())
			require.GreaterOrEqual(t, sf.Camera, 1)
		}
	})
}

func TestDemoScheduleIsValid(t *testing.T) {
	sched, period := DemoSchedule()
	_, err := New(Config{Cameras: 6, Schedule: sched, ScheduleRepeat: period}, nil)
	require.NoError(t, err)
	kinds := map[FaultKind]bool{}
	for _, sf := range sched {
		kinds[sf.Fault.Kind] = true
	}
	for _, k := range FaultKinds() {
		if k != FaultNone {
			require.True(t, kinds[k], "demo never shows %s", k)
		}
	}
}

// customClip encodes a small Annex-B clip the way gen-clip.sh does, at another size and rate.
func customClip(t *testing.T, w, h, fps int) []byte {
	t.Helper()
	ff := testenv.LookPath(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "clip.h264")
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=1", w, h, fps),
		"-an", "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-threads", "1",
		"-g", strconv.Itoa(fps), "-bf", "0", "-x264-params", "repeat-headers=1:aud=1",
		"-bsf:v", "h264_metadata=aud=insert", "-f", "h264", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	clip, err := os.ReadFile(out)
	require.NoError(t, err)
	return clip
}

var clipCases = []struct {
	name          string
	w, h, fps     int // 0: the embedded clip
	wantW, wantH  int
	wantFrameStep uint32
}{
	{"embedded", 0, 0, 0, 640, 360, 90000 / FPS},
	{"custom 320x240 25fps", 320, 240, 25, 320, 240, 90000 / 25},
}

func TestCustomClip(t *testing.T) {
	for _, tc := range clipCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{}
			if tc.w > 0 {
				cfg.Clip = customClip(t, tc.w, tc.h, tc.fps)
				cfg.ClipFPS = tc.fps
			}
			s := startServer(t, cfg)
			r, _ := play(t, s, 1, "", "")
			require.NoError(t, r.err)
			// The announced SPS carries the clip's resolution.
			u, err := base.ParseURL(s.URL(1))
			require.NoError(t, err)
			c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
			require.NoError(t, c.Start2())
			defer c.Close()
			desc, _, err := c.Describe(u)
			require.NoError(t, err)
			var h264f *format.H264
			require.NotNil(t, desc.FindFormat(&h264f))
			var sps h264.SPS
			require.NoError(t, sps.Unmarshal(h264f.SPS))
			require.Equal(t, tc.wantW, sps.Width())
			require.Equal(t, tc.wantH, sps.Height())
			// Frames are paced at the clip's rate.
			require.Eventually(t, func() bool { return len(r.frames()) >= 4 }, 10*time.Second, 10*time.Millisecond)
			ts := r.frames()
			require.GreaterOrEqual(t, s.FramesSent(), uint64(len(ts)))
			for i := 1; i < len(ts); i++ {
				require.Equal(t, tc.wantFrameStep, ts[i]-ts[i-1], "frame %d", i)
			}
		})
	}
}

// TestFrameClockCatchesUp: a simulator starved of CPU (its ticker fires once for many periods, dropping the
// other ticks, as time.Ticker does) still sends every frame that fell due, late, instead of losing them: a load
// generator that falls behind must not make the cameras it simulates look slow. Issue 12: the bench's
// simulator sent 13 of 25 fps per camera on a loaded machine.
func TestFrameClockCatchesUp(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := startServer(t, Config{Cameras: 1, Clock: clk})
	r, _ := play(t, s, 1, "", "")
	require.NoError(t, r.err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntil(ctx, 1))
	const period = time.Second / FPS
	clk.Advance(time.Second - period) // one delivered tick for FPS-1 periods
	clk.Advance(period)               // the last tick is taken after the clock got there
	require.Eventually(t, func() bool { return s.FramesSent() >= FPS }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, uint64(FPS), s.FramesSent(), "no frame sent twice")
	require.Eventually(t, func() bool { return len(r.frames()) == FPS }, 10*time.Second, 5*time.Millisecond)
	ts := r.frames()
	for i := 1; i < len(ts); i++ {
		require.Equal(t, uint32(90000/FPS), ts[i]-ts[i-1], "frame %d: late frames keep their own timestamps", i)
	}
}
