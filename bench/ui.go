package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"citywatch/app"
	"citywatch/cameras"
	"citywatch/sim/camerasim"
)

// uiSite is the site every simulated device and camera of the UI group belongs to.
const uiSite = "bench"

// uiConfig runs the app at its defaults (the live bus batches once a second); a rule that never fires keeps
// the alert manager evaluating as it would in production. The SSE row opens 100 streams with one login from
// one address, so the per-principal stream cap (8 by default) and the per-address connection cap (64 by
// default), guards against one user or host exhausting the server, are raised.
const uiConfig = `data_dir: %[1]s
http:
  listen: %[2]s
  limits:
    max_connections: 2048
    max_connections_per_address: 2048
    max_event_streams: 1000
    max_event_streams_per_principal: 1000
broker:
  listen: %[3]s
  allow_anonymous: true
alerts:
  rule_files: [rules.yaml]
notify:
  mqtt:
    enabled: false
map:
  tile_url: ""
`

const uiRules = "groups:\n  - name: bench\n    rules:\n      - alert: Hot\n        expr: temperature > 1000\n"

// uiEnv is a running citywatch with devices publishing and cameras streaming, as the SSE and page rows see it.
type uiEnv struct {
	r        *runningApp
	sim      *camerasim.Server
	user     string
	password string
	devices  int
	cams     int

	pubStop context.CancelFunc
	pubDone chan error
	pubSent atomic.Int64
}

// startUIEnv starts camerasim with cams cameras, the app monitoring them at uiSite, and a publisher that sends
// every one of devices a 5-field JSON reading once a second over MQTT QoS 0 to the embedded broker. It returns
// once every device is listed by /api/devices and every camera is online.
//
// ffmpeg is hidden from PATH while the app starts, so the analyzer runs no decoder per camera: the figures are
// the live path's, not 50 ffmpeg processes' on a shared 2-core machine.
func startUIEnv(devices, cams int) (*uiEnv, error) {
	e := &uiEnv{devices: devices, cams: cams}
	var camCfgs []cameras.CameraConfig
	if cams > 0 {
		sim, _, err := startCameraSim(cams)
		if err != nil {
			return nil, err
		}
		e.sim = sim
		for i := 1; i <= cams; i++ {
			camCfgs = append(camCfgs, cameras.CameraConfig{ID: "cam" + strconv.Itoa(i), Site: uiSite, URL: sim.URL(i),
				Transport: cameras.TransportTCP})
		}
	}
	empty, err := os.MkdirTemp("", "citywatch-bench-nopath-")
	if err != nil {
		e.close()
		return nil, err
	}
	defer os.RemoveAll(empty)
	oldPath := os.Getenv("PATH")
	os.Setenv("PATH", empty)
	r, err := startAppWith(uiConfig, uiRules, app.Options{Cameras: camCfgs,
		OnInitialAdmin: func(u, p string) { e.user, e.password = u, p }})
	os.Setenv("PATH", oldPath)
	if err != nil {
		e.close()
		return nil, err
	}
	e.r = r
	if e.user == "" {
		e.close()
		return nil, fmt.Errorf("the app created no initial admin")
	}
	if err := e.startPublisher(); err != nil {
		e.close()
		return nil, err
	}
	if err := e.waitPopulated(90 * time.Second); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// startPublisher sends each device one reading per second, a tenth of the devices every 100 ms.
func (e *uiEnv) startPublisher() error {
	pub, err := dialRaw(e.r.mqtt, "bench-ui-pub", true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.pubStop, e.pubDone = cancel, make(chan error, 1)
	go func() {
		defer pub.close()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for tick := 0; ; tick++ {
			select {
			case <-ctx.Done():
				e.pubDone <- nil
				return
			case <-t.C:
			}
			for d := tick % 10; d < e.devices; d += 10 {
				topic := "city/d1/" + uiSite + "/dev" + strconv.Itoa(d)
				payload := fmt.Appendf(nil, `{"temperature":%.1f,"humidity":%d,"co2":%d,"battery":3.71,"rssi":-67}`,
					20+float64((tick+d)%50)/10, 40+(tick+d)%20, 600+(tick*7+d)%300)
				if err := pub.writePublish(topic, payload, 0, 0); err != nil {
					e.pubDone <- err
					return
				}
				e.pubSent.Add(1)
			}
			if err := pub.w.Flush(); err != nil {
				e.pubDone <- err
				return
			}
		}
	}()
	return nil
}

func (e *uiEnv) waitPopulated(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var devs struct {
			Devices []struct{} `json:"devices"`
		}
		var cams struct {
			Cameras []struct {
				State string `json:"state"`
			} `json:"cameras"`
		}
		_, derr := e.r.getJSON("/api/devices", &devs)
		online := 0
		if e.cams > 0 {
			if _, err := e.r.getJSON("/api/cameras", &cams); err == nil {
				for _, c := range cams.Cameras {
					if c.State == "online" {
						online++
					}
				}
			}
		}
		if derr == nil && len(devs.Devices) >= e.devices && online >= e.cams {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %d of %d devices listed (%v), %d of %d cameras online", within,
				len(devs.Devices), e.devices, derr, online, e.cams)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (e *uiEnv) close() {
	if e.pubStop != nil {
		e.pubStop()
		<-e.pubDone
	}
	if e.r != nil {
		e.r.stop()
	}
	if e.sim != nil {
		e.sim.Close()
	}
}

// sseResult is what the SSE clients saw in one window.
type sseResult struct {
	events, bytes, batches int64
	byKind                 map[string]int64
	clients                int
	window                 time.Duration
	cpu                    float64 // cores used by the whole bench process during the window
	published              float64 // device messages/s published during the window
	recorded               [][]byte
}

// sseClients opens n streams on url (with the bench's admin token when auth is set), lets them run warmup,
// then counts for window what arrives: events (by kind), data bytes and batches (a gap of 250 ms or more
// between events starts a new batch; the bus sends one batch per second). When record is set, client 0 keeps
// the raw bytes of every batch for the baseline to replay.
func sseClients(url string, n int, auth bool, warmup, window time.Duration, record bool, published func() int64) (sseResult, error) {
	res := sseResult{clients: n, window: window, byKind: map[string]int64{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var measuring atomic.Bool
	var mu sync.Mutex
	var wg sync.WaitGroup
	connected := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
			if err != nil {
				connected <- err
				return
			}
			if auth {
				req.Header.Set("Authorization", "Bearer "+benchToken)
			}
			resp, err := client.Do(req)
			if err != nil {
				connected <- err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				connected <- fmt.Errorf("GET %s: %s", url, resp.Status)
				return
			}
			connected <- nil
			var events, nbytes, batches int64
			kinds := map[string]int64{}
			var last time.Time
			var cur []byte
			curOn := false // cur began inside the window: only whole batches are recorded
			var rec [][]byte
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			ping := false // inside a keep-alive ping event: not a batch, not counted
			for sc.Scan() {
				line := sc.Bytes()
				on := measuring.Load()
				if ping || bytes.Equal(line, []byte("event: ping")) {
					ping = len(line) > 0
					continue
				}
				if kind, ok := bytes.CutPrefix(line, []byte("event: ")); ok {
					now := time.Now()
					if now.Sub(last) >= 250*time.Millisecond {
						if on {
							batches++
						}
						if record && i == 0 && on && curOn && len(cur) > 0 {
							rec = append(rec, cur)
						}
						cur, curOn = nil, on
					}
					last = now
					if on {
						events++
						kinds[string(kind)]++
					}
				} else if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok && on {
					nbytes += int64(len(data))
				}
				if record && i == 0 && on && len(line) > 0 && line[0] != ':' {
					cur = append(cur, line...)
					cur = append(cur, '\n')
					if bytes.HasPrefix(line, []byte("data: ")) {
						cur = append(cur, '\n')
					}
				}
				if ctx.Err() != nil {
					break
				}
			}
			mu.Lock()
			res.events += events
			res.bytes += nbytes
			res.batches += batches
			for k, v := range kinds {
				res.byKind[k] += v
			}
			if len(rec) > 0 {
				res.recorded = rec
			}
			mu.Unlock()
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-connected; err != nil {
			cancel()
			wg.Wait()
			return res, err
		}
	}
	time.Sleep(warmup)
	p0, c0 := published(), cpuTime()
	measuring.Store(true)
	time.Sleep(window)
	measuring.Store(false)
	p1, c1 := published(), cpuTime()
	cancel()
	wg.Wait()
	res.cpu = (c1 - c0).Seconds() / window.Seconds()
	res.published = float64(p1-p0) / window.Seconds()
	if res.events == 0 {
		return res, fmt.Errorf("no events reached %d clients in %s", n, window)
	}
	return res, nil
}

// replaySSE is the baseline: a bare net/http SSE handler that writes, once a second, the next batch recorded
// from citywatch's stream to every client and flushes, with no bus, no subscription and no JSON encoding.
func replaySSE(batches [][]byte) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_, _ = w.Write([]byte("retry: 3000\n: connected\n\n"))
		_ = rc.Flush()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for k := 0; ; k++ {
			select {
			case <-r.Context().Done():
				return
			case <-t.C:
			}
			if _, err := w.Write(batches[k%len(batches)]); err != nil || rc.Flush() != nil {
				return
			}
		}
	}))
}

// cpuWhile returns the cores the bench process used during window.
func cpuWhile(window time.Duration) float64 {
	c0 := cpuTime()
	time.Sleep(window)
	return (cpuTime() - c0).Seconds() / window.Seconds()
}

// sseFanout is what measureSSE saw: the CPU floor and both sets of clients.
type sseFanout struct {
	floor          float64
	cw, bare       sseResult
	recordedEvents int
}

// measureSSE measures /api/events with clients streams while the env's devices and cameras publish: the
// process CPU with no stream open (ingest, cameras, alerting: the floor, over two thirds of window), with the
// clients on citywatch's stream, and with the same clients on replaySSE of what client 0 recorded.
func measureSSE(e *uiEnv, clients int, window time.Duration) (sseFanout, error) {
	var f sseFanout
	f.floor = cpuWhile(window * 2 / 3)
	var err error
	f.cw, err = sseClients(e.r.base+"/api/events", clients, true, 3*time.Second, window, true, e.pubSent.Load)
	if err != nil {
		return f, fmt.Errorf("citywatch /api/events: %w", err)
	}
	if len(f.cw.recorded) == 0 {
		return f, fmt.Errorf("client 0 recorded no batch")
	}
	for _, b := range f.cw.recorded {
		f.recordedEvents += bytes.Count(b, []byte("\nevent: ")) + 1
	}
	srv := replaySSE(f.cw.recorded)
	defer srv.Close()
	f.bare, err = sseClients(srv.URL, clients, false, 2*time.Second, window, false, e.pubSent.Load)
	if err != nil {
		return f, fmt.Errorf("baseline SSE: %w", err)
	}
	return f, nil
}
