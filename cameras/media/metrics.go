package media

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Results for citywatch_media_snapshots_total.
const (
	snapOK          = "ok"
	snapCached      = "cached"
	snapNoKeyframe  = "no_keyframe"
	snapUnavailable = "unavailable"
	snapError       = "error"
	snapCanceled    = "canceled"
)

// Results for citywatch_media_clips_total.
const (
	clipWritten   = "written"
	clipFailed    = "failed"
	clipDiscarded = "discarded" // nothing recorded, or a leftover temporary file
	clipExpired   = "expired"   // deleted by retention age
	clipEvicted   = "evicted"   // deleted by the total size bound
)

// Reasons for citywatch_media_dropped_total.
const (
	dropUnknownCamera = "unknown_camera"
	dropRingOversized = "ring_gop_too_large"
	dropRingWaitKey   = "ring_wait_keyframe"
	dropClipQueue     = "clip_queue_full"
	dropClipWaitKey   = "clip_wait_keyframe"
	dropLiveSlow      = "live_slow_viewer"
	dropLiveWaitKey   = "live_wait_keyframe"
	dropLiveBadFrame  = "live_bad_frame"
)

type metrics struct {
	ringBytes    *prometheus.GaugeVec
	ringEvicted  *prometheus.CounterVec
	snapshots    *prometheus.CounterVec
	clips        *prometheus.CounterVec
	clipBytes    prometheus.Gauge
	liveViewers  prometheus.Gauge
	dropped      *prometheus.CounterVec
	recordings   prometheus.Gauge
	snapDuration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		ringBytes: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "citywatch_media_ring_bytes", Help: "Memory accounted to each camera's ring buffer.",
		}, []string{"camera"}),
		ringEvicted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_media_ring_evicted_gops_total", Help: "GOPs evicted from a camera's ring buffer by its time or size bound.",
		}, []string{"camera"}),
		snapshots: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_media_snapshots_total", Help: "Snapshot requests by result.",
		}, []string{"result"}),
		clips: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_media_clips_total", Help: "Event clips by result (written, failed, discarded, expired, evicted).",
		}, []string{"result"}),
		clipBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "citywatch_media_clip_bytes", Help: "Total size of stored event clips.",
		}),
		liveViewers: f.NewGauge(prometheus.GaugeOpts{
			Name: "citywatch_media_live_viewers", Help: "Connected live view WebSocket clients.",
		}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_media_dropped_total", Help: "Access units not buffered, recorded or sent, by reason.",
		}, []string{"reason"}),
		recordings: f.NewGauge(prometheus.GaugeOpts{
			Name: "citywatch_media_recordings", Help: "Event clips being recorded.",
		}),
		snapDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name: "citywatch_media_snapshot_duration_seconds", Help: "Time to decode one snapshot with ffmpeg.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
	}
	for _, r := range []string{snapOK, snapCached, snapNoKeyframe, snapUnavailable, snapError, snapCanceled} {
		m.snapshots.WithLabelValues(r)
	}
	for _, r := range []string{clipWritten, clipFailed, clipDiscarded, clipExpired, clipEvicted} {
		m.clips.WithLabelValues(r)
	}
	return m
}
