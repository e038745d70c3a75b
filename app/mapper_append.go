package app

import (
	"time"

	"citywatch/ingest/mapping"
	"citywatch/store"
)

// MapAppend maps with the current mapper into dst (mapping.Mapper.MapAppend), so that the ingest pipeline
// reuses its samples buffers through the reloadable mapper too.
func (s *swapMapper) MapAppend(dst []store.Sample, topic string, payload []byte, now time.Time) (mapping.Result, error) {
	return s.cur.Load().MapAppend(dst, topic, payload, now)
}
