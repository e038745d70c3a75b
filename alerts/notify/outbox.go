// Package notify delivers alert notifications: receivers and routes, webhook formats, the durable outbox in
// SQLite, signing, retries with backoff, SSRF-safe dialing, and the delivery log.
package notify

import (
	"context"
	"database/sql"
	"time"
)

// Change is one alert state change to notify about. The alerts package fills it; notify routes it to receivers
// and renders it per receiver format.
type Change struct {
	// Fingerprint identifies the alert (stable hash of its labels).
	Fingerprint string
	// Name is the alert name (the "alertname" label).
	Name string
	// State is "firing" or "resolved"; Reminder marks a repeat notification of a still-firing unacked alert.
	State    string
	Reminder bool
	Labels      map[string]string
	Annotations map[string]string
	// Value is the expression value that fired the alert (NaN for event alerts without one).
	Value    float64
	StartsAt time.Time
	EndsAt   time.Time // zero while firing
	// OutageDuration is set on a resolve: how long the alert was firing.
	OutageDuration time.Duration
	// Acked says who acknowledged the alert, if anyone.
	AckedBy string
	// GeneratorURL links to the alert in citywatch's UI or API.
	GeneratorURL string
}

// Enqueuer commits notifications inside the caller's transaction, so an alert change and its notifications are
// stored together or not at all (the durable outbox). Implemented by *Outbox.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, changes ...Change) error
}
