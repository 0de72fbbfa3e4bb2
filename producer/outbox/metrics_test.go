package outbox_test

import (
	"testing"

	"github.com/kbus-dev/kbus/internal/opscheck"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/producer/outbox"
)

// TestMetricsFollowConventions lints every outbox metric (promlint and
// kbus's rules) and checks docs/operations.md's table against them. Nothing
// connects.
func TestMetricsFollowConventions(t *testing.T) {
	p, err := producer.New(producer.Brokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	reg := opscheck.NewRegistry()
	if _, err := outbox.New(outbox.Config{Producer: p, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	opscheck.Check(t, reg, "kbus_outbox_")
}
