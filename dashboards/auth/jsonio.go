package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"citywatch/internal/jsonhttp"
)

// maxBody bounds every JSON request body; maxLoginBody bounds a login's (a user name and a password of at most
// maxPassword characters, even if every one is a \u escape), which anyone may send.
const (
	maxBody      = 1 << 20
	maxLoginBody = 16 << 10
)

// errorBody is the JSON shape of every error this package writes.
type errorBody struct {
	Error  string `json:"error"`
	Detail any    `json:"detail,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) { jsonhttp.Write(w, code, v) }

func writeError(w http.ResponseWriter, code int, msg string, detail any) {
	writeJSON(w, code, errorBody{Error: msg, Detail: detail})
}

// bodyError is a client error found while reading a request body.
type bodyError struct {
	code int
	msg  string
}

func (e *bodyError) Error() string { return e.msg }

// decodeJSON strictly decodes one JSON value from data into v: unknown fields, trailing data and an empty body
// are errors. Error messages never quote values (they may be passwords).
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return errors.New("empty body")
		case errors.As(err, &syn):
			return fmt.Errorf("malformed JSON at offset %d", syn.Offset)
		case errors.As(err, &typ):
			return fmt.Errorf("field %q: want %s, got JSON %s", typ.Field, typ.Type, typ.Value)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("truncated JSON")
		}
		return err // "json: unknown field \"x\"" names the field only
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// readRequest reads r's body (JSON content type, at most limit bytes) and parses it. When either fails it
// answers the client, a parse failure with status 400 and title what, and returns false.
func readRequest[T any](w http.ResponseWriter, r *http.Request, limit int64, parse func([]byte) (T, error), what string) (T, bool) {
	data, err := readBodyMax(w, r, limit)
	if err != nil {
		writeBodyError(w, err)
		var zero T
		return zero, false
	}
	req, err := parse(data)
	if err != nil {
		writeError(w, http.StatusBadRequest, what, err.Error())
		var zero T
		return zero, false
	}
	return req, true
}

// readBodyMax reads r's body: JSON content type, at most limit bytes.
func readBodyMax(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/json" {
		return nil, &bodyError{http.StatusUnsupportedMediaType, "Content-Type must be application/json"}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &bodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", tooBig.Limit)}
		}
		return nil, &bodyError{http.StatusBadRequest, "reading body failed"}
	}
	return data, nil
}

// writeBodyError answers a readBodyMax failure.
func writeBodyError(w http.ResponseWriter, err error) {
	var be *bodyError
	if errors.As(err, &be) {
		writeError(w, be.code, "invalid request body", be.msg)
		return
	}
	writeError(w, http.StatusBadRequest, "invalid request body", err.Error())
}
