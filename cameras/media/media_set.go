package media

import (
	"reflect"

	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/gorilla/websocket"

	"citywatch/internal/reconcile"
)

// cameraSet is Media's cameras at one moment, in configuration order. SetCameras replaces it whole; the
// access-unit path and the API load it without a lock.
type cameraSet = reconcile.Set[*camera]

func (m *Media) camera(id string) *camera { return m.set.Load().ByID[id] }

func (m *Media) cameras() []*camera { return m.set.Load().List }

// closeRemovedReason is what live viewers of a camera removed by a reload are told.
const closeRemovedReason = "camera removed from the configuration"

// plan builds the set for cfgs, reusing the cameras of cur whose configuration is unchanged (their ring,
// recording and viewers go on); stale are cur's cameras the new set drops.
func (m *Media) plan(cur *cameraSet, cfgs []CameraConfig) (*cameraSet, []*camera) {
	next, stale, _ := reconcile.Plan(cur, cfgs, func(c CameraConfig) string { return c.ID },
		func(c *camera, cc CameraConfig) bool { return reflect.DeepEqual(c.cfg, cc) },
		func(cc CameraConfig) (*camera, error) {
			return &camera{
				cfg: cc, ring: newRing(m.cfg.RingSeconds, m.cfg.RingMaxBytes), viewers: map[*viewer]struct{}{},
				pre:       seconds(cc.PreSeconds, m.cfg.PreSeconds),
				post:      seconds(cc.PostSeconds, m.cfg.PostSeconds),
				ringBytes: m.met.ringBytes.WithLabelValues(cc.ID),
				evicted:   m.met.ringEvicted.WithLabelValues(cc.ID),
			}, nil
		})
	return next, stale
}

// openClips creates the camera's clip directory and loads its stored clips.
func (m *Media) openClips(id string) error {
	if err := os.MkdirAll(filepath.Join(m.clipsDir, id), 0o750); err != nil {
		return fmt.Errorf("media: clip directory: %w", err)
	}
	return m.loadClips(id)
}

// stopAll ends the camera's recording (what was recorded is written) and its live viewers.
func (c *camera) stopAll(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endRecording()
	for v := range c.viewers {
		v.kill(websocket.CloseGoingAway, reason)
	}
}

// SetCameras changes Media's cameras to cfgs, as a configuration reload does: an unchanged camera keeps its
// ring buffer, recording and live viewers; a removed one's recording is finished and its viewers are told
// why; an added or changed one starts with an empty ring. Stored clips stay on disk and are listed again
// if the camera comes back. On a validation error nothing changes.
func (m *Media) SetCameras(cfgs []CameraConfig) error {
	next := m.cfg
	next.Cameras = slices.Clone(cfgs)
	if err := next.validate(); err != nil {
		return fmt.Errorf("media config: %w", err)
	}
	m.setMu.Lock()
	defer m.setMu.Unlock()
	m.mu.Lock()
	closed, started := m.closed, m.started
	m.mu.Unlock()
	if closed {
		return errors.New("media: SetCameras after Close")
	}
	set, stale := m.plan(m.set.Load(), next.Cameras)
	var errs []error
	for _, c := range set.List {
		if m.set.Load().ByID[c.cfg.ID] == c {
			continue // unchanged
		}
		m.idxMu.Lock()
		if m.index[c.cfg.ID] == nil {
			m.index[c.cfg.ID] = map[string]Clip{}
		}
		m.idxMu.Unlock()
		if started {
			errs = append(errs, m.openClips(c.cfg.ID))
		}
	}
	m.set.Store(set)
	for _, c := range stale {
		c.stopAll(closeRemovedReason)
	}
	m.cfg.Cameras = next.Cameras
	return errors.Join(errs...)
}
