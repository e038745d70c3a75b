package broker

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Label values of the broker's counters. They are closed sets.
const (
	// Actions of citywatch_broker_denied_total.
	actionPublish   = "publish"
	actionSubscribe = "subscribe"

	// Reasons of citywatch_broker_auth_failures_total.
	authBadCredentials   = "bad_credentials"
	authAnonymousRefused = "anonymous_refused"
	authRateLimited      = "rate_limited"
	authClientIDTaken    = "client_id_taken"

	// Outcomes of citywatch_broker_ingest_failures_total: what the publisher was told when the Sink failed.
	outcomeNacked       = "nacked"       // MQTT 5, QoS 1/2: PUBACK/PUBREC with reason code 0x80
	outcomeDisconnected = "disconnected" // MQTT 3.1.1, QoS 1/2: connection closed without ack, so it redelivers
	outcomeDropped      = "dropped"      // QoS 0: at most once; the reading is not stored (still routed)
)

type metrics struct {
	messagesReceived prometheus.Counter
	connections      prometheus.Counter
	authFailures     *prometheus.CounterVec
	ingestFailures   *prometheus.CounterVec
	denied           *prometheus.CounterVec
	subscriberDrops  prometheus.Counter
	// subscriberLagging counts subscribers that stopped holding publishers back (flow.go).
	subscriberLagging prometheus.Counter
	// slowClients and clientWrites are the client write path's (writer.go).
	slowClients  prometheus.Counter
	clientWrites prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, connected *atomic.Int64) *metrics {
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citywatch_broker_clients_connected",
		Help: "MQTT clients currently connected to the embedded broker.",
	}, func() float64 { return float64(connected.Load()) })
	m := &metrics{
		messagesReceived: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_broker_messages_received_total",
			Help: "PUBLISH packets received from network clients and allowed by the ACL.",
		}),
		connections: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_broker_connections_total",
			Help: "MQTT connections accepted (authenticated and acknowledged).",
		}),
		authFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_broker_auth_failures_total",
			Help: "MQTT connections refused at authentication, by reason.",
		}, []string{"reason"}),
		ingestFailures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_broker_ingest_failures_total",
			Help: "Messages the ingest sink failed to store, by what the publisher was told.",
		}, []string{"outcome"}),
		denied: f.NewCounterVec(prometheus.CounterOpts{
			Name: "citywatch_broker_denied_total",
			Help: "Publishes and subscriptions denied by the topic ACL, by action.",
		}, []string{"action"}),
		subscriberDrops: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_broker_subscriber_dropped_total",
			Help: "Messages not delivered to a subscribing client because its outbound queue was full.",
		}),
		slowClients: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_broker_slow_clients_disconnected_total",
			Help: "Clients disconnected because they left more than 1 MiB sent to them unread.",
		}),
		clientWrites: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_broker_client_writes_total",
			Help: "Socket writes to MQTT clients; packets sent in a burst share one write.",
		}),
		subscriberLagging: f.NewCounter(prometheus.CounterOpts{
			Name: "citywatch_broker_subscriber_lagging_total",
			Help: "Times a subscriber stayed at the unacknowledged-message high-water mark for the maximum wait and " +
				"stopped holding publishers back (its further messages may be dropped).",
		}),
	}
	for _, r := range []string{authBadCredentials, authAnonymousRefused, authRateLimited, authClientIDTaken} {
		m.authFailures.WithLabelValues(r)
	}
	for _, o := range []string{outcomeNacked, outcomeDisconnected, outcomeDropped} {
		m.ingestFailures.WithLabelValues(o)
	}
	for _, a := range []string{actionPublish, actionSubscribe} {
		m.denied.WithLabelValues(a)
	}
	return m
}
