package opscheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestCheckCatchesBadMetrics: the mistakes Check exists for are reported.
func TestCheckCatchesBadMetrics(t *testing.T) {
	reg := NewRegistry()
	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "kbus_test_requests", Help: "No _total."})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kbus_test_latency_milliseconds", Help: "Not a base unit."})
	sizes := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kbus_test_sizes", Help: "No unit."})
	byMessage := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kbus_test_handled_total", Help: "An unbounded label."}, []string{"message_id"})
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "other_things", Help: "Outside the prefix."})
	untouched := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kbus_test_untouched_total", Help: "Never reports."}, []string{"topic"})
	reg.MustRegister(requests, latency, sizes, byMessage, other, untouched)
	requests.Inc()
	latency.Observe(1)
	sizes.Observe(1)
	byMessage.WithLabelValues("msg_01").Inc()
	other.Set(1)

	r := &recorder{TB: t}
	Check(r, reg, "kbus_test_")
	all := strings.Join(r.errs, "\n")
	for _, want := range []string{
		"kbus_test_untouched_total is registered but reported no series",
		"metric kbus_test_requests: counter metrics should have \"_total\" suffix",
		"metric kbus_test_latency_milliseconds: use base unit \"seconds\" instead of \"milliseconds\"",
		"metric kbus_test_sizes: a histogram should measure a base unit",
		"metric kbus_test_handled_total: label \"message_id\" is not in opscheck.Labels",
		"metric other_things: name does not start with \"kbus_test_\"",
		"kbus_test_requests is missing from the metrics table of docs/operations.md",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("Check did not report %q; it reported:\n%s", want, all)
		}
	}
}
