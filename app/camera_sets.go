package app

import (
	"fmt"

	"citywatch/cameras"
	"citywatch/cameras/analyze"
	"citywatch/cameras/media"
	"citywatch/config"
)

// cameraSets converts the configured cameras, then those of Options (the demo's: analysis and media know only
// their id and site), into the camera monitor's, the analyzer's and media's lists, in that order. New and
// Reload build the three from it.
func (a *App) cameraSets(configured []config.CameraConfig) (mons []cameras.CameraConfig, acams []analyze.CameraConfig,
	mcams []media.CameraConfig, err error) {
	n := len(configured) + len(a.opts.Cameras)
	mons, acams, mcams = make([]cameras.CameraConfig, 0, n), make([]analyze.CameraConfig, 0, n), make([]media.CameraConfig, 0, n)
	for i, c := range configured {
		ac, err := analyze.CameraFromConfig(c)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("cameras[%d].%w", i, err)
		}
		mc, err := media.CameraFromConfig(c)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("cameras[%d].%w", i, err)
		}
		mons, acams, mcams = append(mons, cameras.CameraFromConfig(c)), append(acams, ac), append(mcams, mc)
	}
	for _, c := range a.opts.Cameras {
		mons = append(mons, c)
		acams = append(acams, analyze.CameraConfig{ID: c.ID, Site: c.Site, AnalysisFPS: a.opts.CameraAnalysisFPS})
		mcams = append(mcams, media.CameraConfig{ID: c.ID, Site: c.Site})
	}
	return mons, acams, mcams, nil
}
