package siteplan

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"citywatch/internal/clock"
)

// ErrNotFound is a site without a plan image.
var ErrNotFound = errors.New("not found")

// Marker places a device or camera on a site's plan.
type Marker struct {
	// Kind is "device" or "camera".
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// X and Y are fractions of the plan's width and height, 0 to 1 from the top left corner.
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Plan is a site's plan without the image bytes.
type Plan struct {
	Site string `json:"site"`
	// Image describes the uploaded floor plan; nil when there is none yet.
	Image   *PlanImage `json:"image,omitempty"`
	Markers []Marker   `json:"markers"`
	// Rooms are the quarantine ward's rooms with a plan position and their live state; UnplacedRooms the
	// others (both from Deps.Rooms). Rooms are placed like devices and cameras (marker kind room, the ward
	// room's id), and their position is kept by the ward.
	Rooms         []Room `json:"rooms"`
	UnplacedRooms []Room `json:"unplaced_rooms"`
}

// Room is a ward room on the plan.
type Room struct {
	// ID is the ward room's id, the marker id of kind room.
	ID   string  `json:"id,omitempty"`
	Name string  `json:"name"`
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	// State is the room's live state (ward.PlanRoom: fever, missing, occupied, vacant); CaseID its active
	// occupant's case id; Round the last closed round the state speaks of.
	State  string `json:"state,omitempty"`
	CaseID string `json:"case_id,omitempty"`
	Round  string `json:"round,omitempty"`
	// Placed says the room has a position on the plan (X, Y).
	Placed bool `json:"-"`
}

// PlanImage is the stored image's description.
type PlanImage struct {
	ImageInfo
	// Version changes with every upload (a content hash), for the image URL's cache key.
	Version   string    `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

// Store keeps site plans in the metadata database. It is safe for concurrent use.
type Store struct {
	db  *sql.DB
	clk clock.Clock
}

const schema = `
CREATE TABLE IF NOT EXISTS site_plan_images (
	site         TEXT PRIMARY KEY,
	content_type TEXT NOT NULL,
	width        INTEGER NOT NULL,
	height       INTEGER NOT NULL,
	version      TEXT NOT NULL,
	image        BLOB NOT NULL,
	updated_ms   INTEGER NOT NULL,
	updated_by   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS site_plan_markers (
	site       TEXT NOT NULL,
	kind       TEXT NOT NULL,
	item       TEXT NOT NULL,
	x          REAL NOT NULL,
	y          REAL NOT NULL,
	updated_ms INTEGER NOT NULL,
	updated_by TEXT NOT NULL,
	PRIMARY KEY (site, kind, item)
);
`

// NewStore creates the plan tables in db if needed. A nil clk is the real clock.
func NewStore(db *sql.DB, clk clock.Clock) (*Store, error) {
	if db == nil {
		return nil, errors.New("siteplan: no database")
	}
	if _, err := db.Exec(schema); err != nil {
		return nil, fmt.Errorf("siteplan: create schema: %w", err)
	}
	return &Store{db: db, clk: clock.Or(clk)}, nil
}

// PutImage stores (or replaces) site's plan image; info comes from CheckImage.
func (s *Store) PutImage(ctx context.Context, site string, info ImageInfo, data []byte, by string) (PlanImage, error) {
	sum := sha256.Sum256(data)
	img := PlanImage{ImageInfo: info, Version: hex.EncodeToString(sum[:8]), UpdatedAt: s.clk.Now().UTC().Truncate(time.Millisecond), UpdatedBy: by}
	_, err := s.db.ExecContext(ctx, `INSERT INTO site_plan_images (site, content_type, width, height, version, image, updated_ms, updated_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(site) DO UPDATE SET content_type=excluded.content_type, width=excluded.width, height=excluded.height,
			version=excluded.version, image=excluded.image, updated_ms=excluded.updated_ms, updated_by=excluded.updated_by`,
		site, info.ContentType, info.Width, info.Height, img.Version, data, img.UpdatedAt.UnixMilli(), by)
	if err != nil {
		return PlanImage{}, fmt.Errorf("siteplan: store image: %w", err)
	}
	return img, nil
}

// Image returns site's plan image and its bytes; ErrNotFound when there is none.
func (s *Store) Image(ctx context.Context, site string) (PlanImage, []byte, error) {
	var img PlanImage
	var data []byte
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT content_type, width, height, version, image, updated_ms, updated_by
		FROM site_plan_images WHERE site = ?`, site).Scan(&img.ContentType, &img.Width, &img.Height, &img.Version, &data, &at, &img.UpdatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return PlanImage{}, nil, ErrNotFound
	}
	if err != nil {
		return PlanImage{}, nil, fmt.Errorf("siteplan: read image: %w", err)
	}
	img.UpdatedAt = time.UnixMilli(at).UTC()
	return img, data, nil
}

// Plan returns site's plan: the image's description (not its bytes) and the markers, ordered by kind and id.
func (s *Store) Plan(ctx context.Context, site string) (Plan, error) {
	p := Plan{Site: site, Markers: []Marker{}, Rooms: []Room{}}
	var img PlanImage
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT content_type, width, height, version, updated_ms, updated_by
		FROM site_plan_images WHERE site = ?`, site).Scan(&img.ContentType, &img.Width, &img.Height, &img.Version, &at, &img.UpdatedBy)
	switch {
	case err == nil:
		img.UpdatedAt = time.UnixMilli(at).UTC()
		p.Image = &img
	case !errors.Is(err, sql.ErrNoRows):
		return Plan{}, fmt.Errorf("siteplan: read plan: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT kind, item, x, y FROM site_plan_markers WHERE site = ? ORDER BY kind, item`, site)
	if err != nil {
		return Plan{}, fmt.Errorf("siteplan: read markers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m Marker
		if err := rows.Scan(&m.Kind, &m.ID, &m.X, &m.Y); err != nil {
			return Plan{}, fmt.Errorf("siteplan: read markers: %w", err)
		}
		p.Markers = append(p.Markers, m)
	}
	return p, wrap("read markers", rows.Err())
}

// PutMarker places (or moves) a marker on site's plan.
func (s *Store) PutMarker(ctx context.Context, site string, m Marker, by string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO site_plan_markers (site, kind, item, x, y, updated_ms, updated_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(site, kind, item) DO UPDATE SET x=excluded.x, y=excluded.y, updated_ms=excluded.updated_ms, updated_by=excluded.updated_by`,
		site, m.Kind, m.ID, m.X, m.Y, s.clk.Now().UnixMilli(), by)
	return wrap("store marker", err)
}

// DeleteMarker takes a marker off site's plan; it reports whether there was one.
func (s *Store) DeleteMarker(ctx context.Context, site, kind, id string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM site_plan_markers WHERE site = ? AND kind = ? AND item = ?`, site, kind, id)
	if err != nil {
		return false, wrap("delete marker", err)
	}
	n, err := res.RowsAffected()
	return n > 0, wrap("delete marker", err)
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("siteplan: %s: %w", op, err)
}
