package dashboards

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"citywatch/dashboards/auth"
	"citywatch/dashboards/promapi"
	"citywatch/store/remotequery"
)

// gzipErrorCases are a centre's engine answering a query error gzip-encoded, as engines do for a client that
// accepts gzip: the error must reach the client as an envelope it can decode, not a plain body under the
// engine's Content-Encoding.
var gzipErrorCases = []struct {
	name          string
	code          int
	engineBody    string
	wantType      string
	wantErrSubstr string
}{
	{"prometheus envelope", 422, `{"status":"error","errorType":"execution","error":"expanding series: too many samples"}`,
		"execution", "too many samples"},
	{"bad data envelope", 400, `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": parse error"}`,
		"bad_data", "parse error"},
	{"not an envelope", 503, `{"error":"overloaded"}`, "unavailable", "overloaded"},
}

// TestCentreGzipEngineError: an engine's gzip-encoded error answer, passed through the centre's API and
// promErrorShape, decodes at the client as Prometheus' error envelope.
func TestCentreGzipEngineError(t *testing.T) {
	for _, c := range gzipErrorCases {
		t.Run(c.name, func(t *testing.T) {
			engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
					t.Errorf("engine asked without gzip: %q", r.Header.Get("Accept-Encoding"))
				}
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				_, _ = zw.Write([]byte(c.engineBody))
				_ = zw.Close()
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", "gzip")
				w.WriteHeader(c.code)
				_, _ = w.Write(buf.Bytes())
			}))
			t.Cleanup(engine.Close)
			client, err := remotequery.New(remotequery.Config{URL: engine.URL})
			if err != nil {
				t.Fatal(err)
			}
			api, err := promapi.NewRemote(client, promapi.Options{})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			api.Register(mux)
			admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { // a principal who reads every site
				mux.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), auth.Principal{Role: auth.RoleAdmin})))
			})
			srv := httptest.NewServer(promErrorShape(admin))
			t.Cleanup(srv.Close)

			req, _ := http.NewRequest("GET", srv.URL+"/api/v1/query?"+url.Values{"query": {"up"}}.Encode(), nil)
			req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport then leaves decoding to us
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.code {
				t.Errorf("status %d, want %d", resp.StatusCode, c.code)
			}
			body := raw
			if ce := resp.Header.Get("Content-Encoding"); ce != "" {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatalf("Content-Encoding %q but body does not decode: %v (%q)", ce, err, raw)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatalf("Content-Encoding %q but body does not decode: %v", ce, err)
				}
			}
			var env struct {
				Status, ErrorType, Error string
			}
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatalf("not JSON: %q", body)
			}
			if env.Status != "error" || env.ErrorType != c.wantType || !strings.Contains(env.Error, c.wantErrSubstr) {
				t.Errorf("envelope %+v, want type %q and error containing %q", env, c.wantType, c.wantErrSubstr)
			}
		})
	}
}
