package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"citywatch/alerts"
	"citywatch/cameras"
	"citywatch/config"
	"citywatch/dashboards"
	"citywatch/dashboards/promapi"
	"citywatch/ingest"
	"citywatch/store/remotequery"
)

// newRemoteQuery builds the client of storage.query: a centre's engine.
func newRemoteQuery(q config.StorageQueryConfig) (*remotequery.Client, error) {
	tlsCfg, err := clientTLS(q.TLS)
	if err != nil {
		return nil, fmt.Errorf("storage.query.%w", err)
	}
	c, err := remotequery.New(remotequery.ConfigFromConfig(q, tlsCfg))
	if err != nil {
		return nil, fmt.Errorf("storage.query: %w", err)
	}
	return c, nil
}

// centreListings answers /api/cameras and /api/devices on a centre, which has no cameras or sensors of its
// own: from the camera and device metrics the edges forward (camera_up, device_last_seen_seconds), labelled
// with the edge that sent them. The dashboards filter the lists by the requester's sites as usual.
type centreListings struct {
	q       *remotequery.Client
	edges   map[string]string
	timeout time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	lastErr string // logged once per new error, not once per request

	// The lists are kept for listingsTTL: every open dashboard asks for them, and each costs the engine six
	// queries.
	cams listing[cameras.Status]
	devs listing[ingest.Device]
}

// listing is one list a centre keeps for listingsTTL.
type listing[T any] struct {
	mu   sync.Mutex
	list []T
	at   time.Time
}

// get returns the kept list, or fill's (kept from now on) when there is none or it is older than listingsTTL.
func (l *listing[T]) get(fill func() []T) []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.list == nil || time.Since(l.at) > listingsTTL {
		l.list, l.at = fill(), time.Now()
	}
	return l.list
}

// listingsTTL is how long a centre reuses its camera and device lists.
const listingsTTL = 5 * time.Second

// edgeLabel is the label the edges' remote write adds (storage.remote_write, edge.name).
const edgeLabel = "edge"

func (c *centreListings) query(expr string) (map[string]map[string]string, map[string]float64) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	v, err := c.q.Query(ctx, expr, time.Now())
	c.mu.Lock()
	if msg := errString(err); msg != c.lastErr {
		c.lastErr = msg
		if err != nil {
			c.log.Warn("camera and device listings cannot query the engine; they list nothing until it answers", "err", err)
		} else {
			c.log.Info("camera and device listings query the engine again")
		}
	}
	c.mu.Unlock()
	if err != nil {
		return nil, nil
	}
	lbls, vals := map[string]map[string]string{}, map[string]float64{}
	for _, s := range v {
		m := s.Metric.Map()
		delete(m, "__name__")
		k := m[edgeLabel] + "\x00" + m["site"] + "\x00" + m["camera"] + "\x00" + m["device"]
		lbls[k], vals[k] = m, s.F
	}
	return lbls, vals
}

// Cameras lists every camera the edges report, by edge, site and camera id.
func (c *centreListings) Cameras() []cameras.Status {
	return c.cams.get(c.queryCameras)
}

func (c *centreListings) queryCameras() []cameras.Status {
	up, upV := c.query(`last_over_time(camera_up[15m])`)
	_, fps := c.query(`last_over_time(camera_fps[15m])`)
	_, bps := c.query(`last_over_time(camera_bitrate_bps[15m])`)
	_, age := c.query(`last_over_time(camera_last_frame_age_seconds[15m])`)
	_, loss := c.query(`last_over_time(camera_packet_loss_ratio[15m])`)
	_, seen := c.query(`timestamp(last_over_time(camera_up[15m]))`)
	out := make([]cameras.Status, 0, len(up))
	for k, m := range up {
		st := cameras.Status{ID: m["camera"], Name: m["camera"], Site: m["site"], Labels: map[string]string{},
			FPS: fps[k], BitrateBps: bps[k], PacketLossRatio: loss[k],
			LastFrameAge: time.Duration(age[k] * float64(time.Second))}
		for l, v := range m {
			if l != "camera" && l != "site" {
				st.Labels[l] = v
			}
		}
		if link := c.liveURL(m[edgeLabel], st.ID); link != "" {
			st.Labels["live_url"] = link
		}
		st.State, st.Reason = cameras.StateOffline, "the edge reports the camera down (camera_up 0)"
		if upV[k] == 1 {
			st.State, st.Reason = cameras.StateOnline, "the edge reports the camera up (camera_up 1)"
		}
		if t := seen[k]; t > 0 && time.Since(time.Unix(int64(t), 0)) > 2*time.Minute {
			st.State, st.Reason = cameras.StateStalled, "no camera metrics from the edge for over 2 minutes"
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b cameras.Status) int {
		return strings.Compare(a.Labels[edgeLabel]+"/"+a.Site+"/"+a.ID, b.Labels[edgeLabel]+"/"+b.Site+"/"+b.ID)
	})
	return out
}

// liveURL links to the camera's page at its edge (storage.query.edges): live video stays at the edges.
func (c *centreListings) liveURL(edge, camera string) string {
	base := c.edges[edge]
	if base == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + "/#/camera/" + url.PathEscape(camera)
}

// centreCameraKey names a camera of the listing unambiguously: "edge/site/camera", as device ids, because camera
// ids are only unique within an edge's configuration and two edges or sites may both have a "cam1". Without
// an edge label it is "site/camera".
func centreCameraKey(st cameras.Status) string {
	if e := st.Labels[edgeLabel]; e != "" {
		return e + "/" + st.Site + "/" + st.ID
	}
	return st.Site + "/" + st.ID
}

// Camera is the camera of the listing with this key ("edge/site/camera", centreCameraKey), or with this
// camera id if only one edge and site has it. An id several have names none of them: answering the first
// would show another edge's or site's camera under the link.
func (c *centreListings) Camera(id string) (cameras.Status, error) {
	var found []cameras.Status
	for _, st := range c.Cameras() {
		if centreCameraKey(st) == id {
			return st, nil
		}
		if st.ID == id {
			found = append(found, st)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	return cameras.Status{}, cameras.ErrCameraNotFound
}

// Devices lists every device the edges report through device_last_seen_seconds.
func (c *centreListings) Devices() []ingest.Device {
	return c.devs.get(c.queryDevices)
}

func (c *centreListings) queryDevices() []ingest.Device {
	lbls, ago := c.query(`last_over_time(device_last_seen_seconds[15m])`)
	_, at := c.query(`timestamp(last_over_time(device_last_seen_seconds[15m]))`)
	out := make([]ingest.Device, 0, len(lbls))
	for k, m := range lbls {
		id := m["device"]
		if e := m[edgeLabel]; e != "" {
			id = e + "/" + m["site"] + "/" + id
		}
		seen := time.Unix(int64(at[k]), 0).Add(-time.Duration(ago[k] * float64(time.Second)))
		out = append(out, ingest.Device{ID: id, Labels: m, LastSeen: seen})
	}
	slices.SortFunc(out, func(a, b ingest.Device) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Rejected is empty on a centre: rejected messages stay in the dead-letter list of the edge that got them.
func (*centreListings) Rejected() []ingest.Rejected { return nil }

// newQueryAPI builds the Prometheus API over the embedded TSDB (scoped below the engine), or on a centre over
// the remote engine (scoped by rewriting each query).
func (a *App) newQueryAPI() (*promapi.API, error) {
	opts := queryOptions(a.cfg.HTTP.Query, a.queryClient, a.log, a.reg)
	a.promStatus(&opts)
	if !a.cfg.Storage.Query.Enabled() {
		return promapi.New(a.db, opts) // promapi scopes it to each request's sites
	}
	var err error
	if a.remote, err = newRemoteQuery(a.cfg.Storage.Query); err != nil {
		return nil, err
	}
	a.log.Info("centre: queries, rules and listings read the remote query API", "component", "centre", "url", a.remote.URL())
	return promapi.NewRemote(a.remote, opts) // promapi scopes it to each request's principal
}

// ruleQuery is what rules are evaluated on: the remote engine on a centre, else nil (the embedded TSDB's
// engine, which alerts builds).
func (a *App) ruleQuery() alerts.QueryFunc {
	if a.remote == nil {
		return nil
	}
	return a.remote.Query
}

// ingestInfo answers /api/devices: the pipeline's registry, or on a centre the edges' forwarded devices.
func (a *App) ingestInfo() dashboards.IngestInfo {
	if a.remote != nil {
		return a.centreListings()
	}
	return a.pipeline
}

func (a *App) centreListings() *centreListings {
	if a.listings == nil {
		a.listings = &centreListings{q: a.remote, edges: a.cfg.Storage.Query.Edges, timeout: a.cfg.Storage.Query.Timeout.Std(),
			log: a.log.With("component", "centre")}
	}
	return a.listings
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// centreChecks add the remote engine to /readyz on a centre, degraded only: a centre whose engine is down
// still serves its UI, alert history and notifications, and says why its charts are empty.
func (a *App) centreChecks() []dashboards.Check {
	if a.remote == nil {
		return nil
	}
	return []dashboards.Check{{Name: "query_engine", Degraded: true, Err: dashboards.Cached(readyProbeEvery, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), readyProbeTimeout)
		defer cancel()
		_, err := a.remote.Query(ctx, "1", time.Now())
		return err
	})}}
}
