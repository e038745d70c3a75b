package promapi

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// timeCases are timestamp parameters and what they parse to (ok false: an error); they seed FuzzParseTime.
var timeCases = []struct {
	in   string
	want time.Time
	ok   bool
}{
	{"1700000000", time.Unix(1700000000, 0).UTC(), true},
	{"1700000000.123", time.Unix(1700000000, 123e6).UTC(), true},
	{"1700000000.1234", time.Unix(1700000000, 123e6).UTC(), true}, // Millisecond precision, as Prometheus.
	{"-1.5", time.Unix(-1, -5e8).UTC(), true},
	{"0", time.Unix(0, 0).UTC(), true},
	{"2023-11-14T22:13:20Z", time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC), true},
	{"2023-11-14T23:13:20.5+01:00", time.Date(2023, 11, 14, 22, 13, 20, 5e8, time.UTC), true},
	{minTimeFormatted, minTime, true},
	{maxTimeFormatted, maxTime, true},
	{"", time.Time{}, false},
	{"abc", time.Time{}, false},
	{"NaN", time.Time{}, false},
	{"+Inf", time.Time{}, false},
	{"-Inf", time.Time{}, false},
	{"1e300", time.Time{}, false},
	{"-1e300", time.Time{}, false},
	{"2023-11-14", time.Time{}, false},
	{"0x10", time.Time{}, false},
	{"0x1p4", time.Unix(16, 0).UTC(), true},
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	for _, c := range timeCases {
		got, err := parseTime(c.in)
		if !c.ok {
			require.Error(t, err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.True(t, c.want.Equal(got), "%s: got %s, want %s", c.in, got, c.want)
	}
}

// durationCases are duration parameters and what they parse to (ok false: an error); they seed
// FuzzParseDuration.
var durationCases = []struct {
	in   string
	want time.Duration
	ok   bool
}{
	{"15", 15 * time.Second, true},
	{"0.5", 500 * time.Millisecond, true},
	{"1m", time.Minute, true},
	{"1h30m", 90 * time.Minute, true},
	{"1d", 24 * time.Hour, true},
	{"2w", 14 * 24 * time.Hour, true},
	{"100ms", 100 * time.Millisecond, true},
	{"-1", -time.Second, true},
	{"0", 0, true},
	{"", 0, false},
	{"-1m", 0, false},
	{"1ns", 0, false},
	{"1.5m", 0, false},
	{"NaN", 0, false},
	{"Inf", 0, false},
	{"1e300", 0, false},
	{"9223372036.854775807", 0, false},
	{"m", 0, false},
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for _, c := range durationCases {
		got, err := parseDuration(c.in)
		if !c.ok {
			require.Error(t, err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, c.in)
	}
}

func FuzzParseTime(f *testing.F) {
	for _, c := range timeCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseTime(s)
		if err != nil {
			return
		}
		if got.Before(minTime) || got.After(maxTime) {
			t.Fatalf("parseTime(%q) = %s, outside [%s, %s]", s, got, minTime, maxTime)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, c := range durationCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err == nil && d < 0 && !strings.HasPrefix(strings.TrimSpace(s), "-") {
			t.Fatalf("parseDuration(%q) = %s: negative without a sign", s, d)
		}
		if _, apiErr := parseRange("0", "100", s); apiErr == nil && d <= 0 {
			t.Fatalf("parseRange accepted step %q = %s", s, d)
		}
	})
}

// FuzzQueryAPI sends arbitrary parameters to every route: the answer must be a well-formed Prometheus
// envelope with a status code the API documents, never a panic.
func FuzzQueryAPI(f *testing.F) {
	for _, c := range append(append([]apiCase{}, goldenCases...), errorCases...) {
		f.Add(c.path, c.form.Get("query"), c.form.Get("time"), c.form.Get("start"), c.form.Get("end"),
			c.form.Get("step"), c.form.Get("limit"), c.form.Get("match[]"))
	}
	api, err := New(loadTestData(f), Options{Timeout: 5 * time.Second, MaxSamples: 100_000})
	require.NoError(f, err)
	mux := http.NewServeMux()
	api.Register(mux)
	paths := []string{"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
		"/api/v1/label/site/values", "/api/v1/query_exemplars", "/api/v1/metadata"}
	f.Fuzz(func(t *testing.T, path, query, ts, start, end, step, limit, match string) {
		if !strings.HasPrefix(path, "/api/v1/") {
			path = paths[len(path)%len(paths)]
		}
		form := url.Values{"query": {query}, "time": {ts}, "start": {start}, "end": {end}, "step": {step},
			"limit": {limit}, "match[]": {match}}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form.Encode()))
		req.URL.Path = path
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 422, 503:
		case 404, 405:
			return // Not one of the API's routes.
		default:
			t.Fatalf("%s %v: status %d: %s", path, form, rec.Code, rec.Body)
		}
		var env struct {
			Status    string          `json:"status"`
			Data      json.RawMessage `json:"data"`
			ErrorType string          `json:"errorType"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("%s %v: invalid JSON %q: %v", path, form, rec.Body, err)
		}
		if (rec.Code == 200) != (env.Status == "success") {
			t.Fatalf("%s %v: status %d with %q", path, form, rec.Code, rec.Body)
		}
	})
}

// FuzzAppendString checks the hand-written JSON string encoder against encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote\`, "<a&b>", "\x00\x1f\n\r\t", "\xff\xfe", "é€😀", "\u2028\u2029"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendString(nil, s)))
	})
}

func TestAppendNumbers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		t    int64
		want string
	}{
		{0, "0"}, {1, "0.001"}, {10, "0.010"}, {999, "0.999"}, {1000, "1"}, {1700000000050, "1700000000.050"}, // As Prometheus writes it.,
		{-1500, "-1.500"}, {math.MinInt64, "-9223372036854775.808"},
	} {
		require.Equal(t, c.want, string(appendTimestamp(nil, c.t)))
	}
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, `"0"`}, {1.5, `"1.5"`}, {math.NaN(), `"NaN"`}, {math.Inf(-1), `"-Inf"`}, {1e21, `"1e+21"`},
		{1e-7, `"1e-07"`}, {123456789, `"123456789"`},
	} {
		require.Equal(t, c.want, string(appendFloat(nil, c.v)))
	}
}
