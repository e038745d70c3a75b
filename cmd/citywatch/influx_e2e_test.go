package main_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"citywatch/internal/testenv"
)

// influxSeqValues returns how often each sequence value of measurement "seq" tagged with the edge and site is
// stored in InfluxDB.
func influxSeqValues(influx *testenv.InfluxServer, edge, site string) (map[int]int, error) {
	vs, err := influx.Values(fmt.Sprintf(`SELECT "value" FROM "seq" WHERE "edge" = '%s' AND "site" = '%s'`, edge, site))
	if err != nil {
		return nil, err
	}
	seen := map[int]int{}
	for _, v := range vs {
		seen[int(v)]++
	}
	return seen, nil
}

// checkExactlyOnce reports "" when every sequence number below n is stored exactly once and nothing else is.
func checkExactlyOnce(seen map[int]int, n int) string {
	var missing, dup []int
	for i := 0; i < n; i++ {
		switch seen[i] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			dup = append(dup, i)
		}
	}
	if len(seen) > n {
		return fmt.Sprintf("%d distinct values stored, want %d", len(seen), n)
	}
	if len(missing) > 0 || len(dup) > 0 {
		return fmt.Sprintf("%d missing (first %v), %d duplicated (first %v)", len(missing), missing[:min(5, len(missing))],
			len(dup), dup[:min(5, len(dup))])
	}
	return ""
}

type readyz struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// TestInfluxForwarding drives the InfluxDB forwarder through the built binary: sensor JSON published over MQTT
// to the embedded broker lands in InfluxDB with the edge and site tags; while influxd is down the edge stays
// ready (edge autonomy) with the outage in the /readyz detail and keeps queueing; after influxd is back every
// sample is in InfluxDB exactly once.
func TestInfluxForwarding(t *testing.T) {
	e2e(t)
	influx := testenv.Influxd(t)
	const edge, site = "edge-7", "north"
	cw := newServe(t, withYAML(fmt.Sprintf(`edge:
  name: %s
  site: %s
storage:
  influx:
    url: %s
    org: %s
    bucket: %s
    flush_interval: 200ms
    timeout: 2s
    retry_max: 2s
`, edge, site, influx.URL, influx.Org, influx.Bucket)))
	base := cw.base()
	p := cw.start(t)
	c := mqttClient(t, cw.broker(), "e2e-influx-sensor")

	t0 := time.Now().Add(-10 * time.Minute).UnixMilli()
	publishRange := func(from, to int) {
		for i := from; i < to; i++ {
			publish(t, c, "city/d1/"+site+"/seqdev", 1, fmt.Sprintf(`{"seq":%d,"ts":%d}`, i, t0+int64(i)))
		}
	}
	waitInflux := func(n int, within time.Duration) {
		t.Helper()
		eventually(t, within, func() string {
			seen, err := influxSeqValues(influx, edge, site)
			if err != nil {
				return err.Error()
			}
			if msg := checkExactlyOnce(seen, n); msg != "" {
				return fmt.Sprintf("after %d published: %s", n, msg)
			}
			return ""
		})
	}

	const first, second = 300, 700
	publishRange(0, first)
	waitInflux(first, 60*time.Second)
	if n, err := influx.Count("seq", fmt.Sprintf(`"edge" = '%s' AND "site" = '%s' AND "device" = 'seqdev' AND "district" = 'd1'`, edge, site)); err != nil || n != first {
		t.Fatalf("count with the topic labels as tags: %d, %v; want %d", n, err, first)
	}

	influx.Stop()
	publishRange(first, second)
	// While InfluxDB is down the edge stays ready and says why in the detail; the samples are queued and
	// already queryable in the embedded TSDB.
	eventually(t, 60*time.Second, func() string {
		var r readyz
		code, err := getJSON(base, "/readyz", &r)
		if err != nil {
			return err.Error()
		}
		if code != http.StatusOK || r.Status != "ready" {
			return fmt.Sprintf("/readyz %d %+v: the InfluxDB outage must not make the edge unready", code, r)
		}
		if d := r.Checks["influx"]; d == "" || d == "ok" {
			return fmt.Sprintf("/readyz does not show the InfluxDB outage yet: %+v", r.Checks)
		}
		return ""
	})
	eventually(t, 30*time.Second, func() string {
		res := query(t, base, `count_over_time(seq{device="seqdev"}[1h])`)
		if len(res.Data.Result) != 1 || res.Data.Result[0].Value[1] != fmt.Sprint(second) {
			return fmt.Sprintf("embedded TSDB during the outage: %+v", res.Data.Result)
		}
		return ""
	})

	influx.Start()
	waitInflux(second, 120*time.Second)
	eventually(t, 60*time.Second, func() string {
		var r readyz
		if _, err := getJSON(base, "/readyz", &r); err != nil {
			return err.Error()
		}
		if r.Checks["influx"] != "ok" {
			return fmt.Sprintf("influx check after recovery: %q", r.Checks["influx"])
		}
		return ""
	})
	p.stop()
}
