package config

import "time"

// HTTPQueryConfig is the budget of the Prometheus query API (/api/v1/query, query_range, series, labels, label
// values), which the web UI's charts also use, so no query or burst of queries can take the process's memory.
// Rule evaluation has its own engine and is not counted against it. The memory arithmetic behind the defaults
// is in docs/configuration.md.
type HTTPQueryConfig struct {
	// MaxConcurrent is how many queries run at once; 0 means 2 per core (GOMAXPROCS), at most 8. It defaults
	// to 0.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxConcurrentPerClient is how many of those one user or API token (one address when anonymous) may
	// hold, so one client looping expensive queries leaves the others slots and cores; 0 means a quarter of
	// max_concurrent (half the cores by default), at least 1. It defaults to 0.
	MaxConcurrentPerClient int `yaml:"max_concurrent_per_client"`
	// QueueWait is how long a query waits for a free slot before it is answered 503 with Retry-After. It
	// defaults to 2s.
	QueueWait Duration `yaml:"queue_wait"`
	// RatePerClient is how many requests per second one user or API token (one address when anonymous) may
	// send to /api/v1, refused ones included, sustained; past it and burst_per_client a request is answered
	// 429 with Retry-After before it is parsed, so a client looping on refusals cannot take the CPU others'
	// queries need. It defaults to 20 (a 100-query Grafana dashboard refreshed every 5s).
	RatePerClient float64 `yaml:"rate_per_client"`
	// BurstPerClient is how many requests one client may send at once above rate_per_client. It defaults to
	// 100 (two large Grafana dashboards refreshing together).
	BurstPerClient int `yaml:"burst_per_client"`
	// MaxSamples is the most samples one query may hold in memory; past it the query is answered 422. It
	// defaults to 1000000.
	MaxSamples int `yaml:"max_samples"`
	// MaxPoints is the most points per series of a range query ((end-start)/step) and of one subquery
	// (range/step), at most Prometheus' 11000. It defaults to 11000.
	MaxPoints int `yaml:"max_points"`
	// MinStep is the smallest step of a range query and of a subquery ([1h:50ms] is refused). It defaults
	// to 1s.
	MinStep Duration `yaml:"min_step"`
	// Timeout is the longest a query may run; it is answered 503 after. It defaults to 30s.
	Timeout Duration `yaml:"timeout"`
}

// maxQueryPoints is Prometheus' limit of points per series of a range query, which http.query.max_points may
// only tighten.
const maxQueryPoints = 11_000

// defaultHTTPQuery are http.query's defaults; Default uses them.
func defaultHTTPQuery() HTTPQueryConfig {
	return HTTPQueryConfig{
		QueueWait:      Duration(2 * time.Second),
		RatePerClient:  20,
		BurstPerClient: 100,
		MaxSamples:     1_000_000,
		MaxPoints:      maxQueryPoints,
		MinStep:        Duration(time.Second),
		Timeout:        Duration(30 * time.Second),
	}
}

func (c *Config) validateHTTPQuery(v validator) {
	q := &c.HTTP.Query
	if q.MaxConcurrent < 0 || q.MaxConcurrent > 10_000 {
		v.add("http.query.max_concurrent", "must be 0 (2 per core) to 10000; got %d", q.MaxConcurrent)
	}
	switch {
	case q.MaxConcurrentPerClient < 0:
		v.add("http.query.max_concurrent_per_client", "must be >= 0; got %d", q.MaxConcurrentPerClient)
	case q.MaxConcurrent > 0 && q.MaxConcurrentPerClient > q.MaxConcurrent:
		v.add("http.query.max_concurrent_per_client", "must be <= max_concurrent (%d); got %d", q.MaxConcurrent, q.MaxConcurrentPerClient)
	}
	v.positive("http.query.queue_wait", q.QueueWait)
	if !(q.RatePerClient > 0) || q.RatePerClient > 1e6 {
		v.add("http.query.rate_per_client", "must be > 0 and <= 1000000 requests per second; got %g", q.RatePerClient)
	}
	if q.BurstPerClient < 1 || q.BurstPerClient > 1_000_000 {
		v.add("http.query.burst_per_client", "must be 1 to 1000000; got %d", q.BurstPerClient)
	}
	if q.MaxSamples < 1 {
		v.add("http.query.max_samples", "must be >= 1; got %d", q.MaxSamples)
	}
	if q.MaxPoints < 1 || q.MaxPoints > maxQueryPoints {
		v.add("http.query.max_points", "must be 1 to %d; got %d", maxQueryPoints, q.MaxPoints)
	}
	if q.MinStep < Duration(time.Millisecond) {
		v.add("http.query.min_step", "must be >= 1ms; got %s", quote(q.MinStep.String()))
	}
	v.positive("http.query.timeout", q.Timeout)
}
