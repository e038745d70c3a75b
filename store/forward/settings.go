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

// Settings point at the queue, batch and retry fields that every backend's Config has, so that their
// defaults and checks are written once while each backend keeps its own Config type.
type Settings struct {
	BatchSize          *int
	FlushInterval      *time.Duration
	RetryInitial       *time.Duration
	RetryMax           *time.Duration
	Edge               *string
	QueueDir           *string
	QueueMaxBytes      *int64
	QueueSegmentBytes  *int64
	QueueFullPolicy    *string
	DeadLetterMaxBytes *int64
}

// Defaults are the defaults that differ between backends.
type Defaults struct {
	BatchSize    int
	RetryInitial time.Duration
	RetryMax     time.Duration
}

// ApplyDefaults sets the zero fields: d's, FlushInterval 1s, Edge the host name, QueueFullPolicy
// "drop_oldest", DeadLetterMaxBytes 16 MiB.
func (s Settings) ApplyDefaults(d Defaults) error {
	setZero(s.BatchSize, d.BatchSize)
	setZero(s.FlushInterval, time.Second)
	setZero(s.RetryInitial, d.RetryInitial)
	setZero(s.RetryMax, d.RetryMax)
	setZero(s.QueueFullPolicy, PolicyDropOldest)
	setZero(s.DeadLetterMaxBytes, 16<<20)
	if *s.Edge == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("edge not set and host name unknown: %w", err)
		}
		*s.Edge = h
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
func (s Settings) Validate() error {
	switch {
	case *s.QueueDir == "":
		return errors.New("queue_dir is required")
	case *s.BatchSize < 1:
		return fmt.Errorf("batch_size must be >= 1, got %d", *s.BatchSize)
	case *s.RetryInitial < 0 || *s.RetryMax < *s.RetryInitial:
		return fmt.Errorf("need 0 < retry_initial (%s) <= retry_max (%s)", *s.RetryInitial, *s.RetryMax)
	case *s.QueueFullPolicy != PolicyDropOldest && *s.QueueFullPolicy != PolicyBlock:
		return fmt.Errorf("queue_full_policy must be %q or %q, got %q", PolicyDropOldest, PolicyBlock, *s.QueueFullPolicy)
	case *s.DeadLetterMaxBytes < 4096:
		return fmt.Errorf("dead_letter_max_bytes must be >= 4096, got %d", *s.DeadLetterMaxBytes)
	}
	return nil
}

// Queue is the durable queue's configuration for these settings (after ApplyDefaults).
func (s Settings) Queue() diskqueue.Config {
	return diskqueue.Config{
		Dir:          *s.QueueDir,
		MaxBytes:     *s.QueueMaxBytes,
		SegmentBytes: *s.QueueSegmentBytes,
		Policy:       diskqueue.Policy(*s.QueueFullPolicy),
		SyncInterval: *s.FlushInterval,
	}
}
