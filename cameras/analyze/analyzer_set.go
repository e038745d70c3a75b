package analyze

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// cameraSet is the analysed cameras at one moment. SetCameras replaces it whole; OnAccessUnit and Status
// load it without a lock.
type cameraSet struct {
	list []*camera // configuration order
	byID map[string]*camera
}

func (a *Analyzer) camera(id string) *camera { return a.set.Load().byID[id] }

// plan builds the set for cfgs (defaults applied), reusing the cameras of cur whose configuration is
// unchanged; stale are cur's cameras the new set drops.
func (a *Analyzer) plan(cur *cameraSet, cfgs []CameraConfig) (next *cameraSet, stale []*camera) {
	next = &cameraSet{byID: make(map[string]*camera, len(cfgs))}
	for _, cc := range cfgs {
		var c *camera
		if cur != nil {
			if old := cur.byID[cc.ID]; old != nil && reflect.DeepEqual(old.cfg, cc) {
				c = old
			}
		}
		if c == nil {
			c = newCamera(a, cc)
		}
		next.list = append(next.list, c)
		next.byID[cc.ID] = c
	}
	if cur != nil {
		for _, c := range cur.list {
			if next.byID[c.cfg.ID] != c {
				stale = append(stale, c)
			}
		}
	}
	return next, stale
}

// startCamera starts c's decoder worker under its own context. Callers hold a.mu.
func (a *Analyzer) startCamera(c *camera) {
	ctx, cancel := context.WithCancel(a.ctx)
	done := make(chan struct{})
	c.stop, c.done = cancel, done
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(done)
		c.run(ctx)
	}()
}

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
		if c.stop != nil {
			c.stop()
			<-c.done
		}
	}
	a.cfg.Cameras = next.Cameras
	if !a.started || !a.available {
		return nil
	}
	for _, c := range set.list {
		if c.stop == nil {
			a.startCamera(c)
		}
	}
	return nil
}
