package store

import (
	"context"
	"errors"
	"testing"
)

type fakeAppender struct {
	err   error
	calls int
}

func (f *fakeAppender) Append(context.Context, []Sample) error {
	f.calls++
	return f.err
}

var fanoutCases = []struct {
	name                string
	primary, secondary  error
	wantErr             bool
	wantSecondaryCalled bool
	wantReported        bool
}{
	{"both ok", nil, nil, false, true, false},
	{"primary fails: nothing forwarded, error returned", errors.New("disk full"), nil, true, false, false},
	{"secondary fails: reported, not returned", nil, errors.New("queue full"), false, true, true},
	{"primary refuses some samples: still forwarded", &RejectedError{Count: 1, Reason: "too_old", Err: errors.New("old")}, nil, true, true, false},
}

// TestFanout: the primary backend decides the result; secondary failures are reported, never returned, so an
// uplink in trouble cannot stop the edge from storing and acknowledging.
func TestFanout(t *testing.T) {
	for _, c := range fanoutCases {
		t.Run(c.name, func(t *testing.T) {
			p, s := &fakeAppender{err: c.primary}, &fakeAppender{err: c.secondary}
			reported := false
			f := &Fanout{Primary: p, Secondary: []Appender{s}, OnSecondaryError: func(int, error) { reported = true }}
			err := f.Append(context.Background(), []Sample{{Name: "x", T: 1, V: 1}})
			if (err != nil) != c.wantErr || (s.calls > 0) != c.wantSecondaryCalled || reported != c.wantReported {
				t.Errorf("err %v, secondary called %v, reported %v", err, s.calls > 0, reported)
			}
		})
	}
}

func TestRejectedErrorMessage(t *testing.T) {
	err := &RejectedError{Count: 3, Reason: "duplicate", Err: errors.New("x")}
	if got := err.Error(); got != "store: 3 samples rejected (duplicate): x" {
		t.Errorf("got %q", got)
	}
	if !errors.Is(err, err.Err) {
		t.Error("Unwrap lost the cause")
	}
}

func TestLabelsString(t *testing.T) {
	got := LabelsString("temperature", SortLabels([]Label{{"site", "a"}, {"device", "d1"}}))
	if got != `temperature{device="d1", site="a"}` {
		t.Errorf("got %s", got)
	}
}
