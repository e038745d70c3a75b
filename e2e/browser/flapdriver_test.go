package browser_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The demo's cameras follow a 90 s fault schedule (camerasim.DemoSchedule): a camera offline three times, which
// makes its CameraOffline alert flapping, takes three periods, and cam1's motion comes 60 s into each. A test
// that needs those runs its demo with --camera-control and drives the camera simulator itself.

// drivenCamera is the camera (simulator camera drivenCameraN) whose outages cameraDriver makes: cam4, at the
// embankment, away from the q-hotel-1 pages the other tests look at.
const (
	drivenCamera  = "cam4"
	drivenCameraN = 4
)

// cameraDriver drives a demo's camera simulator through its fault-injection API (--camera-control).
type cameraDriver struct {
	t       *testing.T
	d       *demo
	control string // host:port of the API
}

// fault sets camera n's fault; errors are t.Error (it runs outside the test goroutine).
func (c cameraDriver) fault(n int, kind, duration string) bool {
	body := fmt.Sprintf(`{"kind":%q}`, kind)
	if duration != "" {
		body = fmt.Sprintf(`{"kind":%q,"duration":%q}`, kind, duration)
	}
	resp, err := http.Post(fmt.Sprintf("http://%s/cameras/%d/fault", c.control, n), "application/json", strings.NewReader(body))
	if err != nil {
		c.t.Errorf("camera control: set camera %d to %s: %v", n, kind, err)
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		c.t.Errorf("camera control: set camera %d to %s: HTTP %d", n, kind, resp.StatusCode)
		return false
	}
	return true
}

// offlineAlert returns the firing CameraOffline alert of cam, if any, and whether it is flapping.
func (c cameraDriver) offlineAlert(cam string) (firing, flapping bool, err error) {
	var res struct {
		Alerts []struct {
			apiAlert
			Flapping bool `json:"flapping"`
		} `json:"alerts"`
	}
	if _, err := c.d.getJSON("/api/alerts?state=firing", &res); err != nil {
		return false, false, err
	}
	for _, a := range res.Alerts {
		if a.Rule == "CameraOffline" && a.Labels["camera"] == cam {
			return true, a.Flapping, nil
		}
	}
	return false, false, nil
}

// until polls cond every 250 ms until it holds; false when ctx ends or within passes (then it says so).
func (c cameraDriver) until(ctx context.Context, within time.Duration, what string, cond func() (bool, error)) bool {
	deadline := time.Now().Add(within)
	var last error
	for {
		ok, err := cond()
		if err == nil && ok {
			return true
		}
		last = err
		if time.Now().After(deadline) {
			c.t.Errorf("camera driver: %s: not within %v (last error %v)", what, within, last)
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// startFlapping starts, in a goroutine the test's cleanup stops and waits for, what the demo's schedule does
// over minutes: once cam1 and drivenCamera stream, a motion event on cam1 (for an event clip), then outages of
// drivenCamera (refused sessions) each until its CameraOffline alert fires, and back until it no longer
// fires, until the alert is flapping (the third fire within the rule's 10 minutes).
func startFlapping(t *testing.T, d *demo, control string) {
	t.Helper()
	c := cameraDriver{t: t, d: d, control: control}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if !c.until(ctx, 2*time.Minute, "cam1 and "+drivenCamera+" online", func() (bool, error) {
			var cams struct{ Cameras []apiCamera }
			if _, err := d.getJSON("/api/cameras", &cams); err != nil {
				return false, err
			}
			online := 0
			for _, cam := range cams.Cameras {
				if (cam.ID == "cam1" || cam.ID == drivenCamera) && cam.State == "online" {
					online++
				}
			}
			return online == 2, nil
		}) {
			return
		}
		c.fault(1, "motion", "8s")
		for fires := 1; ctx.Err() == nil; fires++ {
			if !c.fault(drivenCameraN, "refuse", "") {
				return
			}
			var flapping bool
			if !c.until(ctx, 2*time.Minute, fmt.Sprintf("CameraOffline of %s fires (outage %d)", drivenCamera, fires), func() (bool, error) {
				firing, f, err := c.offlineAlert(drivenCamera)
				flapping = f
				return firing, err
			}) {
				return
			}
			if !c.fault(drivenCameraN, "none", "") || flapping {
				return
			}
			if !c.until(ctx, 2*time.Minute, fmt.Sprintf("CameraOffline of %s stops firing (outage %d)", drivenCamera, fires), func() (bool, error) {
				firing, f, err := c.offlineAlert(drivenCamera)
				return !firing || f, err
			}) {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}
