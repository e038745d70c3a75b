package analyze

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Reasons for citywatch_analyze_dropped_total.
const (
	dropQueueFull    = "queue_full"
	dropWaitKeyframe = "wait_keyframe"
	dropDecoderDown  = "decoder_down"
	dropCodec        = "unsupported_codec"
)

// Reasons for citywatch_analyze_decoder_restarts_total.
const (
	restartExit       = "exit"
	restartStall      = "stall"
	restartSession    = "session"
	restartResolution = "resolution"
	restartStartError = "start_error"
)

type selfMetrics struct {
	frames         *prometheus.CounterVec
	decoded        prometheus.Counter
	dropped        *prometheus.CounterVec
	restarts       *prometheus.CounterVec
	frameDuration  prometheus.Histogram
	eventsDropped  prometheus.Counter
	samplesDropped prometheus.Counter
	appendErrors   prometheus.Counter
}

func newSelfMetrics(reg prometheus.Registerer) *selfMetrics {
	f := promauto.With(reg)
	return &selfMetrics{
		frames: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_analyze_frames_total", Help: "Analysed frames per camera.",
		}, []string{"camera"}),
		decoded: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_analyze_decoded_frames_total", Help: "Frames decoded by ffmpeg, analysed or not.",
		}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_analyze_dropped_total", Help: "Access units dropped before the decoder, by reason.",
		}, []string{"reason"}),
		restarts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_analyze_decoder_restarts_total", Help: "Decoder (ffmpeg) restarts, by reason.",
		}, []string{"reason"}),
		frameDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "citywatch_analyze_frame_duration_seconds",
			Help:    "Time to score one analysed frame (excluding decoding).",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05},
		}),
		eventsDropped: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_analyze_events_dropped_total", Help: "Motion/tamper events dropped because the event queue was full.",
		}),
		samplesDropped: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_analyze_samples_dropped_total", Help: "Samples dropped because the sample queue was full.",
		}),
		appendErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_analyze_append_errors_total", Help: "Failed appends of analysis samples.",
		}),
	}
}
