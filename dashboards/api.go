package dashboards

import (
	"encoding/json"
	"net/http"

	"citywatch/ingest"
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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"devices": s.deps.Ingest.Devices()})
}

func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, d := range s.deps.Ingest.Devices() {
		if d.ID == id {
			writeJSON(w, http.StatusOK, d)
			return
		}
	}
	WriteError(w, http.StatusNotFound, "device not found", id)
}

func (s *Server) rejected(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"rejected": s.deps.Ingest.Rejected()})
}
