package app

import (
	"net/http"

	"citywatch/config"
	"citywatch/dashboards"
	"citywatch/dashboards/auth"
	"citywatch/dashboards/siteplan"
)

// buildPlans builds the site plans on the metadata database. Markers may name only the site's own devices
// and cameras, as the registry and the camera monitor know them.
func (a *App) buildPlans() error {
	var err error
	a.plans, err = siteplan.New(siteplan.ConfigFromConfig(a.cfg), siteplan.Deps{DB: a.meta, Audit: a.audit, ClientIP: a.auth.ClientIP,
		Locate: a.locateItem, Rooms: a.planRooms, PlaceRoom: a.placeRoom, Logger: a.log, Registerer: a.reg})
	return err
}

// locateItem is the site of a device or camera, for siteplan.Deps.Locate.
func (a *App) locateItem(kind, id string) (string, bool) {
	switch kind {
	case "device":
		if info := a.ingestInfo(); info != nil {
			for _, d := range info.Devices() {
				if d.ID == id {
					return d.Labels["site"], true
				}
			}
		}
	case "camera":
		if info := a.camerasInfo(); info != nil {
			if c, err := info.Camera(id); err == nil {
				return c.Site, true
			}
		}
	}
	return "", false
}

// planRoutes are the site plans' and the map's HTTP routes for the server.
func (a *App) planRoutes() []dashboards.Route {
	if a.plans == nil {
		return nil
	}
	return serverRoutes(a.plans.Routes())
}

// serverRoutes are a component's HTTP routes, which have the fields of dashboards.Route, as the server's.
func serverRoutes[R ~struct {
	Rule    auth.RouteRule
	Handler http.Handler
}](rs []R) []dashboards.Route {
	var out []dashboards.Route
	for _, r := range rs {
		out = append(out, dashboards.Route(r))
	}
	return out
}

// planPage is what the HTTP server must allow for the plans and the map: larger uploads, the tile server.
func (a *App) planPage() dashboards.PlanPage {
	p := dashboards.PlanPage{MaxImageBytes: int64(a.cfg.Plans.MaxImageBytes)}
	if o := a.cfg.Map.TileOrigin(); o != "" {
		p.ImgSources = []string{o}
	}
	return p
}

// demoSites place the demo's simulated sites (sim.DefaultSites) in Ho Chi Minh City, for the Overview's map.
func demoSites() []config.SiteConfig {
	at := func(site, name string, lat, lon float64) config.SiteConfig {
		return config.SiteConfig{Site: site, Name: name, Lat: &lat, Lon: &lon}
	}
	return []config.SiteConfig{
		at("q-hotel-1", "Khách sạn cách ly 1", 10.7769, 106.7009),
		at("q-hotel-2", "Khách sạn cách ly 2", 10.8011, 106.7147),
		at("embankment", "Kè Bến Nghé", 10.7680, 106.7062),
		at("market-square", "Chợ Bến Thành", 10.7725, 106.6980),
	}
}
