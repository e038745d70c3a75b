package notify

import (
	"context"
	"fmt"
)

// SendDirect renders c for receiver and makes one delivery attempt now, outside the durable outbox: for the
// canary's fallback alarm, which must not depend on the outbox whose health it reports. It goes through the
// receiver's integration like every delivery (signed, guarded) and returns the attempt's error; nothing is
// stored or retried.
func (o *Outbox) SendDirect(ctx context.Context, receiver string, c Change) error {
	o.recvMu.RLock()
	rs, ok := o.recv[receiver]
	o.recvMu.RUnlock()
	if !ok {
		return fmt.Errorf("notify: unknown receiver %q", receiver)
	}
	if _, err := rs.notifier.Notify(ctx, NewMessage(IdempotencyKey(c, receiver), c)); err != nil {
		return fmt.Errorf("notify: direct delivery to %q failed: %s", receiver, err)
	}
	return nil
}
