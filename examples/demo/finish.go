package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// delivery is a webhook delivery as the webhook API shows it.
type delivery struct {
	ID               string `json:"id"`
	MessageID        string `json:"message_id"`
	EventType        string `json:"event_type"`
	Status           string `json:"status"`
	Attempts         int    `json:"attempts"`
	DeliveryAttempts []struct {
		Attempt        int        `json:"attempt"`
		Timestamp      time.Time  `json:"timestamp"`
		ResponseStatus *int       `json:"response_status"`
		NextRetry      *time.Time `json:"next_retry"`
		Success        bool       `json:"success"`
		DurationMS     int        `json:"duration_ms"`
		Error          string     `json:"error"`
	} `json:"delivery_attempts"`
}

// merchantReport is GET /processed of the merchant.
type merchantReport struct {
	Processed       int `json:"processed"`
	FailedOnPurpose int `json:"failed_on_purpose"`
	Events          []struct {
		ID          string `json:"id"`
		TraceParent string `json:"traceparent"`
	} `json:"events"`
}

// traced reports whether the merchant got the event the demo followed with
// a traceparent of the followed trace.
func (d *demo) traced(rep merchantReport) bool {
	for _, e := range rep.Events {
		if e.ID == d.traceMessage && d.traceID != "" && strings.HasPrefix(e.TraceParent, "00-"+d.traceID+"-") {
			return true
		}
	}
	return false
}

func (d *demo) deliveries(ctx context.Context) ([]delivery, error) {
	var out struct {
		Data []delivery `json:"data"`
	}
	_, err := d.hc.call(ctx, http.MethodGet, d.urls.webhooks+"/webhooks/"+d.endpointID+"/deliveries", nil, d.auth(), &out)
	return out.Data, err
}

func (d *demo) webhooks(ctx context.Context) error {
	want := len(d.events)
	d.ui.heading("Meanwhile, webhooks reached the merchant",
		"kbus serve webhooks turned each of the merchant's events into a signed POST to its endpoint.",
		"The receiver verifies the signature and processes each event id once. It answered the very",
		"first delivery with 500, on purpose (-fail-first 1): kbus retried it on schedule.")
	var ds []delivery
	err := d.wait(ctx, 45*time.Second, fmt.Sprintf("%d webhook deliveries to succeed", want), func(ctx context.Context) (bool, string, error) {
		var err error
		ds, err = d.deliveries(ctx)
		ok := 0
		for _, x := range ds {
			if x.Status == "succeeded" {
				ok++
			}
		}
		return err == nil && len(ds) == want && ok == want, fmt.Sprintf("%d deliveries, %d succeeded", len(ds), ok), err
	})
	if err != nil {
		return err
	}
	var rows [][]string
	var retried *delivery
	for i := len(ds) - 1; i >= 0; i-- { // oldest first
		x := ds[i]
		rows = append(rows, []string{x.EventType, short(x.MessageID), strconv.Itoa(x.Attempts), x.Status})
		if x.Attempts > 1 && retried == nil {
			retried = &ds[i]
		}
	}
	d.ui.command("curl -H 'Authorization: Bearer …' " + d.urls.webhooks + "/webhooks/" + d.endpointID + "/deliveries")
	d.ui.table([]string{"EVENT", "MESSAGE ID", "ATTEMPTS", "STATUS"}, rows)
	if retried == nil {
		return fmt.Errorf("no delivery needed a retry, but the merchant fails its first one")
	}
	var one delivery
	if _, err := d.hc.call(ctx, http.MethodGet, d.urls.webhooks+"/webhooks/"+d.endpointID+"/deliveries/"+retried.ID,
		nil, d.auth(), &one); err != nil {
		return err
	}
	d.ui.info("the attempt log of %s (%s):", d.ui.bold(retried.ID), short(retried.MessageID))
	var prev time.Time
	for _, a := range one.DeliveryAttempts {
		status := "no answer"
		if a.ResponseStatus != nil {
			status = strconv.Itoa(*a.ResponseStatus)
		}
		gap := ""
		if !prev.IsZero() {
			gap = d.ui.dim(fmt.Sprintf("  (%.1fs later)", a.Timestamp.Sub(prev).Seconds()))
		}
		prev = a.Timestamp
		mark := d.ui.green("✓")
		if !a.Success {
			mark = d.ui.red("✗")
		}
		d.ui.info("  %s attempt %d → HTTP %s in %d ms%s", mark, a.Attempt, status, a.DurationMS, gap)
	}
	var rep merchantReport
	if _, err := d.hc.call(ctx, http.MethodGet, d.urls.merchant+"/processed", nil, nil, &rep); err != nil {
		return err
	}
	d.ui.ok("the merchant processed %d events (and refused %d delivery on purpose)", rep.Processed, rep.FailedOnPurpose)
	if d.traced(rep) {
		d.ui.ok("trace %s followed: payments API → %s → kbus serve webhooks → the merchant, whose request carried its traceparent",
			d.traceID, short(d.traceMessage))
	} else {
		d.ui.info("trace %s did not reach the merchant's endpoint", d.traceID)
	}
	return nil
}

// row is one line of the summary.
type row struct {
	what             string
	expected, actual string
}

func (d *demo) summary(ctx context.Context) (bool, error) {
	d.ui.heading("Summary", "Every figure is measured from the services, the database or Kafka, and compared.")
	n := func(i int) string { return strconv.Itoa(i) }
	n64 := func(i int64) string { return strconv.FormatInt(i, 10) }
	var rows []row
	add := func(what, expected, actual string) { rows = append(rows, row{what, expected, actual}) }

	published := len(d.events)
	rc, err := countRun(ctx, d.brokers, d.start, d.corrPrefix())
	if err != nil {
		return false, err
	}
	add("events published through the payments API", n(published), n(rc.Published))
	add("  re-sent with the same message_id", n(d.resent), n(rc.Resent))
	add("  replayed from the DLQ", "1", n(rc.Replayed))

	st, err := d.stats(ctx)
	if err != nil {
		return false, err
	}
	add("processed by "+d.orderGroup, n(published), n64(st.Consumer.Processed))
	add("  processed_events rows", n(published), n64(st.ProcessedEvents))
	add("duplicates skipped by dedup", n(d.resent), n64(st.Consumer.Duplicates))
	add("dead-lettered (order-service stats)", "1", n64(st.Consumer.DeadLettered))
	entries, err := dlqEntries(ctx, d.brokers, d.orderGroup)
	if err != nil {
		return false, err
	}
	add("  entries in dlq."+d.orderGroup, "1", n(entries))
	add("replayed by kbus dlq replay", "1", n(d.replayed))
	good, bad := d.orderStates(ctx)
	add("orders in their expected state", n(len(orders)+1), n(good))

	ds, err := d.deliveries(ctx)
	if err != nil {
		return false, err
	}
	attempts, ok := 0, 0
	for _, x := range ds {
		attempts += x.Attempts
		if x.Status == "succeeded" {
			ok++
		}
	}
	add("webhook deliveries succeeded", n(published), n(ok))
	add("webhook attempts (1 refused on purpose)", n(published+1), n(attempts))
	var rep merchantReport
	if _, err := d.hc.call(ctx, http.MethodGet, d.urls.merchant+"/processed", nil, nil, &rep); err != nil {
		return false, err
	}
	add("events the merchant processed", n(published), n(rep.Processed))
	traced := "no"
	if d.traced(rep) {
		traced = "yes"
	}
	add("webhook in the first payment's trace", "yes", traced)
	add("SSE events live + after resume", "2+2", fmt.Sprintf("%d+%d", d.sseLive, d.sseResumed))
	add("SSE events duplicated or unexpected", "0", n(len(d.sseExtra)))
	dash := d.checkDashboard(ctx)
	add("dashboard page served", "yes", dash)

	all := true
	var table [][]string
	for _, r := range rows {
		mark := d.ui.green("✓")
		if r.expected != r.actual {
			mark = d.ui.red("✗")
			all = false
		}
		table = append(table, []string{r.what, r.expected, r.actual, mark})
	}
	d.ui.table([]string{"", "EXPECTED", "ACTUAL", ""}, table)
	for _, b := range bad {
		d.ui.fail("%s", b)
	}
	fmt.Fprintln(d.ui.w)
	d.ui.info("dashboard: %s", d.ui.bold(d.dashboardURL()))
	if !d.cfg.hold {
		d.ui.info("%s", d.ui.dim("(served while the demo runs: `make demo DEMO_FLAGS=-hold` keeps it open; then create payments with curl)"))
	}
	d.ui.info("logs:      %s", d.logDir)
	elapsed := time.Since(d.ui.start).Truncate(100 * time.Millisecond)
	fmt.Fprintln(d.ui.w)
	if all {
		fmt.Fprintf(d.ui.w, "   %s\n", d.ui.green(d.ui.bold(fmt.Sprintf("✓ all %d figures match, in %s", len(rows), elapsed))))
	} else {
		fmt.Fprintf(d.ui.w, "   %s\n", d.ui.red(d.ui.bold("✗ some figures do not match")))
		fmt.Fprint(d.ui.w, d.sup.tails(15))
	}
	return all, nil
}

func (d *demo) dashboardURL() string {
	return d.urls.sse + "/?" + url.Values{"key": {d.key}, "types": {strings.Join(eventTypes, ",")}}.Encode()
}

// checkDashboard fetches the dashboard page from the SSE server.
func (d *demo) checkDashboard(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.urls.sse+"/", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "no: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "EventSource") {
		return "no: " + resp.Status
	}
	return "yes"
}

// hold keeps the services running until ctx ends (Ctrl-C), for the
// dashboard.
func (d *demo) hold(ctx context.Context) {
	fmt.Fprintln(d.ui.w)
	d.ui.info("%s open the dashboard, then create an order and pay it:", d.ui.bold("Holding (-hold):"))
	d.ui.info("  curl -s -XPOST %s/api/orders -d '{\"id\":\"ord_2001\",\"merchant_id\":\"%s\",\"amount\":4999,\"currency\":\"USD\"}'",
		d.urls.orders, d.tenant)
	d.ui.info("  curl -s -XPOST %s/api/payments -d '{\"merchant_id\":\"%s\",\"order_id\":\"ord_2001\",\"amount\":4999,\"currency\":\"USD\"}'",
		d.urls.payments, d.tenant)
	d.ui.info("  curl -s -XPOST %s/api/payments/<id from the answer>/complete", d.urls.payments)
	d.ui.info("Ctrl-C stops everything and cleans up.")
	<-ctx.Done()
}

// cleanup stops the services and removes what the run created (unless
// -keep): its schema, consumer groups and dead-letter topics.
func (d *demo) cleanup() {
	if d.sup != nil {
		d.sup.stopAll(10 * time.Second)
	}
	if d.prod != nil {
		d.prod.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var done []string
	switch {
	case d.cfg.keep:
		d.ui.info("%s", d.ui.dim(fmt.Sprintf("kept (-keep): schema %s, groups %s and %s, topic dlq.%s", d.schema, d.orderGroup, d.webhookGroup, d.orderGroup)))
	default:
		if d.kafkaCreated && d.cluster == nil {
			if err := cleanupKafka(ctx, d.brokers, []string{d.orderGroup, d.webhookGroup},
				[]string{"dlq." + d.orderGroup, "dlq." + d.webhookGroup}); err == nil {
				done = append(done, "consumer groups and DLQ topics")
			}
		}
		if d.dbURL != "" {
			if conn, err := pgx.Connect(ctx, d.cfg.databaseURL); err == nil {
				if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{d.schema}.Sanitize()+" CASCADE"); err == nil {
					done = append(done, "schema "+d.schema)
				}
				conn.Close(ctx)
			}
		}
	}
	if d.cluster != nil {
		d.cluster.Close()
		done = append(done, "kfake")
	}
	if len(done) > 0 {
		d.ui.info("%s", d.ui.dim("cleaned up: services stopped; "+strings.Join(done, ", ")+" removed"))
	}
}
