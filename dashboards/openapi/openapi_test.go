package openapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// requiredOperations are the REST routes the document must describe (issue 5); the comparison with the
// registered routes lives in package dashboards (TestOpenAPIMatchesRoutes).
var requiredOperations = []string{
	"GET /healthz", "GET /readyz", "GET /metrics",
	"GET /api/devices", "GET /api/devices/{id}", "GET /api/ingest/rejected",
	"GET /api/cameras", "GET /api/cameras/{id}", "GET /api/cameras/{id}/snapshot.jpg", "GET /api/cameras/{id}/clips",
	"GET /api/cameras/{id}/timeline", "POST /api/silences/preview",
	"GET /api/cameras/{id}/clips/{clip}", "GET /api/cameras/{id}/clips/{clip}/thumbnail.jpg", "GET /api/cameras/{id}/live",
	"GET /api/alerts", "GET /api/alerts/{id}", "POST /api/alerts/{id}/ack", "POST /api/alerts/{id}/assign",
	"GET /api/silences", "POST /api/silences", "DELETE /api/silences/{id}",
	"GET /api/rules", "POST /api/rules/reload", "GET /api/events", "GET /api/deliveries", "POST /api/deliveries/{id}/replay",
	"GET /api/audit", "POST /api/login", "POST /api/logout", "GET /api/me",
	"GET /api/users", "POST /api/users", "PATCH /api/users/{name}", "DELETE /api/users/{name}",
	"GET /api/tokens", "POST /api/tokens", "DELETE /api/tokens/{id}", "GET /api/openapi.json",
	"GET /api/ward", "GET /api/ward/{site}", "POST /api/ward/{site}/rooms",
	"PUT /api/ward/{site}/rooms/{id}/bindings", "POST /api/ward/{site}/checkin", "GET /api/ward/{site}/occupancies/{id}",
	"POST /api/ward/{site}/occupancies/{id}/status",
	"POST /api/ward/{site}/occupancies/{id}/readings", "GET /api/ward/{site}/rounds",
	"GET /api/ward/{site}/report", "GET /api/ward/{site}/fhir",
	"GET /api/ward/{site}/settings", "PUT /api/ward/{site}/settings",
	"GET /api/map", "GET /api/plans/{site}", "GET /api/plans/{site}/image", "PUT /api/plans/{site}/image",
	"PUT /api/plans/{site}/markers/{kind}/{id}", "DELETE /api/plans/{site}/markers/{kind}/{id}",
}

// publicOperations need no authentication; every other operation must inherit the document's security.
var publicOperations = []string{"GET /healthz", "GET /readyz", "POST /api/login"}

func TestRequiredOperations(t *testing.T) {
	got := Paths()
	for _, want := range requiredOperations {
		if !slices.Contains(got, want) {
			t.Errorf("missing operation %s", want)
		}
	}
	for _, op := range got {
		if !slices.Contains(requiredOperations, op) {
			t.Errorf("operation %s is not in requiredOperations: add it there (and make sure the route exists)", op)
		}
	}
}

// TestDocumentStructure checks the document by hand: it is OpenAPI 3.1 JSON, every $ref resolves, every path
// parameter is declared, every operation has an id, responses and the right security, and every error
// response uses the Error schema.
func TestDocumentStructure(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(spec, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	walkRefs(t, doc, doc, "#")

	ids := map[string]string{}
	paramRE := regexp.MustCompile(`\{([^}]+)\}`)
	paths := doc["paths"].(map[string]any)
	for path, item := range paths {
		ops := 0
		for _, m := range methods {
			raw, ok := item.(map[string]any)[m]
			if !ok {
				continue
			}
			ops++
			op := raw.(map[string]any)
			where := strings.ToUpper(m) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := ids[id]; dup {
				t.Errorf("%s: operationId %q also used by %s", where, id, prev)
			}
			ids[id] = where
			resp, _ := op["responses"].(map[string]any)
			if len(resp) == 0 {
				t.Errorf("%s: no responses", where)
			}
			success := false
			for code := range resp {
				if strings.HasPrefix(code, "2") || code == "101" {
					success = true
				}
			}
			if !success {
				t.Errorf("%s: no success response", where)
			}
			sec, hasSec := op["security"]
			public := slices.Contains(publicOperations, where)
			switch {
			case public && (!hasSec || len(sec.([]any)) != 0):
				t.Errorf("%s: public operation without security: []", where)
			case !public && hasSec:
				t.Errorf("%s: overrides the document's security; only %v are public", where, publicOperations)
			case !public && resp["401"] == nil:
				t.Errorf("%s: authenticated operation without a 401 response", where)
			}
			declared := map[string]bool{}
			params, _ := op["parameters"].([]any)
			for _, p := range params {
				p := resolve(t, doc, p).(map[string]any)
				if p["in"] == "path" {
					declared[p["name"].(string)] = true
				}
			}
			for _, m := range paramRE.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %s not declared", where, m[1])
				}
				delete(declared, m[1])
			}
			for name := range declared {
				t.Errorf("%s: declares path parameter %s that is not in the path", where, name)
			}
			for code, r := range resp {
				if code[0] != '4' && code[0] != '5' || where+" "+code == "GET /readyz 503" { // readyz: its own body
					continue
				}
				r := resolve(t, doc, r).(map[string]any)
				content, _ := r["content"].(map[string]any)
				js, _ := content["application/json"].(map[string]any)
				if js == nil || !strings.HasSuffix(refOf(js["schema"]), "/Error") {
					t.Errorf("%s: error response %s is not the Error schema", where, code)
				}
			}
		}
		if ops == 0 {
			t.Errorf("%s: no operations", path)
		}
	}
	comps := doc["components"].(map[string]any)
	schemes := comps["securitySchemes"].(map[string]any)
	for _, name := range []string{"bearerToken", "sessionCookie", "csrfToken"} {
		if schemes[name] == nil {
			t.Errorf("security scheme %s missing", name)
		}
	}
	errSchema := comps["schemas"].(map[string]any)["Error"].(map[string]any)
	props := errSchema["properties"].(map[string]any)
	if props["error"] == nil || props["detail"] == nil || !slices.Contains(errSchema["required"].([]any), any("error")) {
		t.Errorf("Error schema %v: want error (required) and detail", errSchema)
	}
}

func refOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["$ref"].(string)
	return s
}

// resolve follows a local $ref.
func resolve(t *testing.T, doc map[string]any, v any) any {
	t.Helper()
	for i := 0; i < 8; i++ {
		r := refOf(v)
		if r == "" {
			return v
		}
		v = pointer(doc, r)
		if v == nil {
			t.Fatalf("unresolved %s", r)
		}
	}
	t.Fatal("$ref chain too long")
	return nil
}

// pointer evaluates a local JSON pointer (#/a/b), or returns nil.
func pointer(doc map[string]any, ref string) any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[tok]; !ok {
			return nil
		}
	}
	return cur
}

// walkRefs fails for every $ref that is not a resolvable local reference.
func walkRefs(t *testing.T, doc map[string]any, v any, at string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		if r, ok := x["$ref"].(string); ok && pointer(doc, r) == nil {
			t.Errorf("%s: $ref %q does not resolve", at, r)
		}
		for k, e := range x {
			walkRefs(t, doc, e, at+"/"+k)
		}
	case []any:
		for _, e := range x {
			walkRefs(t, doc, e, at+"/[]")
		}
	}
}

// TestValidatesWithKinOpenAPI validates the document against the OpenAPI specification with kin-openapi.
func TestValidatesWithKinOpenAPI(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The validator is not vacuous: an operation without responses and a dangling $ref are refused.
	for _, bad := range []string{
		`{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Nope"}}}}}}}}}`,
		`{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{}}}}}}`,
	} {
		d, err := openapi3.NewLoader().LoadFromData([]byte(bad))
		if err == nil {
			err = d.Validate(context.Background())
		}
		if err == nil {
			t.Errorf("kin-openapi accepted %s", bad)
		}
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || string(body) != string(spec) {
		t.Fatalf("GET: %s %q, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(body))
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %s, want 304", resp.Status)
	}
	resp, err = http.Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s, want 405", resp.Status)
	}
	if !strings.Contains(string(JSON()), `"openapi": "3.1.0"`) {
		t.Error("JSON() is not the document")
	}
}

// normalizeCases are Go mux patterns and their OpenAPI paths.
var normalizeCases = []struct{ in, want string }{
	{"GET /api/devices/{id...}", "/api/devices/{id}"},
	{"/api/devices/{id...}", "/api/devices/{id}"},
	{"POST /api/alerts/{id}/ack", "/api/alerts/{id}/ack"},
	{"GET /{$}", "/"},
	{"GET /api/cameras/{id}/snapshot.jpg", "/api/cameras/{id}/snapshot.jpg"},
	{"GET example.com/api/me", "/api/me"},
	{"/healthz", "/healthz"},
}

func TestNormalize(t *testing.T) {
	for _, c := range normalizeCases {
		if got := Normalize(c.in); got != c.want {
			t.Errorf("Normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, c := range normalizeCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Normalize(s)
		for _, m := range wildcardRE.FindAllStringSubmatch(out, -1) {
			if m[2] != "" {
				t.Errorf("Normalize(%q) = %q keeps the Go wildcard %s", s, out, m[0])
			}
		}
	})
}

func TestOperationsMatchPaths(t *testing.T) {
	ops := Operations()
	paths := Paths()
	if len(ops) != len(paths) || len(ops) == 0 {
		t.Fatalf("%d operations, %d paths", len(ops), len(paths))
	}
	for i, o := range ops {
		if o.String() != paths[i] || o.Method != strings.ToUpper(o.Method) || !strings.HasPrefix(o.Path, "/") {
			t.Errorf("operation %d: %+v vs %q", i, o, paths[i])
		}
	}
	if _, err := parseOperations([]byte("{")); err == nil {
		t.Error("parseOperations accepted broken JSON")
	}
}

func TestDiff(t *testing.T) {
	var all []string
	for _, o := range Operations() {
		p := o.String()
		if o.Path == "/api/devices/{id}" {
			p = o.Method + " /api/devices/{id...}" // the Go pattern form
		}
		all = append(all, p)
	}
	extra := []string{"GET /api/v1/query", "POST /api/v1/query_range", "GET /login", "GET /{$}", "GET /ui/", "/"}
	if u, m := Diff(append(all, extra...)); len(u) != 0 || len(m) != 0 {
		t.Errorf("full route set: undocumented %v, unregistered %v", u, m)
	}
	u, m := Diff(append(all[1:], "POST /api/cameras/{id}/reboot"))
	if !slices.Equal(u, []string{"POST /api/cameras/{id}/reboot"}) || !slices.Equal(m, []string{all[0]}) {
		t.Errorf("undocumented %v, unregistered %v", u, m)
	}
}
