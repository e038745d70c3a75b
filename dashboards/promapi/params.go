package promapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// The defaults of optional time ranges, the same instants as Prometheus' (web/api/v1 MinTime and MaxTime), so
// clients that send them back (Grafana does) are understood.
var (
	minTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()

	minTimeFormatted = minTime.Format(time.RFC3339Nano)
	maxTimeFormatted = maxTime.Format(time.RFC3339Nano)
)

// maxPoints is the most points per series a range query may return, as in Prometheus.
const maxPoints = 11000

// parseTime parses a timestamp as Prometheus does: float Unix seconds (millisecond precision) or RFC 3339.
// Unlike Prometheus, values outside the range a millisecond timestamp can hold (and NaN, ±Inf) are refused
// instead of wrapping around.
func parseTime(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f < float64(minTime.Unix()) || f > float64(maxTime.Unix()) {
			return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp: out of range", s)
		}
		sec, frac := math.Modf(f)
		frac = math.Round(frac*1000) / 1000
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if t.Before(minTime) || t.After(maxTime) {
			return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp: out of range", s)
		}
		return t, nil
	}
	// The standard library only parses 4-digit years; accept Prometheus' own boundary times.
	switch s {
	case minTimeFormatted:
		return minTime, nil
	case maxTimeFormatted:
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseTimeParam parses the form value name, or returns def when it is absent.
func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.Form.Get(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time value for '%s': %w", name, err)
	}
	return t, nil
}

// parseDuration parses a duration as Prometheus does: float seconds or a Prometheus duration ("5m", "1h30m").
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		// float64(math.MaxInt64) is 2^63, which int64 cannot hold, and NaN passes every comparison.
		if math.IsNaN(ts) || ts >= float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// parseLimit parses the limit parameter; 0 means no limit.
func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	limit, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if limit < 0 {
		return 0, errors.New("limit must be non-negative")
	}
	return limit, nil
}

// toHintLimit asks storage for one more than the limit, so truncation can be detected and warned about.
func toHintLimit(limit int) int {
	if limit > 0 && limit < math.MaxInt {
		return limit + 1
	}
	return limit
}

// parseMatchers parses match[] selectors; each must have a matcher that does not match the empty string, as
// Prometheus requires (an all-empty selector would select every series).
func parseMatchers(p parser.Parser, ss []string) ([][]*labels.Matcher, error) {
	sets, err := p.ParseMetricSelectors(ss)
	if err != nil {
		return nil, err
	}
outer:
	for _, ms := range sets {
		for _, m := range ms {
			if m != nil && !m.Matches("") {
				continue outer
			}
		}
		return nil, errors.New("match[] must contain at least one non-empty matcher")
	}
	return sets, nil
}

// rangeParams are the validated parameters of a range query.
type rangeParams struct {
	start, end time.Time
	step       time.Duration
}

// parseRange validates start, end and step with Prometheus' rules and messages.
func parseRange(start, end, step string) (rangeParams, *apiError) {
	var p rangeParams
	var err error
	if p.start, err = parseTime(start); err != nil {
		return p, invalidParam(err, "start")
	}
	if p.end, err = parseTime(end); err != nil {
		return p, invalidParam(err, "end")
	}
	if p.end.Before(p.start) {
		return p, invalidParam(errors.New("end timestamp must not be before start time"), "end")
	}
	if p.step, err = parseDuration(step); err != nil {
		return p, invalidParam(err, "step")
	}
	if p.step <= 0 {
		return p, invalidParam(errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"), "step")
	}
	// For safety, limit the number of returned points per series, as Prometheus does: enough for 60s
	// resolution for a week or 1h resolution for a year.
	if p.end.Sub(p.start)/p.step > maxPoints {
		return p, &apiError{errorBadData, errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")}
	}
	return p, nil
}

// parseTimeout parses the per-query timeout parameter; 0 means none was given.
func parseTimeout(s string) (time.Duration, *apiError) {
	if s == "" {
		return 0, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return 0, invalidParam(err, "timeout")
	}
	if d <= 0 {
		return 0, invalidParam(fmt.Errorf("timeout must be positive, got %s", d), "timeout")
	}
	return d, nil
}
