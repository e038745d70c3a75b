package cameras

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"citywatch/internal/reconcile"
)

// cameraSet is the monitor's cameras at one moment, in configuration order. SetCameras replaces it whole;
// readers (the check and metrics loops, the API) load it without a lock.
type cameraSet = reconcile.Set[*camera]

// cameras are the current cameras in configuration order.
func (m *Monitor) cameras() []*camera { return m.set.Load().List }

// plan builds the set for cfgs (defaults applied), reusing the cameras of cur whose configuration is
// unchanged; stale are cur's cameras the new set drops (removed, or changed and so replaced).
func (m *Monitor) plan(cur *cameraSet, cfgs []CameraConfig) (*cameraSet, []*camera, error) {
	return reconcile.Plan(cur, cfgs, func(c CameraConfig) string { return c.ID },
		func(c *camera, cc CameraConfig) bool { return reflect.DeepEqual(c.cfg, cc) },
		func(cc CameraConfig) (*camera, error) { return newCamera(m, cc) })
}

// startCamera starts c's worker under its own context, so SetCameras can stop it alone. Callers hold m.mu.
func (m *Monitor) startCamera(c *camera) { c.worker.Start(m.ctx, &m.wg, c.run) }

// SetCameras changes the monitored cameras to cfgs, as a configuration reload does: a camera whose
// configuration is unchanged keeps its worker, RTSP session and health; a removed one is stopped (its
// session closed) before SetCameras returns; an added or changed one starts afresh (a changed one as a new
// camera: new session, health starting over). cfgs is validated with the monitor's settings first; on an
// error nothing changes.
func (m *Monitor) SetCameras(cfgs []CameraConfig) error {
	next := m.cfg
	next.Cameras = slices.Clone(cfgs)
	next.SetDefaults()
	if err := next.Validate(); err != nil {
		return fmt.Errorf("cameras: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("cameras: SetCameras after Close")
	}
	set, stale, err := m.plan(m.set.Load(), next.Cameras)
	if err != nil {
		return err
	}
	for _, c := range stale {
		c.worker.Stop()
	}
	m.set.Store(set)
	m.cfg.Cameras = next.Cameras
	if !m.running {
		return nil
	}
	added := 0
	for _, c := range set.List {
		if !c.worker.Started() {
			m.startCamera(c)
			added++
		}
	}
	m.log.Info("cameras changed", "cameras", len(set.List), "started", added, "stopped", len(stale))
	return nil
}
