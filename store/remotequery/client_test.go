package remotequery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestQuery decodes vectors and scalars, reports engine errors in Prometheus' terms, and sends the
// credentials, the headers and the evaluation time.
func TestQuery(t *testing.T) {
	for _, c := range []struct {
		name, status, body, wantErr string
		code, n                     int
	}{
		{name: "vector", code: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","site":"a"},"value":[1700000000,"1"]},{"metric":{},"value":[1700000000,"2"]}]}}`, n: 2},
		{name: "scalar", code: 200, body: `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}`, n: 1},
		{name: "matrix", code: 200, body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`, wantErr: `"matrix"`},
		{name: "error", code: 422, body: `{"status":"error","errorType":"execution","error":"boom"}`, wantErr: "422: execution: boom"},
		{name: "not json", code: 502, body: `<html>`, wantErr: "answered 502"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if u, p, ok := r.BasicAuth(); !ok || u != "centre" || p != "pw" {
					t.Errorf("basic auth = %q %q %v", u, p, ok)
				}
				if r.Header.Get("X-Scope-OrgID") != "city" {
					t.Errorf("headers: %v", r.Header)
				}
				if r.URL.Path != "/prometheus/api/v1/query" || r.FormValue("time") != "1700000000.000" || r.FormValue("query") != "up" {
					t.Errorf("request %s %v", r.URL.Path, r.Form)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.code)
				_, _ = w.Write([]byte(c.body))
			}))
			defer srv.Close()
			cl, err := New(Config{URL: srv.URL + "/prometheus/", Username: "centre", Password: "pw", Headers: map[string]string{"X-Scope-OrgID": "city"}})
			if err != nil {
				t.Fatal(err)
			}
			v, err := cl.Query(context.Background(), "up", time.Unix(1700000000, 0))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || len(v) != c.n {
				t.Fatalf("got %v, %v", v, err)
			}
			if c.name == "vector" && (v[0].Metric.Get("site") != "a" || v[0].F != 1 || v[0].T != 1700000000000) {
				t.Errorf("sample = %v", v[0])
			}
		})
	}
}

// TestNoRedirectNoSecrets: a redirect is not followed (the bearer token must not reach another host), and
// no error carries the token.
func TestNoRedirectNoSecrets(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("followed the redirect with %q", r.Header.Get("Authorization"))
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer TOKEN-123" {
			t.Errorf("auth = %q", r.Header.Get("Authorization"))
		}
		http.Redirect(w, r, other.URL+"/api/v1/query", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	cl, err := New(Config{URL: srv.URL, BearerToken: "TOKEN-123"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Query(context.Background(), "up", time.Now())
	if err == nil || strings.Contains(err.Error(), "TOKEN-123") {
		t.Fatalf("err = %v", err)
	}
	srv.Close()
	_, err = cl.Query(context.Background(), "up", time.Now())
	if err == nil || strings.Contains(err.Error(), "TOKEN-123") {
		t.Fatalf("unreachable: err = %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "ftp://x"}, {URL: "http://user:SECRET@x"}, {URL: "http://x", Username: "u", BearerToken: "t"}, {URL: ":"},
	} {
		_, err := New(cfg)
		if err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("New(%+v) = %v", cfg, err)
		}
	}
}
