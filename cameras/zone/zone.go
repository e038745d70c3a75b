// Package zone parses and validates motion zones: named polygons in relative picture coordinates. It is a leaf
// (standard library only) so that configuration validation and the analyzer share one parser without config
// depending on the video pipeline.
package zone

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Default is the name of the zone covering the whole picture, used when a camera has no zones.
const Default = "all"

// Limits on zones, so label cardinality and per-frame work stay bounded.
const (
	MaxZones         = 16
	MaxPolygonPoints = 64
)

// Zone is a named region of the picture in which motion is scored.
type Zone struct {
	// Name is the "zone" label: 1–32 characters of [A-Za-z0-9_.-].
	Name string
	// Polygon lists at least 3 vertices as relative [x, y] coordinates, 0..1, origin at the top left.
	Polygon [][2]float64
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// Validate reports whether z is a usable zone: a valid name and a simple-enough polygon with a non-zero area
// inside the picture.
func (z Zone) Validate() error {
	if !nameRE.MatchString(z.Name) {
		return fmt.Errorf("name: must be 1-32 characters of [A-Za-z0-9_.-], got %q", z.Name)
	}
	if n := len(z.Polygon); n < 3 || n > MaxPolygonPoints {
		return fmt.Errorf("polygon: must have 3..%d points, got %d", MaxPolygonPoints, n)
	}
	for i, p := range z.Polygon {
		for _, v := range p {
			if math.IsNaN(v) || v < 0 || v > 1 {
				return fmt.Errorf("polygon[%d]: coordinates must be in 0..1, got [%v, %v]", i, p[0], p[1])
			}
		}
	}
	if Area(z.Polygon) < 1e-4 {
		return fmt.Errorf("polygon: area must be at least 0.0001 of the picture, got %.6f", Area(z.Polygon))
	}
	return nil
}

// Parse parses a zone written as "name: x1,y1 x2,y2 x3,y3 ..." (relative coordinates 0..1), the compact
// form used in the configuration, on the command line and in the API, and validates it.
func Parse(s string) (Zone, error) {
	name, pts, ok := strings.Cut(s, ":")
	if !ok {
		return Zone{}, errors.New(`zone: want "name: x1,y1 x2,y2 x3,y3 ..."`)
	}
	z := Zone{Name: strings.TrimSpace(name)}
	for i, f := range strings.Fields(pts) {
		if i >= MaxPolygonPoints {
			return Zone{}, fmt.Errorf("zone %q: more than %d points", z.Name, MaxPolygonPoints)
		}
		xs, ys, ok := strings.Cut(f, ",")
		if !ok {
			return Zone{}, fmt.Errorf("zone %q: point %d: want x,y, got %q", z.Name, i, f)
		}
		x, err := strconv.ParseFloat(xs, 64)
		if err != nil {
			return Zone{}, fmt.Errorf("zone %q: point %d: x: %w", z.Name, i, err)
		}
		y, err := strconv.ParseFloat(ys, 64)
		if err != nil {
			return Zone{}, fmt.Errorf("zone %q: point %d: y: %w", z.Name, i, err)
		}
		z.Polygon = append(z.Polygon, [2]float64{x, y})
	}
	if err := z.Validate(); err != nil {
		return Zone{}, fmt.Errorf("zone %q: %w", z.Name, err)
	}
	return z, nil
}

// Area returns the absolute area of poly (shoelace formula), in relative units.
func Area(poly [][2]float64) float64 {
	var a float64
	for i := range poly {
		j := (i + 1) % len(poly)
		a += poly[i][0]*poly[j][1] - poly[j][0]*poly[i][1]
	}
	return math.Abs(a) / 2
}
