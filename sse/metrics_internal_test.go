package sse

import (
	"testing"

	"github.com/kbus-dev/kbus/internal/opscheck"
)

// TestMetricsFollowConventions lints every SSE server metric (promlint and
// kbus's rules) and checks docs/operations.md's table against them.
func TestMetricsFollowConventions(t *testing.T) {
	reg := opscheck.NewRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.clients.Inc()
	m.sent.Inc()
	m.slow.Inc()
	m.resumes.Inc()
	m.malformed.Inc()
	opscheck.Check(t, reg, "kbus_sse_")
}
