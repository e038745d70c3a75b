package dashboards

import (
	"net/http"

	"citywatch/dashboards/auth"
	"citywatch/ingest"
	"citywatch/internal/jsonhttp"
)

// IngestInfo is what the REST API reads from the ingest pipeline.
type IngestInfo interface {
	Devices() []ingest.Device
	Rejected() []ingest.Rejected
}

// errorBody is the JSON shape of every REST API error (the Prometheus API keeps Prometheus' own shape).
type errorBody struct {
	Error  string `json:"error"`
	Detail any    `json:"detail,omitempty"`
}

// WriteError writes a JSON error with the given status.
func WriteError(w http.ResponseWriter, code int, msg string, detail any) {
	writeJSON(w, code, errorBody{Error: msg, Detail: detail})
}

func writeJSON(w http.ResponseWriter, code int, v any) { jsonhttp.Write(w, code, v) }

func deviceSite(d ingest.Device) string { return d.Labels["site"] }

// RegistryInfo is implemented by an IngestInfo whose device registry is bounded (*ingest.Pipeline): /api/devices
// then reports the bound, the policy when it is full and the evictions under "registry".
type RegistryInfo interface {
	DeviceRegistry() ingest.RegistryStatus
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{"devices": visibleOnly(s, r, s.deps.Ingest.Devices(), deviceSite)}
	// The registry's counts span every site: only a caller who sees every site gets them.
	if ri, ok := s.deps.Ingest.(RegistryInfo); ok && s.seesAllSites(r) {
		body["registry"] = ri.DeviceRegistry()
	}
	writeJSON(w, http.StatusOK, body)
}

// seesAllSites reports whether r's caller sees every site. Without access control (handler tests) everyone
// does.
func (s *Server) seesAllSites(r *http.Request) bool {
	if s.deps.Auth == nil {
		return true
	}
	p, ok := auth.FromContext(r.Context())
	return ok && p.AllSites()
}

func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, d := range s.deps.Ingest.Devices() {
		if d.ID == id && s.visible(r, deviceSite(d)) {
			writeJSON(w, http.StatusOK, d)
			return
		}
	}
	WriteError(w, http.StatusNotFound, "device not found", id)
}

func (s *Server) rejected(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"rejected": s.deps.Ingest.Rejected()})
}

// visible reports whether the requester may see an item of site. Without access control (handler tests)
// everything is visible.
func (s *Server) visible(r *http.Request, site string) bool {
	return s.deps.Auth == nil || auth.SiteVisible(r, site)
}

// siteFilter is visible for a long-lived stream, with the requester resolved once: the live bus asks it about
// every event for every open stream, so looking the requester up each time (a walk up the request's context
// chain) made the work of each event grow with the streams open, taken from every other request.
func (s *Server) siteFilter(r *http.Request) func(site string) bool {
	if s.deps.Auth == nil {
		return func(string) bool { return true }
	}
	p, ok := auth.FromContext(r.Context())
	switch {
	case !ok || !p.Role.Valid():
		return func(string) bool { return false }
	case p.AllSites():
		return func(string) bool { return true }
	}
	return p.CanSeeSite
}

// visibleOnly keeps the items of list whose site the requester may see.
func visibleOnly[T any](s *Server, r *http.Request, list []T, site func(T) string) []T {
	if s.deps.Auth == nil {
		return list
	}
	p, _ := auth.FromContext(r.Context())
	return auth.FilterSites(p, list, site)
}
