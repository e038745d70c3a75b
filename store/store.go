// Package store holds the sample model shared by every producer (ingest, cameras) and every backend
// (the embedded TSDB, InfluxDB), and the Appender contract between them.
package store

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
)

// Label is one name/value pair of a series. The metric name is not a label: it is Sample.Name.
type Label struct {
	Name  string
	Value string
}

// Sample is one value of one series at one instant.
type Sample struct {
	// Name is the metric name, e.g. "temperature".
	Name string
	// Labels are sorted by name, unique, with no empty values and no "__name__".
	Labels []Label
	// T is the sample time in Unix milliseconds.
	T int64
	// V is the value.
	V float64
	// Hint, when not nil, is shared by samples of one labels slice so that a backend can remember where their
	// series are (SeriesHint states the contract). Backends may ignore it.
	Hint *SeriesHint
}

// Appender stores samples. Append returns nil only once every sample is durably stored (for the embedded TSDB:
// committed to its write-ahead log), so a caller may acknowledge the source afterwards. A sample that the
// backend refuses for what it is (too old, a duplicate with another value) is reported through a *RejectedError
// while the other samples of the call are stored.
type Appender interface {
	Append(ctx context.Context, samples []Sample) error
}

// RejectedError reports samples a backend refused for what they are, not for a failure of the backend.
// Retrying them cannot succeed.
type RejectedError struct {
	// Count is the number of refused samples.
	Count int
	// Reason is a short bounded reason such as "out_of_bounds" or "duplicate".
	Reason string
	// Err is the first underlying error.
	Err error
	// SampleReasons, when not nil, has one entry per sample of the call: the reason the sample was refused, or
	// "" when it was stored, so that a caller that appended the samples of several messages at once can tell
	// whose were refused. Backends that cannot tell leave it nil.
	SampleReasons []string
}

// Rejection reasons every backend uses for the same refusal, so that callers can tell them apart from the
// backend-specific ones.
const (
	// ReasonFuture: the sample is stamped further ahead of the backend's clock than it allows. Storing it would
	// move the newest time of the store into the future and refuse the present as too old.
	ReasonFuture = "future"
	// ReasonSeriesLimit: the sample would create a new series beyond the backend's series limit.
	ReasonSeriesLimit = "series_limit"
)

func (e *RejectedError) Error() string {
	return "store: " + strconv.Itoa(e.Count) + " samples rejected (" + e.Reason + "): " + e.Err.Error()
}

func (e *RejectedError) Unwrap() error { return e.Err }

// SortLabels sorts ls by name in place and returns it.
func SortLabels(ls []Label) []Label {
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

// LabelsString renders ls like Prometheus does: {a="1", b="2"}.
func LabelsString(name string, ls []Label) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(l.Value)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// Fanout appends to several backends. The first backend is primary: its error is returned. The others are
// secondary (for example the InfluxDB queue): their errors are passed to OnSecondaryError and do not fail the
// append, so the edge keeps working while an uplink is in trouble.
type Fanout struct {
	Primary          Appender
	Secondary        []Appender
	OnSecondaryError func(i int, err error)
}

// Append implements Appender.
func (f *Fanout) Append(ctx context.Context, samples []Sample) error {
	err := f.Primary.Append(ctx, samples)
	var rej *RejectedError
	if err != nil && !errors.As(err, &rej) {
		return err
	}
	for i, s := range f.Secondary {
		if serr := s.Append(ctx, samples); serr != nil && f.OnSecondaryError != nil {
			f.OnSecondaryError(i, serr)
		}
	}
	return err
}
