package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tileURLCases are map.tile_url values and whether they load.
var tileURLCases = []struct {
	url string
	ok  bool
}{
	{"https://tile.openstreetmap.org/{z}/{x}/{y}.png", true},
	{"http://10.0.0.5:8081/tiles/{z}/{x}/{y}.png", true},
	{"", true},
	{"ftp://tiles.example/{z}/{x}/{y}.png", false},
	{"https://tiles.example/{z}/{x}.png", false},
	{"https://user:pw@tiles.example/{z}/{x}/{y}.png", false},
	{"/tiles/{z}/{x}/{y}.png", false},
	{"https://tiles.example/{z}/{x}/{y}.png?a='b'", false},
	{"https://tiles.example/{z}/{x}/{y}.png x", false},
}

func TestMapTileURL(t *testing.T) {
	for _, tc := range tileURLCases {
		cfg := Default()
		cfg.Map.TileURL = tc.url
		err := cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("tile_url %q: err %v, want ok=%v", tc.url, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "map.tile_url") {
			t.Errorf("tile_url %q: error %v does not name the key", tc.url, err)
		}
	}
	m := MapConfig{TileURL: DefaultTileURL}
	if got := m.TileOrigin(); got != "https://tile.openstreetmap.org" {
		t.Errorf("TileOrigin = %q", got)
	}
	if got := (MapConfig{}).TileOrigin(); got != "" {
		t.Errorf("TileOrigin without tiles = %q", got)
	}
}

func TestSitesLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("data_dir: /tmp/x\nsites:\n  - site: site-a\n    name: Phường 1\n    lat: 10.7769\n    lon: 106.7009\nmap:\n  tile_url: \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(p, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sites) != 1 || cfg.Sites[0].Name != "Phường 1" || *cfg.Sites[0].Lat != 10.7769 || *cfg.Sites[0].Lon != 106.7009 {
		t.Errorf("sites = %+v", cfg.Sites)
	}
	if cfg.Map.TileURL != "" || cfg.Plans.MaxImageBytes != 5<<20 {
		t.Errorf("map %+v plans %+v", cfg.Map, cfg.Plans)
	}
	if Default().Map.TileURL != DefaultTileURL {
		t.Errorf("default tile URL %q", Default().Map.TileURL)
	}
}
