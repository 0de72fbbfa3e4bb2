package sse

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	clients   prometheus.Gauge
	sent      prometheus.Counter
	slow      prometheus.Counter
	resumes   prometheus.Counter
	malformed prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		clients:   prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "kbus", Subsystem: "sse", Name: "clients", Help: "Connected streams."}),
		sent:      prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kbus", Subsystem: "sse", Name: "events_sent_total", Help: "Events written to streams."}),
		slow:      prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kbus", Subsystem: "sse", Name: "slow_client_disconnects_total", Help: "Streams closed because the client fell a whole ring behind."}),
		resumes:   prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kbus", Subsystem: "sse", Name: "resumes_total", Help: "Streams opened with Last-Event-ID."}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kbus", Subsystem: "sse", Name: "malformed_records_total", Help: "Records that were not valid envelopes, skipped."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.clients, m.sent, m.slow, m.resumes, m.malformed} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("sse: register metrics: %w", err)
			}
		}
	}
	return m, nil
}
