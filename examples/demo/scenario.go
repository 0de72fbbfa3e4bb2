package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/producer"
)

// order is one of the shop's orders in the scenario, with the state it
// must end in.
type order struct {
	id       string
	amount   int64
	currency string
	status   string // expected at the end
	updates  int    // expected number of events applied
}

var orders = []order{
	{"ord_1001", 4999, "USD", "refunded", 2},
	{"ord_1002", 1250, "EUR", "paid", 1},
	{"ord_1003", 89900, "USD", "paid", 1},
	{"ord_1004", 300, "GBP", "payment_failed", 1},
	{"ord_1005", 15000, "USD", "paid", 1},
	{"ord_1006", 2599, "USD", "paid", 1},
	{"ord_1007", 7400, "EUR", "paid", 1},
	{"ord_1008", 1999, "USD", "paid", 1},
}

// lostOrder is the order the shop "lost": its payment is the poison event.
var lostOrder = order{"ord_1999", 3450, "USD", "paid", 1}

// paymentEvent is what the payments API answered to a state change.
type paymentEvent struct {
	Payment struct {
		ID      string `json:"id"`
		OrderID string `json:"order_id"`
		Status  string `json:"status"`
	} `json:"payment"`
	Event struct {
		MessageID     string          `json:"message_id"`
		Type          string          `json:"type"`
		Key           string          `json:"key"`
		Partition     int32           `json:"partition"`
		Offset        int64           `json:"offset"`
		CorrelationID string          `json:"correlation_id"`
		Data          json.RawMessage `json:"data"`
	} `json:"event"`
}

// orderRow is an order as the order service's API shows it.
type orderRow struct {
	ID            string `json:"id"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Status        string `json:"status"`
	PaymentID     string `json:"payment_id"`
	Refunded      int64  `json:"refunded"`
	Updates       int    `json:"updates"`
	LastMessageID string `json:"last_message_id"`
}

// orderStats is GET /stats of the order service.
type orderStats struct {
	Group           string         `json:"group"`
	Consumer        consumer.Stats `json:"consumer"`
	ProcessedEvents int64          `json:"processed_events"`
}

// play runs the steps and prints the summary. It reports whether every
// figure matched; an error means a step could not finish.
func (d *demo) play(ctx context.Context) (bool, error) {
	mode := "a real Kafka broker and PostgreSQL"
	if d.cfg.embedded {
		mode = "kfake (in-process Kafka) and a real PostgreSQL"
	}
	d.ui.banner("kbus demo: from polling to events",
		"Merchants polled GET /api/payments/pay_x7k9 every 2 s. Now the payment API publishes events. Run "+d.run+", on "+mode+".")
	steps := []func(context.Context) error{
		d.setup, d.placeOrders, d.payments, d.duplicate, d.poison, d.stream, d.webhooks,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			if errors.Is(ctx.Err(), context.Canceled) { // Ctrl-C: no post-mortem
				d.ui.fail("interrupted; stopping the services and cleaning up")
				return false, ctx.Err()
			}
			d.failure(err)
			return false, err
		}
	}
	return d.summary(ctx)
}

// failure prints what went wrong and the end of every service's log.
func (d *demo) failure(err error) {
	d.ui.fail("%s", d.ui.red(err.Error()))
	if d.sup != nil {
		fmt.Fprintln(d.ui.w, "\n   "+d.ui.bold("The services' last log lines:"))
		fmt.Fprint(d.ui.w, d.sup.tails(15))
	}
}

// nextCorrelation returns a correlation id of this run, as a client's
// X-Correlation-ID; countRun recognizes the run's events by its prefix.
func (d *demo) nextCorrelation() string {
	d.corrN++
	return fmt.Sprintf("%s%02d", d.corrPrefix(), d.corrN)
}

func (d *demo) corrPrefix() string { return "req_demo" + d.run + "_" }

func (d *demo) placeOrders(ctx context.Context) error {
	d.ui.heading("Customers place orders",
		"The shop's order service keeps its orders in its own table; they wait for their payments.")
	var ids []string
	for _, o := range orders {
		if err := d.createOrder(ctx, o); err != nil {
			return err
		}
		ids = append(ids, o.id)
	}
	d.ui.arrow("POST %s/api/orders ×%d", d.urls.orders, len(ids))
	d.ui.ok("%d orders awaiting payment: %s … %s", len(ids), ids[0], ids[len(ids)-1])
	return nil
}

func (d *demo) createOrder(ctx context.Context, o order) error {
	_, err := d.hc.call(ctx, http.MethodPost, d.urls.orders+"/api/orders", map[string]any{
		"id": o.id, "merchant_id": d.tenant, "amount": o.amount, "currency": o.currency}, nil, nil)
	return err
}

// pay creates a payment for o and completes it (or fails it), through the
// payments API, and returns the event it published.
func (d *demo) pay(ctx context.Context, o order, action string) (paymentEvent, error) {
	var created struct {
		ID string `json:"id"`
	}
	corr := d.nextCorrelation()
	hdr := map[string]string{envelope.CorrelationHeader: corr}
	if d.traceparent != "" {
		hdr["traceparent"] = d.traceparent
	}
	if _, err := d.hc.call(ctx, http.MethodPost, d.urls.payments+"/api/payments", map[string]any{
		"merchant_id": d.tenant, "order_id": o.id, "amount": o.amount, "currency": o.currency,
		"customer_email": "customer@example.com"}, hdr, &created); err != nil {
		return paymentEvent{}, err
	}
	return d.change(ctx, created.ID, action, nil)
}

// change posts /api/payments/{id}/{action} and records the event.
func (d *demo) change(ctx context.Context, paymentID, action string, body any) (paymentEvent, error) {
	var pe paymentEvent
	corr := d.nextCorrelation()
	path := "/api/payments/" + paymentID + "/" + action
	hdr := map[string]string{envelope.CorrelationHeader: corr}
	if d.traceparent != "" {
		hdr["traceparent"] = d.traceparent
	}
	if _, err := d.hc.call(ctx, http.MethodPost, d.urls.payments+path, body, hdr, &pe); err != nil {
		return pe, err
	}
	d.events = append(d.events, pe)
	d.ui.arrow("POST %-40s %s %s %s  %s", path, d.ui.green("200"), d.ui.bold(fmt.Sprintf("%-17s", pe.Event.Type)), short(pe.Event.MessageID),
		d.ui.dim(fmt.Sprintf("p%d@%d  %s", pe.Event.Partition, pe.Event.Offset, pe.Event.CorrelationID)))
	return pe, nil
}

func (d *demo) payments(ctx context.Context) error {
	d.ui.heading("Payments happen: the payment API publishes events",
		"Each change is one event on its type's topic, keyed by the payment id (so one payment's events",
		"stay in order), with the request's X-Correlation-ID, checked against the Avro catalog before",
		"it is sent. Publish returns once Kafka has it on all in-sync replicas (acks=all).")
	// The first payment's requests carry a W3C traceparent, as a traced
	// client's would: the payments API publishes in that trace, and kbus
	// carries it through the webhook fan-out to the merchant's endpoint.
	var ids [24]byte
	_, _ = rand.Read(ids[:])
	d.traceID = hex.EncodeToString(ids[:16])
	d.traceparent = "00-" + d.traceID + "-" + hex.EncodeToString(ids[16:]) + "-01"
	first, err := d.pay(ctx, orders[0], "complete")
	d.traceparent = ""
	if err != nil {
		return err
	}
	d.traceMessage = first.Event.MessageID
	d.ui.ok("following trace %s: the first payment's requests carried it (traceparent)", d.traceID)
	for _, o := range orders[1:3] {
		if _, err := d.pay(ctx, o, "complete"); err != nil {
			return err
		}
	}
	if _, err := d.pay(ctx, orders[3], "fail"); err != nil {
		return err
	}
	if _, err := d.change(ctx, first.Payment.ID, "refund", map[string]any{"reason": "customer changed their mind"}); err != nil {
		return err
	}
	d.ui.ok("5 events published; nobody polls GET /api/payments/%s any more", first.Payment.ID)

	if err := d.waitStats(ctx, "order-service to process the 5 events", func(s orderStats) bool {
		return s.Consumer.Processed >= 5
	}); err != nil {
		return err
	}
	d.ui.ok("order-service consumed them: each order updated in the same transaction as its dedup row")
	return d.showOrders(ctx, orders[:4]...)
}

func (d *demo) duplicate(ctx context.Context) error {
	d.ui.heading("The same event, twice: dedup",
		"Kafka delivers at least once, and producers retry: a publish whose acknowledgement was lost is",
		"sent again under the same message_id. We do exactly that to ord_1002's payment.completed.")
	var orig paymentEvent
	for _, e := range d.events {
		if e.Payment.OrderID == "ord_1002" {
			orig = e
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	r, err := d.prod.Publish(pctx, orig.Event.Type, orig.Event.Key, orig.Event.Data,
		producer.MessageID(orig.Event.MessageID), producer.CorrelationID(orig.Event.CorrelationID))
	cancel()
	if err != nil {
		return fmt.Errorf("re-publish %s: %w", orig.Event.MessageID, err)
	}
	d.resent++
	d.ui.arrow("re-published %s %s with message_id %s  %s", d.ui.bold(r.Topic), orig.Event.Key, short(r.MessageID),
		d.ui.dim(fmt.Sprintf("p%d@%d", r.Partition, r.Offset)))

	var st orderStats
	if err := d.waitStats(ctx, "order-service to skip the duplicate (Stats.Duplicates = 1)", func(s orderStats) bool {
		st = s
		return s.Consumer.Duplicates >= 1
	}); err != nil {
		return err
	}
	o, err := d.getOrder(ctx, "ord_1002")
	if err != nil {
		return err
	}
	if o.Updates != 1 {
		return fmt.Errorf("ord_1002 was updated %d times, want 1: the duplicate had an effect", o.Updates)
	}
	d.ui.ok("skipped: its (group, message_id) row was already in processed_events")
	d.ui.ok("ord_1002 updated once (updates = %d); consumer stats: processed %d, duplicates %d; processed_events rows %d",
		o.Updates, st.Consumer.Processed, st.Consumer.Duplicates, st.ProcessedEvents)
	return nil
}

var replayedRE = regexp.MustCompile(`replayed (\d+),`)

func (d *demo) poison(ctx context.Context) error {
	d.ui.heading("A poison event: the dead-letter queue",
		"A payment arrives for ord_1999, an order the shop lost. Retrying cannot help, so the handler",
		"returns consumer.Permanent: the event goes to the group's DLQ, and the partition moves on.")
	pe, err := d.pay(ctx, lostOrder, "complete")
	if err != nil {
		return err
	}
	if err := d.waitStats(ctx, "the event for ord_1999 to be dead-lettered (Stats.DeadLettered = 1)", func(s orderStats) bool {
		return s.Consumer.DeadLettered >= 1
	}); err != nil {
		return err
	}
	d.ui.ok("dead-lettered to %s", d.ui.bold("dlq."+d.orderGroup))
	d.ui.command("kbus dlq list --group " + d.orderGroup)
	out, err := d.sup.runCLI(ctx, d.bins["kbus"], "dlq", "list", "--group", d.orderGroup)
	if err != nil {
		return err
	}
	d.ui.output(out)
	if !strings.Contains(out, pe.Event.MessageID) {
		return fmt.Errorf("kbus dlq list does not show %s", pe.Event.MessageID)
	}

	d.ui.info("%s", d.ui.bold("The fix:")+" restore the missing order.")
	if err := d.createOrder(ctx, lostOrder); err != nil {
		return err
	}
	d.ui.arrow("POST %s/api/orders  {\"id\":\"%s\", …}", d.urls.orders, lostOrder.id)
	d.ui.command("kbus dlq replay --group " + d.orderGroup + " --all")
	out, err = d.sup.runCLI(ctx, d.bins["kbus"], "dlq", "replay", "--group", d.orderGroup, "--all")
	if err != nil {
		return err
	}
	d.ui.output(out)
	if m := replayedRE.FindStringSubmatch(out); m != nil {
		d.replayed, _ = strconv.Atoi(m[1])
	}
	if err := d.wait(ctx, 30*time.Second, "ord_1999 to be paid after the replay", func(ctx context.Context) (bool, string, error) {
		o, err := d.getOrder(ctx, lostOrder.id)
		return err == nil && o.Status == "paid", "ord_1999 is " + o.Status, err
	}); err != nil {
		return err
	}
	d.ui.ok("replayed with its original message_id, addressed to %s only: processed, %s is paid", d.orderGroup, lostOrder.id)
	return d.showOrders(ctx, lostOrder)
}

func (d *demo) showOrders(ctx context.Context, os ...order) error {
	var rows [][]string
	for _, o := range os {
		r, err := d.getOrder(ctx, o.id)
		if err != nil {
			return err
		}
		rows = append(rows, []string{r.ID, money(r.Amount, r.Currency), r.Status, r.PaymentID, strconv.Itoa(r.Updates), short(r.LastMessageID)})
	}
	d.ui.table([]string{"ORDER", "AMOUNT", "STATUS", "PAYMENT", "UPDATES", "LAST EVENT"}, rows)
	return nil
}

func (d *demo) getOrder(ctx context.Context, id string) (orderRow, error) {
	var o orderRow
	_, err := d.hc.call(ctx, http.MethodGet, d.urls.orders+"/api/orders/"+id, nil, nil, &o)
	return o, err
}

func (d *demo) stats(ctx context.Context) (orderStats, error) {
	var s orderStats
	_, err := d.hc.call(ctx, http.MethodGet, d.urls.orders+"/stats", nil, nil, &s)
	return s, err
}

// waitStats waits until the order service's stats satisfy ok.
func (d *demo) waitStats(ctx context.Context, what string, ok func(orderStats) bool) error {
	return d.wait(ctx, 30*time.Second, what, func(ctx context.Context) (bool, string, error) {
		s, err := d.stats(ctx)
		c := s.Consumer
		return err == nil && ok(s), fmt.Sprintf("processed %d, duplicates %d, dead-lettered %d, retries %d",
			c.Processed, c.Duplicates, c.DeadLettered, c.Retries), err
	})
}

// orderState checks that every order ended as expected and returns how
// many did.
func (d *demo) orderStates(ctx context.Context) (int, []string) {
	good := 0
	var bad []string
	for _, o := range append(append([]order{}, orders...), lostOrder) {
		r, err := d.getOrder(ctx, o.id)
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", o.id, err))
		case r.Status != o.status || r.Updates != o.updates:
			bad = append(bad, fmt.Sprintf("%s is %s after %d updates, want %s after %d", o.id, r.Status, r.Updates, o.status, o.updates))
		default:
			good++
		}
	}
	return good, bad
}
