package remotewrite

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// got is one sample as a receiver decoded it.
type got struct {
	Series string // name{a="1",b="2"} with labels sorted
	T      int64
	V      float64
}

// request is one write request as the test receiver saw it.
type request struct {
	Version  string
	Header   http.Header
	Samples  []got
	Rejected bool
}

// receiver is an httptest remote-write receiver that decodes every request with prompb (1.0) or writev2
// (2.0). Decide (optional) picks the answer to each decoded request.
type receiver struct {
	*httptest.Server
	t      *testing.T
	decide func(r *request) (status int, header map[string]string)
	// noV2Stats makes the receiver answer 2.0 requests like a 1.0 receiver: 2xx without written counts.
	noV2Stats bool

	mu   sync.Mutex
	reqs []*request
}

func newReceiver(t *testing.T, decide func(r *request) (int, map[string]string)) *receiver {
	rv := &receiver{t: t, decide: decide}
	rv.Server = httptest.NewServer(http.HandlerFunc(rv.serve))
	t.Cleanup(rv.Close)
	return rv
}

func (rv *receiver) serve(w http.ResponseWriter, r *http.Request) {
	// A body that cannot be read in full is a client that gave up (Close cancels the in-flight request,
	// possibly after the test body returned): not a test failure, and a request cut short is never accepted.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if r.Header.Get("Content-Encoding") != "snappy" {
		rv.t.Errorf("Content-Encoding %q", r.Header.Get("Content-Encoding"))
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		rv.t.Errorf("snappy: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := &request{Version: r.Header.Get("X-Prometheus-Remote-Write-Version"), Header: r.Header.Clone()}
	if strings.Contains(r.Header.Get("Content-Type"), "io.prometheus.write.v2.Request") {
		req.Samples, err = decodeV2(raw)
	} else {
		req.Samples, err = decodeV1(raw)
	}
	if err != nil {
		rv.t.Errorf("decode: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	status, hdr := http.StatusNoContent, map[string]string(nil)
	if rv.decide != nil {
		status, hdr = rv.decide(req)
	}
	req.Rejected = status/100 != 2
	rv.mu.Lock()
	rv.reqs = append(rv.reqs, req)
	rv.mu.Unlock()
	if req.Version == "2.0.0" && !rv.noV2Stats {
		// A remote write 2.0 receiver confirms what it wrote.
		w.Header().Set("X-Prometheus-Remote-Write-Samples-Written", fmt.Sprint(len(req.Samples)))
	}
	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.WriteHeader(status)
	if status/100 != 2 {
		_, _ = io.WriteString(w, "refused by test receiver")
	}
}

func seriesString(name string, ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name + "{")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + `="` + ls[k] + `"`)
	}
	b.WriteByte('}')
	return b.String()
}

func decodeV1(raw []byte) ([]got, error) {
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		return nil, err
	}
	var out []got
	for _, ts := range req.Timeseries {
		ls, name := map[string]string{}, ""
		for i, l := range ts.Labels {
			if i > 0 && ts.Labels[i-1].Name >= l.Name {
				return nil, errUnsorted
			}
			if l.Name == "__name__" {
				name = l.Value
				continue
			}
			ls[l.Name] = l.Value
		}
		for _, s := range ts.Samples {
			out = append(out, got{Series: seriesString(name, ls), T: s.Timestamp, V: s.Value})
		}
	}
	return out, nil
}

type testErr string

func (e testErr) Error() string { return string(e) }

const errUnsorted = testErr("labels not sorted")

func decodeV2(raw []byte) ([]got, error) {
	var req writev2.Request
	if err := req.Unmarshal(raw); err != nil {
		return nil, err
	}
	var out []got
	for _, ts := range req.Timeseries {
		ls, name := map[string]string{}, ""
		for i := 0; i+1 < len(ts.LabelsRefs); i += 2 {
			k, v := req.Symbols[ts.LabelsRefs[i]], req.Symbols[ts.LabelsRefs[i+1]]
			if k == "__name__" {
				name = v
				continue
			}
			ls[k] = v
		}
		for _, s := range ts.Samples {
			out = append(out, got{Series: seriesString(name, ls), T: s.Timestamp, V: s.Value})
		}
	}
	return out, nil
}

// accepted returns every sample of accepted requests.
func (rv *receiver) accepted() []got {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	var out []got
	for _, r := range rv.reqs {
		if !r.Rejected {
			out = append(out, r.Samples...)
		}
	}
	return out
}

func (rv *receiver) requests() []*request {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]*request(nil), rv.reqs...)
}

// sleeps records the backoff delays the writer asked for and returns at once.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	if d > 0 {
		// Yield a little so a retry loop does not spin the CPU.
		t := time.NewTimer(time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}
