package app

import (
	"context"
	"time"

	"citywatch/ingest"
)

// deviceSaveTimeout bounds the registry's last save on stop, so a hung database cannot hold the stop.
const deviceSaveTimeout = 30 * time.Second

// buildDeviceStore persists the ingest device registry in the metadata database (opened by buildAuth) and
// restores it, before any source delivers a message.
func (a *App) buildDeviceStore() error {
	s, err := ingest.NewDeviceStore(ingest.DeviceStoreFromConfig(a.cfg.Ingest),
		ingest.DeviceStoreDeps{DB: a.meta, Pipeline: a.pipeline, Logger: a.log, Registerer: a.reg})
	if err != nil {
		return err
	}
	if _, err := s.Restore(context.Background()); err != nil {
		return err
	}
	a.devices = s
	return nil
}

// runDeviceStore saves the registry's changes every ingest.device_save_interval until ctx ends.
func (a *App) runDeviceStore(ctx context.Context) {
	if a.devices != nil {
		_ = a.devices.Run(ctx)
	}
}

// saveDevices saves the registry once more on stop, after the sources have stopped (their last messages
// count) and before the metadata database closes. A failure is logged: the registry restarts from the
// previous save.
func (a *App) saveDevices() {
	if a.devices == nil || a.meta == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deviceSaveTimeout)
	defer cancel()
	if err := a.devices.Flush(ctx); err != nil {
		a.log.Warn("saving the device registry on stop failed; it restarts from the previous save",
			"component", "ingest", "err", err)
	}
}
