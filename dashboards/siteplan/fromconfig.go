package siteplan

import "citywatch/config"

// ConfigFromConfig is the site plans' view of the sites, map and plans sections (validated at load): the
// sites' names and places, the map's tiles and the largest plan image. A test in app fails when a field of
// Config is reached by no key and is not listed as deliberately internal.
func ConfigFromConfig(c *config.Config) Config {
	out := Config{MaxImageBytes: int64(c.Plans.MaxImageBytes), TileURL: c.Map.TileURL, Attribution: c.Map.Attribution}
	for _, s := range c.Sites {
		l := Location{Site: s.Site, Name: s.Name}
		if s.Lat != nil && s.Lon != nil {
			l.Lat, l.Lon = *s.Lat, *s.Lon
		}
		out.Sites = append(out.Sites, l)
	}
	return out
}
