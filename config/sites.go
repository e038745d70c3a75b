package config

import (
	"net/url"
	"strings"
)

// DefaultTileURL is the city map's default tile layer, OpenStreetMap's standard tiles.
const DefaultTileURL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"

// SiteConfig places one site on the city map (the Overview's map).
type SiteConfig struct {
	// Site is the site label (as in the MQTT topics and cameras[].site). Required, unique.
	Site string `yaml:"site"`
	// Name is the site's name for people, shown on the map. It defaults to the site label.
	Name string `yaml:"name"`
	// Lat and Lon are the site's WGS 84 coordinates in degrees. Required.
	Lat *float64 `yaml:"lat"`
	Lon *float64 `yaml:"lon"`
}

// MapConfig configures the city map.
type MapConfig struct {
	// TileURL is the tile URL template with {z}, {x} and {y} (Web Mercator "slippy map" tiles, 256 px). It
	// defaults to DefaultTileURL; "" shows the sites on a plain background (no network needed). The browser
	// loads the tiles, so the server adds the URL's origin to the page's Content-Security-Policy.
	TileURL string `yaml:"tile_url"`
	// Attribution is shown with the tiles. It defaults to "© OpenStreetMap contributors" for DefaultTileURL.
	Attribution string `yaml:"attribution"`
}

// PlansConfig configures the site plans (floor-plan images with devices and cameras placed on them).
type PlansConfig struct {
	// MaxImageBytes bounds an uploaded plan image (PNG, JPEG or WebP). It defaults to 5MiB; at most 64MiB.
	MaxImageBytes ByteSize `yaml:"max_image_bytes"`
}

func defaultMap() MapConfig { return MapConfig{TileURL: DefaultTileURL} }

func defaultPlans() PlansConfig { return PlansConfig{MaxImageBytes: 5 << 20} }

// TileOrigin is the tile server's origin ("https://tile.openstreetmap.org"), "" without tiles.
func (m MapConfig) TileOrigin() string {
	u, err := url.Parse(m.TileURL)
	if m.TileURL == "" || err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func (c *Config) validateSites(v validator) {
	seen := map[string]bool{}
	for i, s := range c.Sites {
		p := indexPath("sites", i)
		v.siteKey(p+".site", s.Site, seen)
		v.text(p+".name", s.Name)
		if len(s.Name) > 128 {
			v.add(p+".name", "must be at most 128 bytes")
		}
		switch {
		case s.Lat == nil:
			v.add(p+".lat", "is required")
		case *s.Lat < -85.05 || *s.Lat > 85.05: // beyond, Web Mercator has no tile
			v.add(p+".lat", "must be between -85.05 and 85.05 (degrees); got %v", *s.Lat)
		}
		switch {
		case s.Lon == nil:
			v.add(p+".lon", "is required")
		case *s.Lon < -180 || *s.Lon > 180:
			v.add(p+".lon", "must be between -180 and 180 (degrees); got %v", *s.Lon)
		}
	}
	if t := c.Map.TileURL; t != "" {
		u, err := url.Parse(t)
		switch {
		case err == nil && u.User != nil: // the value is not echoed: it holds a password
			v.add("map.tile_url", "must not contain credentials (the browser loads the tiles, so everyone would see them)")
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			v.add("map.tile_url", "must be an http(s) URL, e.g. %q; got %s", DefaultTileURL, quote(t))
		case !strings.Contains(t, "{z}") || !strings.Contains(t, "{x}") || !strings.Contains(t, "{y}"):
			v.add("map.tile_url", "must contain {z}, {x} and {y}; got %s", quote(t))
		case strings.ContainsAny(u.Host, "'; \"") || strings.ContainsAny(t, " \"'<>\\"):
			v.add("map.tile_url", "must not contain spaces, quotes or angle brackets; got %s", quote(t))
		}
	}
	v.text("map.attribution", c.Map.Attribution)
	if len(c.Map.Attribution) > 256 {
		v.add("map.attribution", "must be at most 256 bytes")
	}
	if b := c.Plans.MaxImageBytes; b <= 0 || b > 64<<20 {
		v.add("plans.max_image_bytes", "must be > 0 and at most 64MiB; got %d", int64(b))
	}
}
