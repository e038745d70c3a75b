package notify

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"citywatch/internal/reconcile"
)

// reconfig asks the run loop to apply a new receiver set.
type reconfig struct {
	cc   *compiled
	done chan error
}

// SetConfig replaces the receivers, routes and default receiver with cfg's, as a configuration reload does;
// the other fields keep the values NewOutbox was given (they need a new outbox). A receiver whose
// configuration is unchanged keeps its workers, breaker and in-flight deliveries; a changed one is replaced
// (its queued deliveries go back to pending and are sent by the new one, to its new URL); a removed one stops,
// and its pending deliveries are marked failed as at Start (Replay revives them once it is back). Deliveries
// already stored keep the receiver they were routed to. On an invalid cfg nothing changes.
func (o *Outbox) SetConfig(cfg Config) error {
	cur := o.cc.Load().cfg
	next := cur
	next.Receivers, next.Routes, next.DefaultReceiver = cfg.Receivers, cfg.Routes, cfg.DefaultReceiver
	cc, err := compileConfig(next.withDefaults())
	if err != nil {
		return fmt.Errorf("notify: invalid config: %w", err)
	}
	o.mu.Lock()
	closed, started := o.closed, o.started
	if closed {
		o.mu.Unlock()
		return ErrClosed
	}
	if !started { // nothing runs yet: Start starts what is set here
		defer o.mu.Unlock()
		_, err := o.swapReceivers(cc)
		return err
	}
	o.mu.Unlock()
	rc := reconfig{cc: cc, done: make(chan error, 1)}
	select {
	case o.reconf <- rc:
		return <-rc.done
	case <-o.done:
		return ErrClosed
	}
}

// swapReceivers makes cc the configuration, reusing the receiver states whose receiver is unchanged, and
// returns the states it drops (removed, or changed and so replaced).
func (o *Outbox) swapReceivers(cc *compiled) (stale []*receiverState, err error) {
	cur := &reconcile.Set[*receiverState]{List: o.order, ByID: o.recv}
	next, stale, err := reconcile.Plan(cur, cc.order, func(name string) string { return name },
		func(rs *receiverState, name string) bool {
			cr := cc.receivers[name]
			return reflect.DeepEqual(rs.cr.Receiver, cr.Receiver) && slices.Equal(rs.cr.groupBy, cr.groupBy)
		},
		func(name string) (*receiverState, error) { return newReceiverState(cc.receivers[name], o.env) })
	if err != nil {
		return nil, err
	}
	o.recvMu.Lock()
	o.recv, o.order = next.ByID, next.List
	o.recvMu.Unlock()
	o.cc.Store(cc)
	return stale, nil
}

// applyReceivers is SetConfig in the run loop, the only writer of delivery state: stale receivers' workers
// are told to hand their queued rows back and end; new ones start.
func (o *Outbox) applyReceivers(ctx context.Context, cc *compiled) error {
	stale, err := o.swapReceivers(cc)
	if err != nil {
		return err
	}
	for _, rs := range stale {
		rs.retired.Store(true)
		close(rs.jobs)
	}
	started := 0
	for _, rs := range o.order {
		if rs.workers {
			continue
		}
		rs.workers = true
		started++
		for i := 0; i < rs.cr.MaxConcurrency; i++ {
			o.workers.Add(1)
			go o.worker(ctx, rs)
		}
	}
	o.log.Info("receivers changed", "receivers", len(o.order), "started", started, "stopped", len(stale))
	if err := o.failUnconfigured(ctx); err != nil {
		o.log.Warn("the change applies; the pending deliveries of removed receivers stay pending until the next start", "err", err)
	}
	return nil
}

// failUnconfigured marks failed the pending rows whose receiver is not configured: they would otherwise wait
// forever. Replay revives them once the receiver is back.
func (o *Outbox) failUnconfigured(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := []any{o.clock.Now().UnixMilli()}
	ph := make([]string, 0, len(o.order))
	for _, rs := range o.order {
		args = append(args, rs.cr.Name)
		ph = append(ph, "?")
	}
	q := `UPDATE notify_deliveries SET status='failed', last_error='receiver not configured', updated_at=? WHERE status='pending'`
	if len(ph) > 0 {
		q += ` AND receiver NOT IN (` + strings.Join(ph, ",") + `)`
	}
	res, err := o.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("notify: fail deliveries of removed receivers: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		o.log.Warn("deliveries for receivers no longer configured marked failed", "count", n)
	}
	return nil
}
