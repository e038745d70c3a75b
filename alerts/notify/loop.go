package notify

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// housekeepingEvery is how often finished rows older than Config.Retention are pruned.
const housekeepingEvery = time.Hour

// run is the single goroutine that writes delivery state: each cycle records finished attempts and claims due
// rows for receivers with free capacity in one transaction, so SQLite sees few, batched writes.
func (o *Outbox) run(ctx context.Context) {
	defer close(o.done)
	tick := o.clock.NewTicker(o.cc.Load().cfg.PollInterval)
	defer tick.Stop()
	// The recheck waits for another goroutine's commit, which happens in real time whatever o.clock says.
	recheck := time.NewTimer(time.Hour)
	recheck.Stop()
	var pending []result
	var lastPrune time.Time
	o.updatePending(ctx)
	for {
		select {
		case <-ctx.Done():
			o.shutdown(pending)
			return
		case r := <-o.results:
			pending = o.drain(append(pending, r))
		case <-o.wake:
			// The enqueuing transaction may not have committed yet: look now and once more shortly.
			recheck.Reset(20 * time.Millisecond)
		case <-recheck.C:
		case rc := <-o.reconf:
			rc.done <- o.applyReceivers(ctx, rc.cc)
		case <-tick.C():
			o.updatePending(ctx)
			if now := o.clock.Now(); now.Sub(lastPrune) >= housekeepingEvery {
				lastPrune = now
				o.prune(ctx, now)
			}
		}
		pending = o.cycle(ctx, pending, true)
		o.cycles.Add(1)
	}
}

// drain appends results that are already waiting, up to a batch.
func (o *Outbox) drain(pending []result) []result {
	for len(pending) < 1024 {
		select {
		case r := <-o.results:
			pending = append(pending, r)
		default:
			return pending
		}
	}
	return pending
}

// cycle applies results and claims new rows. On a database error the results are kept for the next cycle
// (nothing is lost; the rows stay "delivering" until recorded).
func (o *Outbox) cycle(ctx context.Context, pending []result, claim bool) []result {
	now := o.clock.Now()
	claims, err := o.writeCycle(ctx, pending, claim, now)
	if err != nil {
		if ctx.Err() == nil {
			o.logDBError(err)
		}
		return pending
	}
	o.dbErr = ""
	for _, r := range pending {
		rs := r.rs
		if rs == nil {
			rs = o.recv[r.job.receiver]
		}
		rs.inflight--
		switch r.kind {
		case resDelivered:
			o.m.deliveries.WithLabelValues(rs.cr.Name, StatusDelivered).Inc()
		case resDead:
			o.m.deliveries.WithLabelValues(rs.cr.Name, StatusDead).Inc()
		case resFailed:
			o.m.deliveries.WithLabelValues(rs.cr.Name, StatusFailed).Inc()
		}
	}
	for rs, jobs := range claims {
		rs.inflight += len(jobs)
		for _, j := range jobs {
			rs.jobs <- j // never blocks: inflight <= capacity == cap(jobs)
		}
	}
	return pending[:0]
}

func (o *Outbox) logDBError(err error) {
	if msg := err.Error(); msg != o.dbErr {
		o.dbErr = msg
		o.log.Error("outbox database error; retrying", "err", err)
	}
}

func (o *Outbox) writeCycle(ctx context.Context, pending []result, claim bool, now time.Time) (map[*receiverState][]job, error) {
	type want struct {
		rs *receiverState
		n  int
	}
	var wants []want
	if claim {
		for _, rs := range o.order {
			if n := rs.claimable(now); n > 0 {
				wants = append(wants, want{rs, n})
			}
		}
	}
	if len(pending) == 0 && len(wants) == 0 {
		return nil, nil
	}
	tx, err := o.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := o.applyResults(ctx, tx, pending); err != nil {
		return nil, err
	}
	claims := map[*receiverState][]job{}
	for _, w := range wants {
		jobs, err := o.claimRows(ctx, tx, w.rs, w.n, now)
		if err != nil {
			return nil, err
		}
		if len(jobs) > 0 {
			claims[w.rs] = jobs
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	return claims, nil
}

func (o *Outbox) applyResults(ctx context.Context, tx *sql.Tx, pending []result) error {
	if len(pending) == 0 {
		return nil
	}
	stmt := tx.StmtContext(ctx, o.stmts.apply)
	defer stmt.Close()
	for _, r := range pending {
		at := r.at.UnixMilli()
		var (
			status            string
			inc               = 1
			next, code, deliv any
			lastErr           any = r.err
		)
		code = r.statusCode
		switch r.kind {
		case resDelivered:
			status, deliv, lastErr = StatusDelivered, at, ""
		case resRetry:
			status, next = StatusPending, r.next.UnixMilli()
		case resDead:
			status = StatusDead
		case resFailed:
			status = StatusFailed
		case resRelease:
			status, inc, next, lastErr, code = StatusPending, 0, r.next.UnixMilli(), nil, nil
		}
		if _, err := stmt.ExecContext(ctx, status, inc, next, lastErr, code, deliv, at, r.job.id); err != nil {
			return fmt.Errorf("record delivery %d: %w", r.job.id, err)
		}
	}
	return nil
}

// claimRows marks up to n due rows of a receiver "delivering" and returns them. A row waits while an older
// row for the same alert and receiver is unfinished, so a receiver never sees "resolved" before "firing".
func (o *Outbox) claimRows(ctx context.Context, tx *sql.Tx, rs *receiverState, n int, now time.Time) ([]job, error) {
	stmt := tx.StmtContext(ctx, o.stmts.claim)
	defer stmt.Close()
	rows, err := stmt.QueryContext(ctx, now.UnixMilli(), rs.cr.Name, n)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	defer rows.Close()
	var jobs []job
	for rows.Next() {
		var j job
		var since int64
		if err := rows.Scan(&j.id, &j.key, &j.change, &j.attempts, &since); err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		j.retrySince = time.UnixMilli(since)
		j.receiver = rs.cr.Name
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return jobs, nil
}

// shutdown stops the workers, records what they finished and puts everything else back to pending.
func (o *Outbox) shutdown(pending []result) {
	for _, rs := range o.order {
		close(rs.jobs)
	}
	workersDone := make(chan struct{})
	go func() {
		o.workers.Wait()
		close(workersDone)
	}()
	for waiting := true; waiting; {
		select {
		case r := <-o.results:
			pending = append(pending, r)
		case <-workersDone:
			waiting = false
		}
	}
	pending = o.drain(pending)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rest := o.cycle(ctx, pending, false); len(rest) > 0 {
		o.log.Error("could not record finished deliveries at shutdown; they will be sent again", "count", len(rest))
	}
	if _, err := o.db.ExecContext(ctx, `UPDATE notify_deliveries SET status='pending', updated_at=? WHERE status='delivering'`,
		o.clock.Now().UnixMilli()); err != nil {
		o.log.Error("could not re-queue in-flight deliveries at shutdown; they are re-queued at next start", "err", err)
	}
	o.stmts.close()
	for _, rs := range o.order {
		if c, ok := rs.notifier.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}

func (o *Outbox) updatePending(ctx context.Context) {
	var n int64
	err := o.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notify_deliveries WHERE status IN ('pending','delivering')`).Scan(&n)
	if err == nil {
		o.m.pending.Set(float64(n))
	}
}

func (o *Outbox) prune(ctx context.Context, now time.Time) {
	cut := now.Add(-o.cc.Load().cfg.Retention).UnixMilli()
	res, err := o.db.ExecContext(ctx, `DELETE FROM notify_deliveries WHERE status IN ('delivered','failed','dead') AND updated_at < ?`, cut)
	if err != nil {
		if ctx.Err() == nil {
			o.log.Warn("pruning the delivery log failed", "err", err)
		}
		return
	}
	if n, _ := res.RowsAffected(); n > 0 {
		o.log.Debug("pruned delivery log", "rows", n)
	}
}

// Statements the run loop executes every cycle, prepared once (SQLite parsing is a large part of a cycle).
const (
	sqlApplyResult = `UPDATE notify_deliveries SET status=?, attempts=attempts+?,
		next_attempt_at=COALESCE(?, next_attempt_at), last_error=COALESCE(?, last_error),
		last_status_code=COALESCE(?, last_status_code), delivered_at=COALESCE(?, delivered_at), updated_at=?
		WHERE id=? AND status='delivering'`
	sqlInsert = `INSERT INTO notify_deliveries
		(idempotency_key, receiver, fingerprint, alert_name, alert_state, change_json, status, next_attempt_at, retry_since, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`
	sqlClaim = `UPDATE notify_deliveries SET status='delivering', updated_at=?1
		WHERE id IN (
			SELECT d.id FROM notify_deliveries d
			WHERE d.receiver=?2 AND d.status='pending' AND d.next_attempt_at<=?1
			AND NOT EXISTS (SELECT 1 FROM notify_deliveries e WHERE e.receiver=d.receiver
				AND e.fingerprint=d.fingerprint AND e.id<d.id AND e.status IN ('pending','delivering'))
			ORDER BY d.next_attempt_at, d.id LIMIT ?3)
		RETURNING id, idempotency_key, change_json, attempts, retry_since`
)

type statements struct {
	apply, claim, insert *sql.Stmt
}

func prepareStatements(ctx context.Context, db *sql.DB) (statements, error) {
	var st statements
	var err error
	if st.apply, err = db.PrepareContext(ctx, sqlApplyResult); err != nil {
		return st, fmt.Errorf("notify: prepare: %w", err)
	}
	if st.claim, err = db.PrepareContext(ctx, sqlClaim); err != nil {
		st.apply.Close()
		return st, fmt.Errorf("notify: prepare: %w", err)
	}
	if st.insert, err = db.PrepareContext(ctx, sqlInsert); err != nil {
		st.apply.Close()
		st.claim.Close()
		return st, fmt.Errorf("notify: prepare: %w", err)
	}
	return st, nil
}

func (st statements) close() {
	if st.apply != nil {
		st.apply.Close()
		st.claim.Close()
		st.insert.Close()
	}
}
