// Package siteplan serves the site plans (a floor-plan image per site with devices and cameras placed on it)
// and the city map's configuration (site coordinates and the tile URL). Plans live in the metadata database;
// every change is audited; every route names its site and is scoped to it.
package siteplan

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"citywatch/dashboards/audit"
	"citywatch/internal/clock"
	"citywatch/internal/logx"
)

// DefaultTileURL is OpenStreetMap's standard tile layer (https://operations.osmfoundation.org/policies/tiles/).
const DefaultTileURL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"

// DefaultAttribution is the attribution OpenStreetMap's tiles require.
const DefaultAttribution = "© OpenStreetMap contributors"

// Config configures the plans and the map.
type Config struct {
	// MaxImageBytes bounds an uploaded plan image. It defaults to 5 MiB.
	MaxImageBytes int64
	// MaxImageSide bounds the image's width and height in pixels. It defaults to 8192.
	MaxImageSide int
	// MaxImagePixels bounds width × height. It defaults to 32 million (a 128 MiB bitmap in the browser).
	MaxImagePixels int
	// Sites are the sites' map positions (config key sites). It defaults to none: the map shows no site.
	Sites []Location
	// TileURL is the map's tile URL template with {z}, {x} and {y}; empty shows sites on a plain background.
	// The config key map.tile_url defaults to DefaultTileURL.
	TileURL string
	// Attribution is shown on the map with the tiles. It defaults to DefaultAttribution when TileURL is
	// DefaultTileURL.
	Attribution string
}

// Location is one site on the city map.
type Location struct {
	Site string  `json:"site"`
	Name string  `json:"name,omitempty"`
	Lat  float64 `json:"lat"`
	Lon  float64 `json:"lon"`
}

func (c Config) withDefaults() Config {
	if c.MaxImageBytes <= 0 {
		c.MaxImageBytes = 5 << 20
	}
	if c.MaxImageSide <= 0 {
		c.MaxImageSide = 8192
	}
	if c.MaxImagePixels <= 0 {
		c.MaxImagePixels = 32_000_000
	}
	if c.Attribution == "" && c.TileURL == DefaultTileURL {
		c.Attribution = DefaultAttribution
	}
	return c
}

// Deps are the plans' collaborators.
type Deps struct {
	// DB is the metadata database. Required.
	DB *sql.DB
	// Audit records uploads and marker changes; nil records nothing.
	Audit *audit.Log
	// ClientIP is the request's client address for the audit record.
	ClientIP func(*http.Request) string
	// Locate returns the site of a device or camera ("device" or "camera"), so only a site's own items are
	// placed on its plan. Nil accepts any id.
	Locate func(kind, id string) (site string, ok bool)
	// Rooms returns the site's ward rooms (package ward) with their live state; those Placed are shown on the
	// plan, the others listed to be placed. Nil shows none.
	Rooms func(ctx context.Context, site string) ([]Room, error)
	// PlaceRoom sets the plan position of the ward room id of site (x and y nil: off the plan) and returns its
	// name; ok false for a room that is missing or at another site. Nil refuses rooms as markers (404).
	PlaceRoom func(ctx context.Context, site, id string, x, y *float64) (name string, ok bool, err error)
	Logger    *slog.Logger
	// Registerer receives citywatch_siteplan_* metrics.
	Registerer prometheus.Registerer
	// Clock stamps plan images and markers; nil is the real clock.
	Clock clock.Clock
}

// Plans is the site plan service.
type Plans struct {
	cfg      Config
	deps     Deps
	st       *Store
	log      *slog.Logger
	rejected *prometheus.CounterVec
}

// New builds the service and creates its tables.
func New(cfg Config, deps Deps) (*Plans, error) {
	st, err := NewStore(deps.DB, deps.Clock)
	if err != nil {
		return nil, err
	}
	p := &Plans{cfg: cfg.withDefaults(), deps: deps, st: st, log: logx.Component(deps.Logger, "siteplan")}
	p.rejected = promauto.With(deps.Registerer).NewCounterVec(prometheus.CounterOpts{
		Name: "citywatch_siteplan_uploads_rejected_total",
		Help: "Plan image uploads rejected, by reason (type, size, dimensions).",
	}, []string{"reason"})
	return p, nil
}

// Store is the plans' store (tests, fixtures).
func (p *Plans) Store() *Store { return p.st }
