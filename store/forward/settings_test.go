package forward

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSettingsDefaults(t *testing.T) {
	s := Settings{QueueDir: "q", RetryMax: time.Hour}
	require.NoError(t, s.ApplyDefaults(Defaults{BatchSize: 7, RetryInitial: time.Second, RetryMax: time.Minute}))
	require.Equal(t, Settings{BatchSize: 7, FlushInterval: time.Second, RetryInitial: time.Second, RetryMax: time.Hour,
		Edge: s.Edge, QueueDir: "q", QueueFullPolicy: PolicyDropOldest, DeadLetterMaxBytes: 16 << 20}, s)
	require.NotEmpty(t, s.Edge, "the host name")
	require.NoError(t, s.Validate())
}

var settingsErrorCases = []struct {
	name string
	set  func(*Settings)
	err  string
}{
	{"no queue dir", func(s *Settings) { s.QueueDir = "" }, "queue_dir is required"},
	{"batch size", func(s *Settings) { s.BatchSize = -1 }, "batch_size must be >= 1, got -1"},
	{"retry order", func(s *Settings) { s.RetryMax = time.Millisecond }, "need 0 < retry_initial (1s) <= retry_max (1ms)"},
	{"negative retry", func(s *Settings) { s.RetryInitial = -1 }, "need 0 < retry_initial (-1ns) <= retry_max (1m0s)"},
	{"policy", func(s *Settings) { s.QueueFullPolicy = "spill" }, `queue_full_policy must be "drop_oldest" or "block", got "spill"`},
	{"dead letter", func(s *Settings) { s.DeadLetterMaxBytes = 10 }, "dead_letter_max_bytes must be >= 4096, got 10"},
}

func TestSettingsValidate(t *testing.T) {
	for _, c := range settingsErrorCases {
		t.Run(c.name, func(t *testing.T) {
			s := Settings{QueueDir: "q"}
			require.NoError(t, s.ApplyDefaults(Defaults{BatchSize: 1, RetryInitial: time.Second, RetryMax: time.Minute}))
			c.set(&s)
			require.EqualError(t, s.Validate(), c.err)
		})
	}
}
