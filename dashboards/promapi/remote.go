package promapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/storage"

	"citywatch/dashboards/auth"
	"citywatch/dashboards/promapi/promscope"
)

// Remote is a Prometheus-compatible query API that a centre's API forwards to (storage.query): VictoriaMetrics,
// Mimir, Thanos Query or Prometheus. *remotequery.Client implements it.
type Remote interface {
	// Do sends form to path ("/api/v1/query") with Accept-Encoding acceptEncoding and returns the engine's
	// answer as it came, whatever its status and Content-Encoding; the caller closes the body.
	Do(ctx context.Context, path string, form url.Values, acceptEncoding string) (*http.Response, error)
}

// sitesFunc says whose series a request may read; RequestSites in production, a fixed set in this package's
// tests.
type sitesFunc func(*http.Request) promscope.Sites

// RequestSites is whose series a request to a centre's API may read, the centre's counterpart of
// ScopeToSites: every series for a principal who sees every site, exactly their sites' otherwise, and nothing
// without a valid principal (fail closed: on a centre every query comes from a request, never from rule
// evaluation inside citywatch). On a centre nothing below the API can filter what the remote engine reads,
// so the API rewrites each query with these sites instead.
func RequestSites(r *http.Request) promscope.Sites {
	p, ok := auth.FromContext(r.Context())
	switch {
	case !ok || !p.Role.Valid():
		return promscope.Sites{}
	case p.AllSites():
		return promscope.Sites{All: true}
	}
	return promscope.Sites{Names: slices.DeleteFunc(slices.Clone(p.Sites), func(s string) bool { return s == auth.AllSitesWildcard })}
}

// NewRemote returns an API that answers /api/v1/query, query_range, series, labels and label values from
// remote, with every query and match[] selector rewritten (promscope) for the sites of the request's
// principal (RequestSites) so that the engine itself reads only their sites' series: scoped by construction,
// as New is, with no way for the caller to pass a wider scope. The budgets apply as for the embedded TSDB: the
// concurrency gate, the step and points floor, and the timeout (also sent to the engine); the samples
// budget is the engine's own (VictoriaMetrics' -search.maxSamplesPerQuery, Prometheus' --query.max-samples).
func NewRemote(remote Remote, opts Options) (*API, error) {
	if remote == nil {
		return nil, errors.New("promapi: a remote query API is required")
	}
	a, err := New(noLocalStorage{}, opts)
	if err != nil {
		return nil, err
	}
	a.remote, a.sites = remote, RequestSites // the request's principal decides; no caller can widen it
	return a, nil
}

// noLocalStorage is the storage of a remote API: everything it serves goes to the remote, and anything that
// still reads locally (Query, the engine) finds nothing rather than another store.
type noLocalStorage struct{}

func (noLocalStorage) Querier(int64, int64) (storage.Querier, error) {
	return storage.NoopQuerier(), nil
}

// forwardParams are the parameters sent on to the engine, besides query and match[] (rewritten) and timeout
// (capped). Anything else stays here.
var forwardParams = []string{"time", "start", "end", "step", "limit", "stats", "lookback_delta"}

// remoteQuery serves /api/v1/query (step 0) and /api/v1/query_range from the remote engine.
func (a *API) remoteQuery(r *http.Request, path string, start, end time.Time, step time.Duration) apiResult {
	query := r.Form.Get("query")
	if apiErr := a.check(query, start, end, step); apiErr != nil {
		return apiResult{err: apiErr}
	}
	scoped, err := promscope.Query(a.parser, query, a.sites(r))
	if err != nil {
		return apiResult{err: invalidParam(err, "query")}
	}
	form := forwarded(r.Form)
	form.Set("query", scoped)
	return a.forward(r, path, form)
}

// remoteSelectors serves /api/v1/series, /labels and /label/{name}/values from the remote engine.
func (a *API) remoteSelectors(r *http.Request, path string) apiResult {
	if _, _, apiErr := timeRange(r); apiErr != nil {
		return apiResult{err: apiErr}
	}
	if _, err := parseLimit(r.Form.Get("limit")); err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	sel, err := promscope.Selectors(a.parser, r.Form["match[]"], a.sites(r))
	if err != nil {
		return apiResult{err: invalidParam(err, "match[]")}
	}
	form := forwarded(r.Form)
	form["match[]"] = sel
	return a.forward(r, path, form)
}

// forwarded copies the forwardParams of in.
func forwarded(in url.Values) url.Values {
	out := url.Values{}
	for _, k := range forwardParams {
		if v, ok := in[k]; ok {
			out[k] = v
		}
	}
	return out
}

// forward sends form to the engine under the API's gate and timeout, and streams the answer back as it
// comes: a centre adds no copy of a large result to its memory.
func (a *API) forward(r *http.Request, path string, form url.Values) apiResult {
	timeout := a.timeout
	if t, apiErr := parseTimeout(r.Form.Get("timeout")); apiErr != nil {
		return apiResult{err: apiErr}
	} else if t > 0 && t < timeout {
		timeout = t
	}
	form.Set("timeout", strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64)) // seconds: what every engine parses
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	release, apiErr := a.admit(ctx, r)
	if apiErr != nil {
		cancel()
		return apiResult{err: apiErr}
	}
	done := func() { cancel(); release() }
	defer releaseOnPanic(done)
	resp, err := a.remote.Do(ctx, path, form, acceptedEncoding(r))
	if err != nil {
		done()
		if errors.Is(err, context.DeadlineExceeded) {
			return apiResult{err: &apiError{errorTimeout, &budgetError{reasonTimeout, fmt.Errorf("query timed out in the query engine: %w", err)}}}
		}
		if errors.Is(err, context.Canceled) {
			return apiResult{err: &apiError{errorCanceled, err}}
		}
		return apiResult{err: &apiError{errorUnavailable, err}}
	}
	if !passThrough(resp) {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		done()
		// 401/403 (our credentials), 404 (wrong URL) or a proxy's HTML page: the caller's request is not at
		// fault, and the body is not shown (it may echo what we sent).
		return apiResult{err: &apiError{errorInternal, fmt.Errorf("query engine answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))}}
	}
	return apiResult{
		stream: func(w http.ResponseWriter) int {
			w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
			if ce := resp.Header.Get("Content-Encoding"); ce != "" {
				w.Header().Set("Content-Encoding", ce)
				w.Header().Add("Vary", "Accept-Encoding")
			}
			if cl := resp.Header.Get("Content-Length"); cl != "" {
				w.Header().Set("Content-Length", cl)
			}
			w.WriteHeader(resp.StatusCode)
			if _, err := io.Copy(w, resp.Body); err != nil {
				a.logger.Debug("stream query engine answer", "path", r.URL.Path, "err", err)
			}
			return resp.StatusCode
		},
		finalizer: func() { _ = resp.Body.Close(); done() },
	}
}

// acceptedEncoding is the part of the client's Accept-Encoding the engine's answer may use: gzip, which every
// Prometheus-compatible engine offers, or nothing.
func acceptedEncoding(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return "gzip"
		}
	}
	return ""
}

// passThrough reports whether the engine's answer is a Prometheus API answer the client may see as is: JSON
// with the status codes Prometheus uses for answers and query errors.
func passThrough(resp *http.Response) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" {
		return false
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusServiceUnavailable,
		statusClientClosedRequest:
		return true
	}
	return false
}
