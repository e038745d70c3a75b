// Package jsonhttp writes the JSON responses of citywatch's HTTP APIs, so that every handler answers with the
// same headers and encoding.
package jsonhttp

import (
	"encoding/json"
	"net/http"
)

// Write answers v as JSON with status code. Responses carry user and site data, so they are never cached
// (Cache-Control: no-store); HTML is not escaped, since the body is never HTML. An error encoding or writing v
// is dropped: the status has been sent, and the client sees a short body.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
