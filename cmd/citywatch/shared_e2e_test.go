package main_test

import (
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"citywatch/internal/testenv"
)

// seqCounts returns how often each sequence number of device shareddev is stored in one collector's TSDB.
func seqCounts(base string) (map[int]int, error) {
	var r promResult
	code, err := getJSON(base, "/api/v1/query?query="+url.QueryEscape(`seq{device="shareddev"}[1h]`), &r)
	if err != nil {
		return nil, err
	}
	if code != 200 || r.Status != "success" {
		return nil, fmt.Errorf("query: %d %s", code, r.Error)
	}
	seen := map[int]int{}
	for _, s := range r.Data.Result {
		for _, v := range s.Values {
			str, _ := v[1].(string)
			i, err := strconv.Atoi(str)
			if err != nil {
				return nil, fmt.Errorf("value %v: %w", v[1], err)
			}
			seen[i]++
		}
	}
	return seen, nil
}

// TestSharedSubscription runs two collectors on one mosquitto with the same ingest.sources[].shared_group:
// the broker splits the QoS 1 messages between them, so together they store every one of 2,000 sequence
// numbers while neither stores all of them.
func TestSharedSubscription(t *testing.T) {
	e2e(t)
	mq := testenv.Mosquitto(t)
	type collector struct {
		p    *proc
		base string
	}
	var cols []collector
	for i := 0; i < 2; i++ {
		cw := newServe(t, asCollector("city-broker", mq.URL, fmt.Sprintf("citywatch-shared-%d", i), "shared_group: collectors"))
		c := collector{p: cw.start(t), base: cw.base()} // ready means subscribed: the shared subscription exists from here on
		cols = append(cols, c)
	}

	const total = 2000
	pub := mqttClient(t, mq.URL, "e2e-shared-publisher")
	t0 := time.Now().Add(-10 * time.Minute).UnixMilli()
	for i := 0; i < total; i++ {
		publish(t, pub, "city/d1/siteA/shareddev", 1, fmt.Sprintf(`{"seq":%d,"ts":%d}`, i, t0+int64(i)))
	}

	var counts [2]int
	eventually(t, 60*time.Second, func() string {
		union := map[int]bool{}
		for k, c := range cols {
			seen, err := seqCounts(c.base)
			if err != nil {
				return fmt.Sprintf("collector %d: %v", k, err)
			}
			counts[k] = len(seen)
			for i := range seen {
				union[i] = true
			}
		}
		var missing []int
		for i := 0; i < total; i++ {
			if !union[i] {
				missing = append(missing, i)
			}
		}
		if len(missing) > 0 {
			return fmt.Sprintf("%d of %d sequence numbers stored by neither collector (first %v); per collector %v",
				len(missing), total, missing[:min(10, len(missing))], counts)
		}
		return ""
	})
	for k, n := range counts {
		if n == total {
			t.Errorf("collector %d stored all %d messages: the shared subscription did not split the load (%v)", k, total, counts)
		}
		if n == 0 {
			t.Errorf("collector %d stored nothing (%v)", k, counts)
		}
	}
	t.Logf("messages per collector: %v of %d", counts, total)
	for _, c := range cols {
		c.p.stop()
	}
}
