package consumer

import (
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are a consumer's counters since New. Every event consumed ends in
// exactly one of Processed, Duplicates, Skipped or DeadLettered (or is
// redelivered later, when its partition was revoked before it finished).
type Stats struct {
	Consumed     int64 // records fetched and handed to processing
	Processed    int64 // events whose handlers succeeded (effects committed)
	Duplicates   int64 // events skipped because their dedup row existed
	Skipped      int64 // events skipped by policy: no handler, or a replay addressed to another group
	Retries      int64 // handler attempts after the first
	DeadLettered int64 // events written to the DLQ
}

// metrics holds the Prometheus collectors and the counters behind Stats.
type metrics struct {
	consumed, processed, duplicates, skipped, retries, deadLettered atomic.Int64

	pConsumed     *prometheus.CounterVec
	pProcessed    *prometheus.CounterVec
	pDuplicates   *prometheus.CounterVec
	pSkipped      *prometheus.CounterVec
	pRetries      *prometheus.CounterVec
	pDeadLettered *prometheus.CounterVec
	pDuration     *prometheus.HistogramVec
	pLag          *prometheus.GaugeVec
}

func newMetrics(group string, reg prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"group": group}
	counter := func(name, help string, extra ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kbus", Subsystem: "consumer", Name: name, Help: help, ConstLabels: labels,
		}, append([]string{"topic"}, extra...))
	}
	m := &metrics{
		pConsumed:     counter("consumed_total", "Records fetched for processing."),
		pProcessed:    counter("processed_total", "Events whose handlers succeeded and whose effects committed."),
		pDuplicates:   counter("duplicates_total", "Events skipped because their dedup row already existed."),
		pSkipped:      counter("skipped_total", "Events skipped by policy.", "reason"),
		pRetries:      counter("retries_total", "Handler attempts after the first."),
		pDeadLettered: counter("dead_lettered_total", "Events written to the group's DLQ topic.", "reason"),
		pDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "kbus", Subsystem: "consumer", Name: "handler_duration_seconds",
			Help: "Time spent in handlers, per call.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs to 26s
		}, []string{"topic"}),
		// The unit says what the lag counts: records, not seconds.
		pLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "kbus", Subsystem: "consumer", Name: "lag_records",
			Help: "Records between the last fetched offset and the partition's high watermark.", ConstLabels: labels,
		}, []string{"topic", "partition"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.pConsumed, m.pProcessed, m.pDuplicates, m.pSkipped,
			m.pRetries, m.pDeadLettered, m.pDuration, m.pLag} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("%w: register metrics: %w", ErrConfig, err)
			}
		}
	}
	return m, nil
}

func (m *metrics) addConsumed(topic string, n int) {
	m.consumed.Add(int64(n))
	m.pConsumed.WithLabelValues(topic).Add(float64(n))
}

func (m *metrics) addProcessed(topic string, n int) {
	if n > 0 {
		m.processed.Add(int64(n))
		m.pProcessed.WithLabelValues(topic).Add(float64(n))
	}
}

func (m *metrics) addDuplicates(topic string, n int) {
	if n > 0 {
		m.duplicates.Add(int64(n))
		m.pDuplicates.WithLabelValues(topic).Add(float64(n))
	}
}

func (m *metrics) addSkipped(topic, reason string) {
	m.skipped.Add(1)
	m.pSkipped.WithLabelValues(topic, reason).Inc()
}

func (m *metrics) addRetry(topic string) {
	m.retries.Add(1)
	m.pRetries.WithLabelValues(topic).Inc()
}

func (m *metrics) addDeadLettered(topic, reason string) {
	m.deadLettered.Add(1)
	m.pDeadLettered.WithLabelValues(topic, reason).Inc()
}

func (m *metrics) setLag(topic string, partition int32, lag int64) {
	m.pLag.WithLabelValues(topic, strconv.Itoa(int(partition))).Set(float64(max(lag, 0)))
}

// deleteLag drops the lag series of a partition this consumer no longer
// owns, so that its new owner's lag is not summed with a stale one.
func (m *metrics) deleteLag(topic string, partition int32) {
	m.pLag.DeleteLabelValues(topic, strconv.Itoa(int(partition)))
}

func (m *metrics) stats() Stats {
	return Stats{
		Consumed:     m.consumed.Load(),
		Processed:    m.processed.Load(),
		Duplicates:   m.duplicates.Load(),
		Skipped:      m.skipped.Load(),
		Retries:      m.retries.Load(),
		DeadLettered: m.deadLettered.Load(),
	}
}
