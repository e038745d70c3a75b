package promapi

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/index"

	"citywatch/dashboards/auth"
)

// Status is what the status endpoints report about the running citywatch. Every field may be zero.
type Status struct {
	// StartTime is when the process started. It defaults to when New ran.
	StartTime time.Time
	// Flags are citywatch's command-line flags by name (/api/v1/status/flags). Nil answers {}.
	Flags map[string]string
	// Config returns the running configuration as YAML with every secret redacted (config.Config.String);
	// /api/v1/status/config answers it. Nil answers an empty document.
	Config func() string
	// LastReload reports the last configuration (re)load: when it happened and whether it succeeded. Nil
	// reports StartTime and success.
	LastReload func() (at time.Time, ok bool)
	// StorageRetention is the TSDB retention runtimeinfo reports ("15d"). It defaults to "".
	StorageRetention string
	// TSDB gives the head statistics of /api/v1/status/tsdb. Nil answers 503 unavailable: a centre's queries
	// read the remote engine, whose statistics are the engine's to give.
	TSDB TSDBStatser
}

// TSDBStatser is the embedded TSDB as the status endpoint reads it.
type TSDBStatser interface {
	// HeadStats returns the head block's statistics with the limit largest entries of each cardinality list,
	// and the number of chunks in the head.
	HeadStats(limit int) (*tsdb.Stats, int64, error)
}

// forbiddenUnlessAllSites refuses principals limited to some sites: the status endpoints describe the whole
// server (every site's series counts, configuration and flags). The REST layer refuses them first (the routes
// are AllSites); this holds wherever the API is mounted. Requests without a principal (no access control)
// pass, as ScopeToSites lets them.
func forbiddenUnlessAllSites(r *http.Request) *apiError {
	if p, ok := auth.FromContext(r.Context()); ok && !p.AllSites() {
		return &apiError{ErrorForbidden, errors.New("this endpoint describes every site; your account is limited to some")}
	}
	return nil
}

// runtimeInfoData is Prometheus' RuntimeInfo.
type runtimeInfoData struct {
	StartTime           time.Time `json:"startTime"`
	CWD                 string    `json:"CWD"`
	Hostname            string    `json:"hostname"`
	ServerTime          time.Time `json:"serverTime"`
	ReloadConfigSuccess bool      `json:"reloadConfigSuccess"`
	LastConfigTime      time.Time `json:"lastConfigTime"`
	CorruptionCount     int64     `json:"corruptionCount"`
	GoroutineCount      int       `json:"goroutineCount"`
	GOMAXPROCS          int       `json:"GOMAXPROCS"`
	GOMEMLIMIT          int64     `json:"GOMEMLIMIT"`
	GOGC                string    `json:"GOGC"`
	GODEBUG             string    `json:"GODEBUG"`
	StorageRetention    string    `json:"storageRetention"`
}

func (a *API) runtimeInfo(r *http.Request) apiResult {
	if err := forbiddenUnlessAllSites(r); err != nil {
		return apiResult{err: err}
	}
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "<error retrieving current working directory>"
	}
	host, err := os.Hostname()
	if err != nil {
		host = "<error retrieving hostname>"
	}
	last, ok := a.status.StartTime, true
	if a.status.LastReload != nil {
		last, ok = a.status.LastReload()
	}
	return apiResult{data: runtimeInfoData{
		StartTime: a.status.StartTime, CWD: cwd, Hostname: host, ServerTime: a.now().UTC(),
		ReloadConfigSuccess: ok, LastConfigTime: last,
		GoroutineCount: runtime.NumGoroutine(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GOMEMLIMIT: debug.SetMemoryLimit(-1), GOGC: os.Getenv("GOGC"), GODEBUG: os.Getenv("GODEBUG"),
		StorageRetention: a.status.StorageRetention,
	}}
}

func (a *API) statusFlags(r *http.Request) apiResult {
	if err := forbiddenUnlessAllSites(r); err != nil {
		return apiResult{err: err}
	}
	flags := map[string]string{}
	for k, v := range a.status.Flags {
		flags[k] = v
	}
	return apiResult{data: flags}
}

// configData is Prometheus' prometheusConfig.
type configData struct {
	YAML string `json:"yaml"`
}

func (a *API) statusConfig(r *http.Request) apiResult {
	if err := forbiddenUnlessAllSites(r); err != nil {
		return apiResult{err: err}
	}
	var yaml string
	if a.status.Config != nil {
		yaml = a.status.Config()
	}
	return apiResult{data: configData{YAML: yaml}}
}

// tsdbStat, headStats and tsdbStatus are Prometheus' TSDBStat, HeadStats and TSDBStatus.
type tsdbStat struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

type headStats struct {
	NumSeries     uint64 `json:"numSeries"`
	NumLabelPairs int    `json:"numLabelPairs"`
	ChunkCount    int64  `json:"chunkCount"`
	MinTime       int64  `json:"minTime"`
	MaxTime       int64  `json:"maxTime"`
}

type tsdbStatus struct {
	HeadStats                   headStats  `json:"headStats"`
	SeriesCountByMetricName     []tsdbStat `json:"seriesCountByMetricName"`
	LabelValueCountByLabelName  []tsdbStat `json:"labelValueCountByLabelName"`
	MemoryInBytesByLabelName    []tsdbStat `json:"memoryInBytesByLabelName"`
	SeriesCountByLabelValuePair []tsdbStat `json:"seriesCountByLabelValuePair"`
}

// maxTSDBLimit is Prometheus' cap on the limit parameter of /api/v1/status/tsdb.
const maxTSDBLimit = 10000

func (a *API) tsdbStatus(r *http.Request) apiResult {
	if err := forbiddenUnlessAllSites(r); err != nil {
		return apiResult{err: err}
	}
	limit := 10
	if s := r.Form.Get("limit"); s != "" {
		var err error
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 {
			return apiResult{err: &apiError{errorBadData, errors.New("limit must be a positive number")}}
		}
		if limit > maxTSDBLimit {
			return apiResult{err: &apiError{errorBadData, fmt.Errorf("limit must not exceed %d", maxTSDBLimit)}}
		}
	}
	if a.status.TSDB == nil {
		return apiResult{err: &apiError{errorUnavailable, errors.New("no TSDB statistics here: queries read a remote engine (storage.query); ask it for its /api/v1/status/tsdb")}}
	}
	s, chunks, err := a.status.TSDB.HeadStats(limit)
	if err != nil {
		return apiResult{err: &apiError{errorInternal, fmt.Errorf("TSDB head statistics: %w", err)}}
	}
	out := tsdbStatus{HeadStats: headStats{NumSeries: s.NumSeries, ChunkCount: chunks, MinTime: s.MinTime, MaxTime: s.MaxTime},
		SeriesCountByMetricName: []tsdbStat{}, LabelValueCountByLabelName: []tsdbStat{}, MemoryInBytesByLabelName: []tsdbStat{},
		SeriesCountByLabelValuePair: []tsdbStat{}}
	if ps := s.IndexPostingStats; ps != nil {
		out.HeadStats.NumLabelPairs = ps.NumLabelPairs
		out.SeriesCountByMetricName = tsdbStats(ps.CardinalityMetricsStats)
		out.LabelValueCountByLabelName = tsdbStats(ps.CardinalityLabelStats)
		out.MemoryInBytesByLabelName = tsdbStats(ps.LabelValueStats)
		out.SeriesCountByLabelValuePair = tsdbStats(ps.LabelValuePairsStats)
	}
	return apiResult{data: out}
}

func tsdbStats(in []index.Stat) []tsdbStat {
	out := make([]tsdbStat, 0, len(in))
	for _, s := range in {
		out = append(out, tsdbStat{Name: s.Name, Value: s.Count})
	}
	return out
}

// targetDiscovery is Prometheus' TargetDiscovery: citywatch scrapes nothing (devices push), so both lists
// are empty, never null.
type targetDiscovery struct {
	ActiveTargets       []struct{}     `json:"activeTargets"`
	DroppedTargets      []struct{}     `json:"droppedTargets"`
	DroppedTargetCounts map[string]int `json:"droppedTargetCounts"`
}

// targets answers /api/v1/targets. Prometheus filters by scrapePool and state; with no targets every filter
// gives the same empty lists.
func (a *API) targets(*http.Request) apiResult {
	return apiResult{data: targetDiscovery{ActiveTargets: []struct{}{}, DroppedTargets: []struct{}{},
		DroppedTargetCounts: map[string]int{}}}
}

// targetsMetadata answers /api/v1/targets/metadata: no targets, so no metadata.
func (a *API) targetsMetadata(*http.Request) apiResult { return apiResult{data: []struct{}{}} }

// alertmanagersData is Prometheus' AlertmanagerDiscovery: citywatch notifies through its own receivers.
type alertmanagersData struct {
	ActiveAlertmanagers  []struct{} `json:"activeAlertmanagers"`
	DroppedAlertmanagers []struct{} `json:"droppedAlertmanagers"`
}

func (a *API) alertmanagers(*http.Request) apiResult {
	return apiResult{data: alertmanagersData{ActiveAlertmanagers: []struct{}{}, DroppedAlertmanagers: []struct{}{}}}
}
