package notify

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
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
		recv, order, _, err := o.planReceivers(cc)
		if err != nil {
			return err
		}
		o.recvMu.Lock()
		o.recv, o.order = recv, order
		o.recvMu.Unlock()
		o.cc.Store(cc)
		return nil
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

// planReceivers builds the receiver states of cc, reusing the current ones whose configuration is unchanged;
// stale are the current ones it drops.
func (o *Outbox) planReceivers(cc *compiled) (recv map[string]*receiverState, order, stale []*receiverState, err error) {
	recv = make(map[string]*receiverState, len(cc.order))
	for _, name := range cc.order {
		cr := cc.receivers[name]
		rs := o.recv[name]
		if rs == nil || !reflect.DeepEqual(rs.cr.Receiver, cr.Receiver) || !slices.Equal(rs.cr.groupBy, cr.groupBy) {
			if rs, err = newReceiverState(cr, o.env); err != nil {
				return nil, nil, nil, err
			}
		}
		recv[name] = rs
		order = append(order, rs)
	}
	for _, rs := range o.order {
		if recv[rs.cr.Name] != rs {
			stale = append(stale, rs)
		}
	}
	return recv, order, stale, nil
}

// applyReceivers is SetConfig in the run loop, the only writer of delivery state: stale receivers' workers
// are told to hand their queued rows back and end; new ones start.
func (o *Outbox) applyReceivers(ctx context.Context, cc *compiled) error {
	recv, order, stale, err := o.planReceivers(cc)
	if err != nil {
		return err
	}
	o.recvMu.Lock()
	o.recv, o.order = recv, order
	o.recvMu.Unlock()
	o.cc.Store(cc)
	for _, rs := range stale {
		rs.retired.Store(true)
		close(rs.jobs)
	}
	started := 0
	for _, rs := range order {
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
	o.log.Info("receivers changed", "receivers", len(order), "started", started, "stopped", len(stale))
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
