package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
)

// report is a run's figures; Failures lists every check that did not hold.
type report struct {
	Events, OutboxEvents, Poison int

	AckedMissing, OutboxMissing int // acknowledged / committed but not in Kafka
	InKafka                     int // distinct events in Kafka
	PublishRetries              int64

	TxEffects, TxDistinct, TxLost, TxDoubled int

	ALORuns, ALOMissing, ALORedeliveries int

	WebhookEvents, WebhookDelivered, WebhookDuplicates int
	WebhookBadSignatures, WebhookFlaps, WebhookForeign int64

	SSEEvents, SSEReceived, SSEMissing, SSEDuplicates int
	SSEReconnects, SSEForeign                         int64
	SSEMissingSample                                  []string `json:",omitempty"` // tenant/payment id

	DLQ map[string][2]int // group → entries, distinct originals

	Kills          map[string]int64
	UnwantedExits  map[string]int64
	ExitReasons    map[string]string
	Faults         []fault
	DrainSeconds   float64
	PublishSeconds float64

	Passed   bool
	Failures []string
}

func (s *soak) check(ctx context.Context) (*report, error) {
	r := &report{Events: s.c.events, OutboxEvents: s.c.outboxEvents, DLQ: map[string][2]int{},
		Kills: map[string]int64{}, UnwantedExits: map[string]int64{}, ExitReasons: map[string]string{},
		PublishRetries: s.publishRetries.Load()}
	kafka, _, err := s.inKafka(ctx)
	if err != nil {
		return nil, err
	}
	r.InKafka = len(kafka)
	s.mu.Lock()
	for id := range s.acked {
		if _, ok := kafka[id]; !ok {
			r.AckedMissing++
		}
	}
	for id := range s.outboxed {
		if _, ok := kafka[id]; !ok {
			r.OutboxMissing++
		}
	}
	acked, outboxed, poison := len(s.acked), len(s.outboxed), s.poison
	r.Faults = append([]fault(nil), s.faults...)
	sort.Slice(r.Faults, func(i, j int) bool { return r.Faults[i].AtSec < r.Faults[j].AtSec })
	s.mu.Unlock()
	r.Poison = poison
	fail := func(cond bool, format string, args ...any) {
		if cond {
			r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
		}
	}
	fail(acked != s.c.events, "%d of %d events acknowledged", acked, s.c.events)
	fail(outboxed != s.c.outboxEvents, "%d of %d outbox rows committed", outboxed, s.c.outboxEvents)
	fail(r.AckedMissing > 0, "%d acknowledged events missing from Kafka", r.AckedMissing)
	fail(r.OutboxMissing > 0, "%d committed outbox rows missing from Kafka", r.OutboxMissing)

	// Transactional: exactly one effect per event in Kafka.
	rows, err := s.pool.Query(ctx, `SELECT message_id, count(*) FROM soak_effects GROUP BY message_id`)
	if err != nil {
		return nil, err
	}
	effects := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		effects[id] = n
		r.TxEffects += n
		if n > 1 {
			r.TxDoubled += n - 1
		}
		if _, ok := kafka[id]; !ok {
			r.Failures = append(r.Failures, "an effect for an event not in Kafka: "+id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	r.TxDistinct = len(effects)
	for id := range kafka {
		if effects[id] == 0 {
			r.TxLost++
		}
	}
	fail(r.TxLost > 0, "Transactional: %d events without an effect", r.TxLost)
	fail(r.TxDoubled > 0, "Transactional: %d doubled effects", r.TxDoubled)

	// AtLeastOnce: every event ran at least once.
	runs := map[string]int{}
	if f, err := os.Open(filepath.Join(s.c.dir, "alo-runs.txt")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if id := strings.TrimSpace(sc.Text()); id != "" {
				runs[id]++
				r.ALORuns++
			}
		}
		f.Close()
	}
	for id := range kafka {
		if runs[id] == 0 {
			r.ALOMissing++
		}
	}
	r.ALORedeliveries = r.ALORuns - (len(kafka) - r.ALOMissing)
	fail(r.ALOMissing > 0, "AtLeastOnce: %d events never handled", r.ALOMissing)

	// Webhooks: every event of a tenant with an endpoint answered 2xx once at least.
	hookTenant := map[string]bool{}
	for i := range s.c.hookTenants {
		hookTenant[tenantOf(i, s.c.tenants)] = true
	}
	var want []string
	for id, e := range kafka {
		if hookTenant[e.tenant] {
			want = append(want, id)
		}
	}
	r.WebhookEvents = len(want)
	r.WebhookDelivered, r.WebhookDuplicates = s.rv.delivered(want)
	r.WebhookBadSignatures, r.WebhookFlaps = s.rv.badSignature.Load(), s.rv.flapped.Load()
	fail(r.WebhookDelivered < r.WebhookEvents, "webhooks: %d of %d events delivered", r.WebhookDelivered, r.WebhookEvents)
	fail(r.WebhookBadSignatures > 0, "webhooks: %d deliveries with an invalid signature", r.WebhookBadSignatures)
	r.WebhookForeign = s.rv.foreign.Load()
	fail(r.WebhookForeign > 0, "webhooks: %d deliveries of another tenant's event", r.WebhookForeign)

	// SSE: every client got every event of its tenant.
	for _, c := range s.clients {
		c.mu.Lock()
		for _, e := range kafka {
			if e.tenant != c.tenant {
				continue
			}
			r.SSEEvents++
			switch n := c.got[e.paymentID]; {
			case n == 0:
				r.SSEMissing++
				if len(r.SSEMissingSample) < 20 {
					r.SSEMissingSample = append(r.SSEMissingSample, c.tenant+"/"+e.paymentID)
				}
			default:
				r.SSEReceived++
				r.SSEDuplicates += n - 1
			}
		}
		c.mu.Unlock()
		r.SSEReconnects += c.reconnects.Load()
		r.SSEForeign += c.foreign.Load()
	}
	fail(r.SSEForeign > 0, "SSE: %d events of another tenant reached a client", r.SSEForeign)
	fail(r.SSEMissing > 0, "SSE: %d events of their tenant never reached a client", r.SSEMissing)

	// DLQs: exactly the poison records, in every group.
	for _, g := range []string{"soak-tx", "soak-alo", "soak-webhooks"} {
		n, distinct, err := s.dlqEntries(ctx, g)
		if err != nil {
			return nil, err
		}
		r.DLQ[g] = [2]int{n, distinct}
		fail(distinct != poison, "dlq.%s: %d distinct records dead-lettered, %d poison records written", g, distinct, poison)
	}

	for name, p := range s.procs {
		r.Kills[name] = p.kills.Load()
		if n := p.unwanted.Load(); n > 0 {
			r.UnwantedExits[name] = n
			p.mu.Lock()
			r.ExitReasons[name] = p.lastErr
			p.mu.Unlock()
			r.Failures = append(r.Failures, fmt.Sprintf("%s exited on its own %d times: %s", name, n, r.ExitReasons[name]))
		}
	}
	r.Passed = len(r.Failures) == 0
	return r, nil
}

// rows are the figures of the report: check, measured, expected.
func (r *report) rows() [][3]any {
	var out [][3]any
	row := func(k string, v any, want string) { out = append(out, [3]any{k, v, want}) }
	row("events published (Publish, acknowledged)", r.Events, "")
	row("events published (outbox, committed)", r.OutboxEvents, "")
	row("publish/enqueue retries (not acknowledged, retried)", r.PublishRetries, "")
	row("distinct events in Kafka", r.InKafka, fmt.Sprint(r.Events+r.OutboxEvents, " or more"))
	row("acknowledged events missing from Kafka", r.AckedMissing, "0")
	row("committed outbox rows missing from Kafka", r.OutboxMissing, "0")
	row("Transactional effects lost", r.TxLost, "0")
	row("Transactional effects doubled", r.TxDoubled, "0")
	row("AtLeastOnce events never handled", r.ALOMissing, "0")
	row("AtLeastOnce redeliveries (runs beyond one)", r.ALORedeliveries, "≥ 0")
	row("webhook events delivered (2xx)", fmt.Sprintf("%d / %d", r.WebhookDelivered, r.WebhookEvents), "all")
	row("webhook duplicate 2xx deliveries", r.WebhookDuplicates, "≥ 0")
	row("webhook invalid signatures", r.WebhookBadSignatures, "0")
	row("webhook deliveries of another tenant's event", r.WebhookForeign, "0")
	row("webhook answers failed on purpose", r.WebhookFlaps, "")
	row("SSE events received by their tenant's client", fmt.Sprintf("%d / %d", r.SSEReceived, r.SSEEvents), "all")
	row("SSE duplicates", r.SSEDuplicates, "≥ 0")
	row("SSE events of another tenant received", r.SSEForeign, "0")
	row("SSE reconnects", r.SSEReconnects, "")
	groups := make([]string, 0, len(r.DLQ))
	for g := range r.DLQ {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		v := r.DLQ[g]
		row("dlq."+g+" (entries, distinct records)", fmt.Sprintf("%d, %d", v[0], v[1]), fmt.Sprintf("%d poison", r.Poison))
	}
	n := int64(0)
	for _, k := range r.Kills {
		n += k
	}
	row("kbus processes killed with kill -9", n, "")
	row("processes that exited on their own", len(r.UnwantedExits), "0")
	row("faults injected", len(r.Faults), "")
	row("drain time after the last fault (s)", fmt.Sprintf("%.1f", r.DrainSeconds), "")
	return out
}

func (r *report) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "check\tmeasured\texpected")
	for _, row := range r.rows() {
		fmt.Fprintf(tw, "%s\t%v\t%s\n", row[0], row[1], row[2])
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, f := range r.Faults {
		fmt.Fprintf(w, "  at %-8s %-28s %-36s down %.1fs\n", f.At, f.Kind, f.Target, f.Downtime)
	}
}
