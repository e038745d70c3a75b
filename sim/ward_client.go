package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"citywatch/internal/clock"
)

// WardSeeder populates a running citywatch's ward over its public HTTP API (/api/ward/...) with the rooms,
// bindings and occupants of WardSeed: `citywatch simulate sensors --ward URL`. It is idempotent: rooms that exist
// (by name) are not created again, and only rooms without an active occupancy are checked in.
type WardSeeder struct {
	// Base is citywatch's HTTP base URL, e.g. "http://127.0.0.1:8080". Required.
	Base string
	// Token is the bearer token of an account with the ward permission (the admin token). Required; it is
	// never logged nor part of an error.
	Token string
	// Client sends the requests. Default: a client with a 10s timeout that follows no redirects (the token
	// never goes to another host).
	Client *http.Client
	// Clock decides the schedule set for a site without one (WardScheduleAt); nil is the real clock.
	Clock clock.Clock
}

// WardSeedResult counts what a seeding did, per the whole ward.
type WardSeedResult struct {
	RoomsCreated, RoomsExisting, CheckedIn int
	// ScheduleSet lists the sites whose rounds and night hours the seeder set (PUT /api/ward/{site}/settings,
	// WardScheduleAt in UTC): sites that neither the configuration (ward.sites[]) nor an earlier settings
	// change gave a round schedule, night hours or time zone.
	ScheduleSet []string
	// ScheduleKept lists the sites whose schedule was the operator's (configured or set over the API), left as
	// it was.
	ScheduleKept []string
	// Schedule is what ScheduleSet's sites were given.
	Schedule WardSchedule
}

// wardSettings is GET /api/ward/{site}/settings.
type wardSettings struct {
	Rounds     []string `json:"rounds"`
	Night      string   `json:"night"`
	Configured bool     `json:"configured"`
	Overrides  struct {
		TimeZone      string   `json:"time_zone"`
		Rounds        []string `json:"rounds"`
		Night         string   `json:"night"`
		RetentionDays int      `json:"retention_days"`
	} `json:"overrides"`
}

// ErrWardAPI wraps every error answer of citywatch's ward API.
var ErrWardAPI = errors.New("ward API")

type wardRosterRoom struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Occupancy *struct {
		CaseID string `json:"case_id"`
	} `json:"occupancy"`
}

type wardRoster struct {
	Rounds []string         `json:"rounds"`
	Rooms  []wardRosterRoom `json:"rooms"`
}

// Seed creates what is missing of rooms (WardSeed's, case ids only: no personal fields). It goes on after a
// failed room and returns the errors joined.
func (s WardSeeder) Seed(ctx context.Context, rooms []WardSeedRoom) (WardSeedResult, error) {
	var res WardSeedResult
	if u, err := url.Parse(s.Base); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil {
		return res, errors.New("ward URL: want an http:// or https:// base URL without credentials")
	}
	if s.Token == "" {
		return res, errors.New("ward: no token (set CITYWATCH_ADMIN_TOKEN)")
	}
	clk := clock.Or(s.Clock)
	sched := WardScheduleAt(clk.Now())
	var errs []error
	bySite := map[string][]WardSeedRoom{}
	var sites []string
	for _, r := range rooms {
		if _, ok := bySite[r.Site]; !ok {
			sites = append(sites, r.Site)
		}
		bySite[r.Site] = append(bySite[r.Site], r)
	}
	for _, site := range sites {
		path := "/api/ward/" + url.PathEscape(site)
		var roster wardRoster
		if err := s.do(ctx, http.MethodGet, path, nil, &roster); err != nil {
			errs = append(errs, err)
			continue
		}
		if set, err := s.schedule(ctx, site, sched); err != nil {
			errs = append(errs, err)
		} else if set {
			res.ScheduleSet, res.Schedule = append(res.ScheduleSet, site), sched
		} else {
			res.ScheduleKept = append(res.ScheduleKept, site)
		}
		have := map[string]wardRosterRoom{}
		for _, r := range roster.Rooms {
			have[r.Name] = r
		}
		for _, r := range bySite[site] {
			room, ok := have[r.Name]
			if ok {
				res.RoomsExisting++
			} else {
				body := map[string]any{"name": r.Name, "floor": r.Floor, "bindings": map[string]any{
					"wearables": r.Wearables, "sensors": r.Sensors, "camera": r.Camera, "zone": r.Zone}}
				if err := s.do(ctx, http.MethodPost, path+"/rooms", body, &room); err != nil {
					errs = append(errs, fmt.Errorf("room %s: %w", r.Name, err))
					continue
				}
				res.RoomsCreated++
			}
			if r.CaseID == "" || room.Occupancy != nil {
				continue
			}
			if err := s.do(ctx, http.MethodPost, path+"/checkin", map[string]any{"room_id": room.ID, "case_id": r.CaseID,
				"start": clk.Now().Add(-WardStayBefore).UTC().Format(time.RFC3339)}, nil); err != nil {
				errs = append(errs, fmt.Errorf("check-in %s in room %s: %w", r.CaseID, r.Name, err))
				continue
			}
			res.CheckedIn++
		}
	}
	return res, errors.Join(errs...)
}

// schedule gives site sched's time zone, rounds and night hours unless the operator gave it a schedule: in
// the configuration (ward.sites[]) or over the API (a time zone, rounds or night hours). It keeps an API
// retention setting. set reports whether it changed anything.
func (s WardSeeder) schedule(ctx context.Context, site string, sched WardSchedule) (set bool, err error) {
	path := "/api/ward/" + url.PathEscape(site) + "/settings"
	var cur wardSettings
	if err := s.do(ctx, http.MethodGet, path, nil, &cur); err != nil {
		return false, err
	}
	o := cur.Overrides
	if cur.Configured || o.TimeZone != "" || len(o.Rounds) > 0 || o.Night != "" {
		return false, nil
	}
	body := map[string]any{"time_zone": sched.TimeZone, "rounds": sched.Rounds, "night": sched.Night}
	if o.RetentionDays > 0 {
		body["retention_days"] = o.RetentionDays
	}
	if err := s.do(ctx, http.MethodPut, path, body, nil); err != nil {
		return false, fmt.Errorf("schedule of %s: %w", site, err)
	}
	return true, nil
}

// do sends one request; an answer other than 2xx is an ErrWardAPI error naming method, path, status and the
// API's error message.
func (s WardSeeder) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(s.Base, "/")+path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(data))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return fmt.Errorf("%w: %s %s: %s: %s", ErrWardAPI, method, path, resp.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%w: %s %s: %s, not the expected JSON: %v", ErrWardAPI, method, path, resp.Status, err)
		}
	}
	return nil
}

// RunWardSeed seeds rooms in the background of the simulator: it retries while citywatch cannot be reached
// (it may still be starting; up to about a minute), then logs what it did or why not. Errors never stop the
// publishing.
func RunWardSeed(ctx context.Context, s WardSeeder, rooms []WardSeedRoom, logger *slog.Logger) {
	shown := ""
	if u, err := url.Parse(s.Base); err == nil {
		shown = u.Redacted()
	}
	log := logger.With("component", "sim-ward", "url", shown)
	delay := 500 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := s.Seed(ctx, rooms)
		var netErr *url.Error
		unreachable := !errors.Is(err, ErrWardAPI) && errors.As(err, &netErr) && res.RoomsCreated+res.RoomsExisting == 0
		if unreachable && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 5*time.Second)
			continue
		}
		if err != nil {
			log.Error("ward not (fully) populated; the sensors publish on", "err", err,
				"rooms_created", res.RoomsCreated, "rooms_existing", res.RoomsExisting, "checked_in", res.CheckedIn)
		} else {
			log.Info("ward populated", "rooms_created", res.RoomsCreated, "rooms_existing", res.RoomsExisting,
				"checked_in", res.CheckedIn)
		}
		for _, site := range res.ScheduleSet {
			log.Info("ward schedule set: the site had none; change it with PUT /api/ward/{site}/settings", "site", site,
				"time_zone", "UTC", "rounds", strings.Join(res.Schedule.Rounds, ","), "night", res.Schedule.Night)
		}
		for _, site := range res.ScheduleKept {
			log.Info("ward schedule kept: the site has the operator's (configuration or settings)", "site", site)
		}
		return
	}
}
