package notify

import (
	"context"
	"fmt"
)

// SendDirect renders c for receiver and makes one delivery attempt now, outside the durable outbox: for the
// canary's fallback alarm, which must not depend on the outbox whose health it reports. It is signed and
// guarded like every delivery, and returns the attempt's error; nothing is stored or retried.
func (o *Outbox) SendDirect(ctx context.Context, receiver string, c Change) error {
	rs, ok := o.recv[receiver]
	if !ok {
		return fmt.Errorf("notify: unknown receiver %q", receiver)
	}
	key := IdempotencyKey(c, receiver)
	sc := toStored(c)
	body, ctype, err := render(rs.cr, buildPayload(key, receiver, o.cc.cfg.ExternalURL, sc), sc, o.cc.cfg.ExternalURL)
	if err != nil {
		return fmt.Errorf("notify: render for %q: %w", receiver, err)
	}
	j := job{key: key, receiver: receiver}
	var res result
	if rs.cr.Format == FormatMQTT {
		res, _ = o.publishMQTT(sc, body, j)
	} else {
		res, _ = o.post(ctx, rs, j, body, ctype, o.clock.Now())
	}
	if res.kind != resDelivered {
		return fmt.Errorf("notify: direct delivery to %q failed: %s", receiver, res.err)
	}
	return nil
}
