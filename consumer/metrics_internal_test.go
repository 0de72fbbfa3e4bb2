package consumer

import (
	"testing"

	"github.com/kbus-dev/kbus/internal/opscheck"
)

// TestMetricsFollowConventions lints every consumer metric (promlint and
// kbus's rules) and checks docs/operations.md's table against them.
func TestMetricsFollowConventions(t *testing.T) {
	reg := opscheck.NewRegistry()
	m, err := newMetrics("orders", reg)
	if err != nil {
		t.Fatal(err)
	}
	m.addConsumed("payment.completed", 2)
	m.addProcessed("payment.completed", 1)
	m.addDuplicates("payment.completed", 1)
	m.addSkipped("payment.completed", "no_handler")
	m.addRetry("payment.completed")
	m.addDeadLettered("payment.completed", "handler_error")
	m.pDuration.WithLabelValues("payment.completed").Observe(0.01)
	m.setLag("payment.completed", 0, 3)
	opscheck.Check(t, reg, "kbus_consumer_")
}

// TestLagOfARevokedPartitionIsDropped: a partition that moved to another
// member no longer reports this member's last lag.
func TestLagOfARevokedPartitionIsDropped(t *testing.T) {
	reg := opscheck.NewRegistry()
	m, err := newMetrics("orders", reg)
	if err != nil {
		t.Fatal(err)
	}
	m.setLag("payment.completed", 0, 3)
	m.setLag("payment.completed", 1, 5)
	m.deleteLag("payment.completed", 0)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "kbus_consumer_lag_records" {
			if n := len(mf.GetMetric()); n != 1 {
				t.Fatalf("%d lag series after partition 0 was revoked, want 1", n)
			}
			return
		}
	}
	t.Fatal("no kbus_consumer_lag_records")
}
