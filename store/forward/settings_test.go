package forward

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type settingsFields struct {
	batch               int
	flush, rInit, rMax  time.Duration
	edge, dir, policy   string
	maxB, segB, dlBytes int64
}

func (f *settingsFields) settings() Settings {
	return Settings{BatchSize: &f.batch, FlushInterval: &f.flush, RetryInitial: &f.rInit, RetryMax: &f.rMax,
		Edge: &f.edge, QueueDir: &f.dir, QueueMaxBytes: &f.maxB, QueueSegmentBytes: &f.segB,
		QueueFullPolicy: &f.policy, DeadLetterMaxBytes: &f.dlBytes}
}

func TestSettingsDefaults(t *testing.T) {
	f := settingsFields{dir: "q", rMax: time.Hour}
	require.NoError(t, f.settings().ApplyDefaults(Defaults{BatchSize: 7, RetryInitial: time.Second, RetryMax: time.Minute}))
	require.Equal(t, settingsFields{batch: 7, flush: time.Second, rInit: time.Second, rMax: time.Hour, edge: f.edge,
		dir: "q", policy: PolicyDropOldest, dlBytes: 16 << 20}, f)
	require.NotEmpty(t, f.edge, "the host name")
	require.NoError(t, f.settings().Validate())
}

var settingsErrorCases = []struct {
	name string
	set  func(*settingsFields)
	err  string
}{
	{"no queue dir", func(f *settingsFields) { f.dir = "" }, "queue_dir is required"},
	{"batch size", func(f *settingsFields) { f.batch = -1 }, "batch_size must be >= 1, got -1"},
	{"retry order", func(f *settingsFields) { f.rMax = time.Millisecond }, "need 0 < retry_initial (1s) <= retry_max (1ms)"},
	{"negative retry", func(f *settingsFields) { f.rInit = -1 }, "need 0 < retry_initial (-1ns) <= retry_max (1m0s)"},
	{"policy", func(f *settingsFields) { f.policy = "spill" }, `queue_full_policy must be "drop_oldest" or "block", got "spill"`},
	{"dead letter", func(f *settingsFields) { f.dlBytes = 10 }, "dead_letter_max_bytes must be >= 4096, got 10"},
}

func TestSettingsValidate(t *testing.T) {
	for _, c := range settingsErrorCases {
		t.Run(c.name, func(t *testing.T) {
			f := settingsFields{dir: "q"}
			require.NoError(t, f.settings().ApplyDefaults(Defaults{BatchSize: 1, RetryInitial: time.Second, RetryMax: time.Minute}))
			c.set(&f)
			require.EqualError(t, f.settings().Validate(), c.err)
		})
	}
}
