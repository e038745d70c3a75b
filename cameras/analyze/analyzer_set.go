package analyze

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"citywatch/internal/reconcile"
)

// cameraSet is the analysed cameras at one moment, in configuration order. SetCameras replaces it whole;
// OnAccessUnit and Status load it without a lock.
type cameraSet = reconcile.Set[*camera]

func (a *Analyzer) camera(id string) *camera { return a.set.Load().ByID[id] }

// plan builds the set for cfgs (defaults applied), reusing the cameras of cur whose configuration is
// unchanged; stale are cur's cameras the new set drops.
func (a *Analyzer) plan(cur *cameraSet, cfgs []CameraConfig) (*cameraSet, []*camera) {
	next, stale, _ := reconcile.Plan(cur, cfgs, func(c CameraConfig) string { return c.ID },
		func(c *camera, cc CameraConfig) bool { return reflect.DeepEqual(c.cfg, cc) },
		func(cc CameraConfig) (*camera, error) { return newCamera(a, cc), nil })
	return next, stale
}

// startCamera starts c's decoder worker under its own context. Callers hold a.mu.
func (a *Analyzer) startCamera(c *camera) { c.worker.Start(a.ctx, &a.wg, c.run) }

// SetCameras changes the analysed cameras to cfgs, as a configuration reload does: an unchanged camera keeps
// its decoder and its motion and tamper state; a removed one's decoder stops before SetCameras returns; an
// added or changed one starts afresh. On a validation error nothing changes.
func (a *Analyzer) SetCameras(cfgs []CameraConfig) error {
	next := a.cfg
	next.Cameras = slices.Clone(cfgs)
	next.SetDefaults()
	if err := next.Validate(); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed.Load() {
		return errors.New("analyze: SetCameras after Close")
	}
	set, stale := a.plan(a.set.Load(), next.Cameras)
	a.set.Store(set)
	for _, c := range stale {
		c.worker.Stop()
	}
	a.cfg.Cameras = next.Cameras
	if !a.started || !a.available {
		return nil
	}
	for _, c := range set.List {
		if !c.worker.Started() {
			a.startCamera(c)
		}
	}
	return nil
}
