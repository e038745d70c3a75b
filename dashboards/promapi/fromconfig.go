package promapi

import "citywatch/config"

// OptionsFromConfig are the query budget of http.query: concurrency, samples, points, step floor, rate and
// timeout of every API and UI query. The runtime parts (ClientKey, Logger, Registerer, Rules, Status) are the
// caller's.
func OptionsFromConfig(q config.HTTPQueryConfig) Options {
	return Options{
		Timeout: q.Timeout.Std(), MaxSamples: q.MaxSamples, MaxConcurrent: q.MaxConcurrent,
		MaxConcurrentPerClient: q.MaxConcurrentPerClient, QueueWait: q.QueueWait.Std(),
		RatePerClient: q.RatePerClient, BurstPerClient: q.BurstPerClient,
		MaxPoints: q.MaxPoints, MinStep: q.MinStep.Std(),
	}
}
