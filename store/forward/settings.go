package forward

import (
	"errors"
	"fmt"
	"os"
	"time"

	"citywatch/store/diskqueue"
)

// Queue-full policies, the values of a backend's queue_full_policy.
const (
	// PolicyDropOldest deletes the oldest queued items to make room, counting each one.
	PolicyDropOldest = string(diskqueue.DropOldest)
	// PolicyBlock makes Append wait for space (or its context).
	PolicyBlock = string(diskqueue.Block)
)

// Settings are the queue, batch and retry fields that every backend's Config embeds, so that their
// defaults and checks are written once. The defaults of BatchSize, RetryInitial and RetryMax differ between
// backends (see each backend's Config); the others are the same everywhere.
type Settings struct {
	// BatchSize is the most samples sent in one write request. Its default is the backend's.
	BatchSize int
	// FlushInterval is how long a partial batch waits for more samples before it is sent, and the group
	// commit interval of the queue (fsync at least this often). It defaults to 1s.
	FlushInterval time.Duration
	// RetryInitial is the first backoff after a failed write; it doubles per failure, with jitter. Its
	// default is the backend's.
	RetryInitial time.Duration
	// RetryMax caps the backoff. Its default is the backend's.
	RetryMax time.Duration

	// Edge is the edge identity, sent with every sample (how depends on the backend). It defaults to the
	// host name.
	Edge string

	// QueueDir holds the durable queue and the backend's dead-letter file. Required.
	QueueDir string
	// QueueMaxBytes bounds the queue on disk. It defaults to 1 GiB.
	QueueMaxBytes int64
	// QueueSegmentBytes is the queue segment size. It defaults to QueueMaxBytes/16, at most 64 MiB.
	QueueSegmentBytes int64
	// QueueFullPolicy is "drop_oldest" or "block". It defaults to "drop_oldest".
	QueueFullPolicy string
	// DeadLetterMaxBytes bounds the dead-letter file; when full it is rotated to <file>.1 (replacing the
	// previous one). It defaults to 16 MiB.
	DeadLetterMaxBytes int64
}

// Defaults are the defaults that differ between backends.
type Defaults struct {
	BatchSize    int
	RetryInitial time.Duration
	RetryMax     time.Duration
}

// ApplyDefaults sets the zero fields: d's, FlushInterval 1s, Edge the host name, QueueFullPolicy
// "drop_oldest", DeadLetterMaxBytes 16 MiB.
func (s *Settings) ApplyDefaults(d Defaults) error {
	setZero(&s.BatchSize, d.BatchSize)
	setZero(&s.FlushInterval, time.Second)
	setZero(&s.RetryInitial, d.RetryInitial)
	setZero(&s.RetryMax, d.RetryMax)
	setZero(&s.QueueFullPolicy, PolicyDropOldest)
	setZero(&s.DeadLetterMaxBytes, 16<<20)
	if s.Edge == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("edge not set and host name unknown: %w", err)
		}
		s.Edge = h
	}
	return nil
}

func setZero[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate checks the settings; its errors name the configuration key.
func (s *Settings) Validate() error {
	switch {
	case s.QueueDir == "":
		return errors.New("queue_dir is required")
	case s.BatchSize < 1:
		return fmt.Errorf("batch_size must be >= 1, got %d", s.BatchSize)
	case s.RetryInitial < 0 || s.RetryMax < s.RetryInitial:
		return fmt.Errorf("need 0 < retry_initial (%s) <= retry_max (%s)", s.RetryInitial, s.RetryMax)
	case s.QueueFullPolicy != PolicyDropOldest && s.QueueFullPolicy != PolicyBlock:
		return fmt.Errorf("queue_full_policy must be %q or %q, got %q", PolicyDropOldest, PolicyBlock, s.QueueFullPolicy)
	case s.DeadLetterMaxBytes < 4096:
		return fmt.Errorf("dead_letter_max_bytes must be >= 4096, got %d", s.DeadLetterMaxBytes)
	}
	return nil
}

// Queue is the durable queue's configuration for these settings (after ApplyDefaults).
func (s *Settings) Queue() diskqueue.Config {
	return diskqueue.Config{
		Dir:          s.QueueDir,
		MaxBytes:     s.QueueMaxBytes,
		SegmentBytes: s.QueueSegmentBytes,
		Policy:       diskqueue.Policy(s.QueueFullPolicy),
		SyncInterval: s.FlushInterval,
	}
}
