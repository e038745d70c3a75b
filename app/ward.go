package app

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"citywatch/alerts"
	"citywatch/dashboards"
	"citywatch/dashboards/siteplan"
	"citywatch/deploy/rules"
	"citywatch/ward"
)

// buildWard builds the quarantine ward on the metadata database and the embedded TSDB: it reads wearables,
// door zones and RSSI from the TSDB and publishes its series (ward_occupant_info, ...) into the same appender as
// every sample, so rules and remote write see them. It needs the alert manager (the report's alerts) and, for
// retention by purpose built over its store, the media (clips) and the audit trail.
func (a *App) buildWard() error {
	cfg, err := ward.ConfigFromConfig(a.cfg.Ward, a.cfg.Privacy)
	if err != nil {
		return err
	}
	a.ward, err = ward.New(cfg, ward.Deps{DB: a.meta, Reader: ward.QueryableReader{Q: a.db}, Appender: a.appender,
		Audit: a.audit, Alerts: a.alerts, ClientIP: a.auth.ClientIP, Logger: a.log, Registerer: a.reg})
	if err != nil {
		return err
	}
	// The ward's store is what retention by purpose purges; run (app.go) runs the engine.
	return a.buildRetention(a.ward.Store())
}

// wardRoutes are the ward's HTTP routes for the server.
func (a *App) wardRoutes() []dashboards.Route {
	if a.ward == nil {
		return nil
	}
	return serverRoutes(a.ward.Routes())
}

// runWard runs the ward engine until ctx ends; wg waits for it.
func (a *App) runWard(ctx context.Context, wg *sync.WaitGroup) {
	if a.ward != nil {
		goRun(ctx, wg, a.ward.Run)
	}
}

// Ward is the quarantine ward (tests, retention).
func (a *App) Ward() *ward.Ward { return a.ward }

// withWardRules adds the ward rule pack (deploy/rules/citywatch-ward.yaml) to list (withPack).
func withWardRules(list []alerts.Rule) ([]alerts.Rule, error) {
	return withPack(list, rules.WardName, rules.Ward)
}

// planRooms are the ward's rooms of site with their live state, for the site plan (siteplan.Deps.Rooms).
func (a *App) planRooms(ctx context.Context, site string) ([]siteplan.Room, error) {
	if a.ward == nil {
		return nil, nil
	}
	rooms, err := a.ward.PlanRooms(ctx, site)
	if err != nil {
		return nil, err
	}
	out := make([]siteplan.Room, len(rooms))
	for i, r := range rooms {
		out[i] = siteplan.Room{ID: strconv.FormatInt(r.ID, 10), Name: r.Name, State: r.State, CaseID: r.CaseID, Round: r.Round}
		if r.PlanX != nil && r.PlanY != nil {
			out[i].X, out[i].Y, out[i].Placed = *r.PlanX, *r.PlanY, true
		}
	}
	return out, nil
}

// placeRoom keeps a ward room's plan position in the ward (siteplan.Deps.PlaceRoom).
func (a *App) placeRoom(ctx context.Context, site, id string, x, y *float64) (string, bool, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if a.ward == nil || err != nil || n <= 0 {
		return "", false, nil
	}
	room, err := a.ward.Store().SetRoomPosition(ctx, site, n, x, y)
	switch {
	case errors.Is(err, ward.ErrNotFound):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return room.Name, true, nil
}
