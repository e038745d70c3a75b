package testenv

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// InfluxDatabase is the database Influxd creates; InfluxServer.Bucket names it with its default retention
// policy.
const InfluxDatabase = "citywatch"

// InfluxServer is an influxd 1.8 child process on a free loopback port with the InfluxDB 2 compatibility API
// (/api/v2/write; /api/v2/query with Flux when started WithFlux) enabled and a database already created.
type InfluxServer struct {
	// URL is the HTTP base URL, e.g. http://127.0.0.1:38123.
	URL string
	// Org is the organization for the v2 API; influxd 1.8 ignores it.
	Org string
	// Bucket is the v2 bucket in the 1.8 "database/retention-policy" form.
	Bucket string
	// Token is the v2 API token: "" because authentication is disabled.
	Token string
	// Dir holds the config, data, WAL and meta directories and the log file.
	Dir string

	*childServer
}

// Influxd starts influxd (built by scripts/install-test-deps.sh into CacheBin) and stops it in t.Cleanup.
// It fails the test when influxd does not become ready. Flux is off unless WithFlux is given.
func Influxd(t testing.TB, opts ...InfluxdOption) *InfluxServer {
	t.Helper()
	return startInfluxd(t, FreePort(t), opts...)
}

// InfluxdOption configures Influxd.
type InfluxdOption func(*influxdOptions)

type influxdOptions struct{ flux bool }

// WithFlux turns on influxd's Flux engine (/api/v2/query, InfluxServer.Flux). It is off by default because
// it makes every start costly: influxd type-checks Flux's standard library before it listens, about 3 s of
// CPU against 0.01 s without it, which on a loaded machine is minutes of wall time (make stress, load 110:
// influxds restarted by store/influx tests were not ready after 5 minutes).
func WithFlux() InfluxdOption { return func(o *influxdOptions) { o.flux = true } }

// startInfluxd is Influxd with the HTTP address to try first. Its RPC listener (bind-address, which no test
// uses) is on a port the kernel picks at each start, so only the HTTP port can be taken by someone else
// before influxd binds it; when that happens at the first start it moves to another free port.
func startInfluxd(t testing.TB, httpAddr string, opts ...InfluxdOption) *InfluxServer {
	t.Helper()
	bin := LookPath(t, "influxd")
	var o influxdOptions
	for _, opt := range opts {
		opt(&o)
	}
	dir := t.TempDir()
	s := &InfluxServer{Org: "citywatch", Bucket: InfluxDatabase + "/autogen", Dir: dir}
	conf := filepath.Join(dir, "influxdb.conf")
	s.childServer = &childServer{t: t, name: "influxd", bin: bin, args: []string{"run", "-config", conf},
		env: []string{"INFLUXDB_DATA_QUERY_LOG_ENABLED=false"}, logPath: filepath.Join(dir, "influxd.log"),
		readyStatus: http.StatusNoContent}
	listenOn := func(addr string) {
		s.URL = "http://" + addr
		s.ready = s.URL + "/ping"
		if err := os.WriteFile(conf, []byte(influxdConfig(dir, "127.0.0.1:0", addr, o.flux)), 0o600); err != nil {
			t.Fatalf("influxd config: %v", err)
		}
	}
	listenOn(httpAddr)
	s.rebind = func() { listenOn(FreePort(t)) }
	s.cleanup()
	s.Start()
	if _, err := s.InfluxQL("CREATE DATABASE " + InfluxDatabase); err != nil {
		t.Fatalf("influxd: create database: %v", err)
	}
	return s
}

// InfluxQL runs an InfluxQL statement against the test database via POST /query and returns the raw JSON.
func (s *InfluxServer) InfluxQL(q string) ([]byte, error) {
	form := url.Values{"q": {q}, "db": {InfluxDatabase}}
	body, err := fetch(http.MethodPost, s.URL+"/query", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("influxql %q: %w", q, err)
	}
	var r struct {
		Results []struct {
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("influxql %q: decode: %w", q, err)
	}
	for _, res := range r.Results {
		if res.Error != "" {
			return nil, fmt.Errorf("influxql %q: %s", q, res.Error)
		}
	}
	return body, nil
}

// Count returns the number of points (values of field "value") in measurement, optionally restricted by an
// InfluxQL where clause such as `"edge" = 'e1'` (empty for none).
func (s *InfluxServer) Count(measurement, where string) (int64, error) {
	q := fmt.Sprintf(`SELECT count("value") FROM %q`, measurement)
	if where != "" {
		q += " WHERE " + where
	}
	vs, err := s.Values(q)
	if err != nil || len(vs) == 0 {
		return 0, err
	}
	return vs[0], nil
}

// Values runs an InfluxQL query whose rows are [time, number] (e.g. SELECT "value" or count("value")) and
// returns the numbers of all rows of all series, in order.
func (s *InfluxServer) Values(q string) ([]int64, error) {
	body, err := s.InfluxQL(q)
	if err != nil {
		return nil, err
	}
	return influxQLValues(body)
}

func influxQLValues(body []byte) ([]int64, error) {
	var r struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("influxql answer: %w", err)
	}
	var out []int64
	for _, res := range r.Results {
		for _, s := range res.Series {
			for _, row := range s.Values {
				if len(row) < 2 {
					return nil, fmt.Errorf("influxql answer: short row %v", row)
				}
				n, ok := row[1].(json.Number)
				if !ok {
					return nil, fmt.Errorf("influxql answer: value %v is not a number", row[1])
				}
				v, err := n.Int64()
				if err != nil {
					return nil, fmt.Errorf("influxql answer: %w", err)
				}
				out = append(out, v)
			}
		}
	}
	return out, nil
}

// Flux runs a Flux query via POST /api/v2/query (the server must have been started WithFlux) and returns the
// data rows of the annotated CSV answer as maps from column name to value (annotation rows and empty
// separator lines are skipped).
func (s *InfluxServer) Flux(flux string) ([]map[string]string, error) {
	body, err := fetch(http.MethodPost, s.URL+"/api/v2/query",
		http.Header{"Content-Type": {"application/vnd.flux"}, "Accept": {"application/csv"}}, strings.NewReader(flux))
	if err != nil {
		return nil, fmt.Errorf("flux: %w", err)
	}
	return parseFluxCSV(body)
}

func parseFluxCSV(body []byte) ([]map[string]string, error) {
	var rows []map[string]string
	for _, table := range bytes.Split(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []byte("\n\n")) {
		r := csv.NewReader(bytes.NewReader(table))
		r.FieldsPerRecord = -1
		recs, err := r.ReadAll()
		if err != nil {
			return nil, fmt.Errorf("flux csv: %w", err)
		}
		var header []string
		for _, rec := range recs {
			if len(rec) == 0 || strings.HasPrefix(rec[0], "#") {
				continue
			}
			if header == nil {
				header = rec
				continue
			}
			if len(header) > 1 && header[1] == "error" && len(rec) > 1 {
				return nil, fmt.Errorf("flux: %s", rec[1])
			}
			row := make(map[string]string, len(rec))
			for i, v := range rec {
				if i < len(header) && header[i] != "" {
					row[header[i]] = v
				}
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// InfluxdConfig is the influxd 1.8 configuration the bench runs with: data, meta and WAL under dir, the RPC
// and HTTP listeners on the given loopback addresses, the v2 API with Flux on, usage reporting, retention
// enforcement, self-monitoring, subscriptions and continuous queries off. Influxd's is the same with Flux
// off unless WithFlux.
func InfluxdConfig(dir, bindAddr, httpAddr string) string {
	return influxdConfig(dir, bindAddr, httpAddr, true)
}

func influxdConfig(dir, bindAddr, httpAddr string, flux bool) string {
	return fmt.Sprintf(`reporting-disabled = true
bind-address = %q

[meta]
  dir = %q

[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false

[coordinator]
  log-queries-after = "0s"

[retention]
  enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = %q
  auth-enabled = false
  log-enabled = false
  flux-enabled = %t

[logging]
  level = "warn"

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false
`, bindAddr, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpAddr, flux)
}
