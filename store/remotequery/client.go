// Package remotequery is a client of a remote Prometheus-compatible query API (VictoriaMetrics, Grafana
// Mimir, Thanos Query, Prometheus): what a centre citywatch (storage.query) reads instead of its embedded
// TSDB. The Prometheus API forwards requests through Do, rule evaluation and the centre's camera and device
// listings use Query.
package remotequery

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// DefaultMaxBodyBytes bounds an answer Query decodes.
const DefaultMaxBodyBytes = 64 << 20

// Config configures the client.
type Config struct {
	// URL is the base of the query API: /api/v1/query is appended (http://victoriametrics:8428,
	// http://mimir:8080/prometheus, http://thanos-query:9090). Required; it must not hold credentials.
	URL string
	// Timeout bounds one request when the caller's context has no earlier deadline. It defaults to 30s.
	Timeout time.Duration
	// Username and Password are HTTP basic auth credentials, when Username is set.
	Username, Password string
	// BearerToken is sent as "Authorization: Bearer <token>" when set (not together with basic auth).
	BearerToken string
	// Headers are added to every request (X-Scope-OrgID for Mimir tenants).
	Headers map[string]string
	// TLS configures https; nil uses the system roots.
	TLS *tls.Config
	// MaxBodyBytes bounds an answer that Query decodes. It defaults to DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// Client talks to one query API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	http *http.Client
}

// New returns a client of cfg.URL.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remotequery: url must be an http or https URL, got %q", redactURL(cfg.URL))
	}
	if u.User != nil {
		return nil, errors.New("remotequery: url must not hold credentials; use basic auth or a bearer token")
	}
	if cfg.Username != "" && cfg.BearerToken != "" {
		return nil, errors.New("remotequery: basic auth and a bearer token are exclusive")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.TLS
	tr.MaxIdleConnsPerHost = 64
	tr.DisableCompression = true // Do passes the client's Accept-Encoding on instead
	return &Client{cfg: cfg, base: u, http: &http.Client{
		Transport: tr,
		// Credentials never follow a redirect to another host: a redirect is an answer, not a new request.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// URL is the base URL of the query API.
func (c *Client) URL() string { return c.base.String() }

// Do POSTs form to path under the base URL (path "/api/v1/query") and returns the answer, whatever its
// status; the caller closes its body. acceptEncoding is sent as Accept-Encoding ("" asks for none) and the
// body is returned as the engine encoded it (see Content-Encoding), so a proxy passes a compressed answer on
// without decompressing it. Errors are transport errors and never contain the credentials.
func (c *Client) Do(ctx context.Context, path string, form url.Values, acceptEncoding string) (*http.Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		resp, err := c.do(ctx, path, form, acceptEncoding)
		if err != nil {
			cancel()
			return nil, err
		}
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
	return c.do(ctx, path, form, acceptEncoding)
}

func (c *Client) do(ctx context.Context, path string, form url.Values, acceptEncoding string) (*http.Response, error) {
	u := *c.base
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("remotequery: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	switch {
	case c.cfg.Username != "":
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	case c.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+c.cfg.BearerToken)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is ours to say once, below
		}
		return nil, fmt.Errorf("query engine %s: %w", c.base.Redacted(), err)
	}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// Error is an error answer of the query API, in Prometheus' error shape when it had one.
type Error struct {
	// Status is the HTTP status; Type and Message are Prometheus' errorType and error.
	Status        int
	Type, Message string
}

func (e *Error) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("query engine answered %d", e.Status)
	}
	return fmt.Sprintf("query engine answered %d: %s: %s", e.Status, e.Type, e.Message)
}

// envelope is Prometheus' answer shape.
type envelope struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// Query evaluates expr at ts on the engine and returns the instant vector, a scalar as a vector of one
// sample without labels (as Prometheus' rules.EngineQueryFunc does): the shape of alerts.QueryFunc.
func (c *Client) Query(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	form := url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', 3, 64)}}
	var d queryData
	if err := c.call(ctx, "/api/v1/query", form, &d); err != nil {
		return nil, err
	}
	switch d.ResultType {
	case "vector":
		var v model.Vector
		if err := json.Unmarshal(d.Result, &v); err != nil {
			return nil, fmt.Errorf("query engine: decode vector: %w", err)
		}
		out := make(promql.Vector, 0, len(v))
		for _, s := range v {
			lb := labels.NewScratchBuilder(len(s.Metric))
			for k, val := range s.Metric {
				lb.Add(string(k), string(val))
			}
			lb.Sort()
			out = append(out, promql.Sample{Metric: lb.Labels(), T: int64(s.Timestamp), F: float64(s.Value)})
		}
		return out, nil
	case "scalar":
		var s model.Scalar
		if err := json.Unmarshal(d.Result, &s); err != nil {
			return nil, fmt.Errorf("query engine: decode scalar: %w", err)
		}
		return promql.Vector{{Metric: labels.EmptyLabels(), T: int64(s.Timestamp), F: float64(s.Value)}}, nil
	}
	return nil, fmt.Errorf("query engine: result is %q, not a vector or scalar", d.ResultType)
}

// call POSTs form to path and decodes the data of a success answer into data.
func (c *Client) call(ctx context.Context, path string, form url.Values, data any) error {
	resp, err := c.Do(ctx, path, form, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBodyBytes+1))
	if err != nil {
		return fmt.Errorf("query engine %s: read answer: %w", c.base.Redacted(), err)
	}
	if int64(len(body)) > c.cfg.MaxBodyBytes {
		return fmt.Errorf("query engine: answer larger than %d bytes", c.cfg.MaxBodyBytes)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || (resp.StatusCode == http.StatusOK && env.Status != "success") {
		if resp.StatusCode != http.StatusOK {
			return &Error{Status: resp.StatusCode}
		}
		return fmt.Errorf("query engine: answer is not a Prometheus API answer (status %d)", resp.StatusCode)
	}
	if env.Status != "success" {
		return &Error{Status: resp.StatusCode, Type: env.ErrorType, Message: env.Error}
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		return fmt.Errorf("query engine: decode answer: %w", err)
	}
	return nil
}

// redactURL hides the user info of a URL that may not parse.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return "xxxxx" + s[i:]
	}
	return s
}
