package webhook

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/internal/opscheck"
)

// TestMetricsFollowConventions lints every dispatcher metric (promlint and
// kbus's rules) and checks docs/operations.md's table against them. Nothing
// connects: the pool and the client are lazy.
func TestMetricsFollowConventions(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	reg := opscheck.NewRegistry()
	d, err := NewDispatcher(DispatcherConfig{DB: pool, Kafka: cl, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, outcome := range []string{"success", "failure", "refused"} {
		d.pAttempts.WithLabelValues(outcome).Inc()
	}
	d.pDeadLettered.Inc()
	d.pDuration.Observe(0.2)
	opscheck.Check(t, reg, "kbus_webhook_")
	if last := attemptBuckets[len(attemptBuckets)-1]; last < 30 {
		t.Errorf("the last attempt bucket is %vs, below the longest Timeout (30s)", last)
	}
}
