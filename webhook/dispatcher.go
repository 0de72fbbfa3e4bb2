package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/internal/tracing"
)

// DefaultSchedule is the wait before each retry of a failed delivery: after
// the first attempt fails, retries follow 1m, 5m, 30m, 2h, 8h and 24h later
// (seven attempts in all), each with ±10% jitter.
var DefaultSchedule = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 8 * time.Hour, 24 * time.Hour}

// Failure reasons of webhook dead letters (dlq.Entry.FailureReason).
const (
	ReasonDeliveryFailed       = "webhook_delivery_failed"       // the schedule was exhausted
	ReasonEndpointGone         = "webhook_endpoint_gone"         // the receiver answered 410 Gone
	ReasonEndpointDisabled     = "webhook_endpoint_disabled"     // the endpoint was disabled or deleted before the delivery went out
	ReasonForbiddenDestination = "webhook_forbidden_destination" // refused by the SSRF guard
)

// DispatcherConfig configures a [Dispatcher]. Zero values mean the defaults.
type DispatcherConfig struct {
	// DB holds the webhook tables. Required.
	DB *pgxpool.Pool
	// Kafka is a client that can produce (acks=all): failed deliveries are
	// dead-lettered through it to dlq.<Group>. Required.
	Kafka *kgo.Client
	// Group names the DLQ (dlq.<Group>) and is the group replays are
	// addressed to: the fan-out's consumer group. Default DefaultGroup.
	Group string
	// Schedule is the wait before each retry; default DefaultSchedule.
	Schedule []time.Duration
	// Timeout bounds each POST; 5s to 30s, default 10s.
	Timeout time.Duration
	// Workers is how many POSTs run at once, over all loops; default 16.
	Workers int
	// BatchSize is how many due deliveries one claim takes; default 128.
	BatchSize int
	// Loops is how many claim-send-record loops run at once, so that one
	// batch's POSTs overlap another's database work; default 3.
	Loops int
	// PollInterval is how long an idle dispatcher waits before looking for
	// due deliveries again; default 500ms.
	PollInterval time.Duration
	// AllowNetworks are destination networks exempt from the SSRF guard
	// (which refuses loopback, private, link-local and other non-public
	// addresses); AllowLoopback() for tests and local demos. The guard
	// judges each address a connection is made to, after DNS (see
	// DialGuard), and, before any DNS query, refuses the hosts the API
	// refuses at registration (APIConfig.AllowNetworks): an endpoint
	// accepted earlier gains nothing when its name later resolves elsewhere.
	// Redirects are never followed: a 3xx answer is a failed attempt.
	AllowNetworks []netip.Prefix
	// DisableAfter disables an endpoint that has failed every delivery for
	// this long; default 5 days.
	DisableAfter time.Duration
	// SecretKey decrypts the endpoints' signing secrets when the API stores
	// them encrypted (APIConfig.SecretKey): the same 32 bytes. Secrets stored
	// in clear are read as they are.
	SecretKey []byte
	// MaxResponseBody caps the response body kept in the attempt log;
	// default 4 KiB.
	MaxResponseBody int
	// Logger receives the dispatcher's logs; the default discards them.
	Logger *slog.Logger
	// TracerProvider gets a client span per attempt ("POST", kind Client,
	// with http.* and kbus.webhook.* attributes), a child of the trace
	// context that the fan-out stored with the delivery (the consumer's
	// process span of the event). The default is otel.GetTracerProvider(),
	// a no-op until the application installs an SDK.
	TracerProvider trace.TracerProvider
	// Propagator reads the stored trace context and writes the attempt's
	// into the request's headers (traceparent, tracestate with
	// propagation.TraceContext), so that the receiver can continue the
	// trace. The default is otel.GetTextMapPropagator().
	Propagator propagation.TextMapPropagator
	// Registerer, if not nil, gets the dispatcher's Prometheus metrics:
	// kbus_webhook_attempts_total{outcome}, kbus_webhook_dead_lettered_total
	// and kbus_webhook_attempt_duration_seconds.
	Registerer prometheus.Registerer
}

// A Dispatcher sends due deliveries. Several dispatchers, in one process or
// many, may run against one database: each claims deliveries with
// FOR UPDATE SKIP LOCKED and a lease longer than the POST timeout, so no two
// send the same attempt, and a dispatcher that dies loses nothing: its
// claims become due again when their lease runs out.
type Dispatcher struct {
	cfg    DispatcherConfig
	st     store
	id     string
	client *http.Client
	guard  DialGuard
	dlqw   *dlq.Writer
	tr     tracing.Tracing
	lease  time.Duration
	sem    chan struct{} // bounds the POSTs in flight to Workers

	sent, succeeded, failed, deadLettered atomic.Int64

	pAttempts     *prometheus.CounterVec
	pDeadLettered prometheus.Counter
	pDuration     prometheus.Histogram
}

// DispatcherStats counts a dispatcher's work since it was created.
type DispatcherStats struct {
	Attempts     int64 // POSTs made (or refused by the SSRF guard)
	Succeeded    int64 // attempts answered with 2xx
	Failed       int64 // attempts that failed: to be retried or dead-lettered
	DeadLettered int64 // deliveries written to the DLQ
}

// NewDispatcher returns a dispatcher for cfg.
func NewDispatcher(cfg DispatcherConfig) (*Dispatcher, error) {
	if cfg.DB == nil || cfg.Kafka == nil {
		return nil, errors.New("webhook: DispatcherConfig needs DB and Kafka")
	}
	if cfg.Group == "" {
		cfg.Group = DefaultGroup
	}
	if cfg.Schedule == nil {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Timeout < time.Second || cfg.Timeout > 30*time.Second {
		return nil, fmt.Errorf("webhook: Timeout %v outside 1s..30s", cfg.Timeout)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 128
	}
	if cfg.Loops <= 0 {
		cfg.Loops = 3
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.DisableAfter <= 0 {
		cfg.DisableAfter = 5 * 24 * time.Hour
	}
	if cfg.MaxResponseBody <= 0 {
		cfg.MaxResponseBody = 4 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	box, err := newSealer(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	d := &Dispatcher{cfg: cfg, st: store{cfg.DB, box}, id: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), newID("")), dlqw: dlq.NewWriter(cfg.Kafka),
		lease: 2*cfg.Timeout + 30*time.Second, sem: make(chan struct{}, cfg.Workers), tr: tracing.New(cfg.TracerProvider, cfg.Propagator)}
	d.pAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kbus", Subsystem: "webhook", Name: "attempts_total",
		Help: "Delivery attempts by outcome (success, failure, refused)."}, []string{"outcome"})
	d.pDeadLettered = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kbus", Subsystem: "webhook", Name: "dead_lettered_total",
		Help: "Deliveries that failed for good and were written to the DLQ."})
	d.pDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "kbus", Subsystem: "webhook", Name: "attempt_duration_seconds",
		Help: "Duration of delivery POSTs.", Buckets: attemptBuckets})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{d.pAttempts, d.pDeadLettered, d.pDuration} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("webhook: register metrics: %w", err)
			}
		}
	}
	d.guard = DialGuard{Allow: cfg.AllowNetworks}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: d.guard.Control}
	d.client = &http.Client{
		Timeout: cfg.Timeout,
		Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConnsPerHost: cfg.Workers,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: cfg.Timeout,
		},
		// Redirects are not followed: only the registered URL gets events.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d, nil
}

// attemptBuckets are the upper bounds, in seconds, of
// kbus_webhook_attempt_duration_seconds: up to Timeout's maximum, 30 s.
var attemptBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 20, 30}

// Stats returns the dispatcher's counters.
func (d *Dispatcher) Stats() DispatcherStats {
	return DispatcherStats{d.sent.Load(), d.succeeded.Load(), d.failed.Load(), d.deadLettered.Load()}
}

// Run dispatches until ctx ends; attempts in flight finish and are
// recorded first.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.cfg.Logger.Info("kbus: webhook dispatcher started", "dispatcher_id", d.id, "loops", d.cfg.Loops)
	var wg sync.WaitGroup
	for range d.cfg.Loops {
		wg.Go(func() { d.loop(ctx) })
	}
	wg.Wait()
	return nil
}

func (d *Dispatcher) loop(ctx context.Context) {
	for {
		n, err := d.DispatchOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.cfg.Logger.Error("kbus: webhook dispatch failed; retrying", "error", err)
		}
		if ctx.Err() != nil {
			return
		}
		if n < d.cfg.BatchSize {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d.cfg.PollInterval):
			}
		}
	}
}

// claimed is a delivery this dispatcher holds a lease on.
type claimed struct {
	id, endpointID, messageID, eventType, tenant string
	payload                                      []byte
	attempts                                     int
	endpoint                                     Endpoint
	endpointErr                                  error
	traceContext                                 *string // see tracing.go
}

const claimSQL = `WITH due AS (
	SELECT id FROM webhook_deliveries
	WHERE status = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
	ORDER BY next_attempt_at
	LIMIT $1
	FOR UPDATE SKIP LOCKED),
claimed AS (
	UPDATE webhook_deliveries d SET lease_owner = $2, lease_until = now() + $3::interval
	FROM due WHERE d.id = due.id
	RETURNING d.id, d.endpoint_id, d.message_id, d.event_type, d.tenant_id, d.attempts)
SELECT c.*, b.payload, b.trace_context FROM claimed c JOIN webhook_delivery_bodies b ON b.delivery_id = c.id`

// DispatchOnce claims one batch of due deliveries, sends them and records
// the outcomes. It returns how many it claimed.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (int, error) {
	rows, err := d.cfg.DB.Query(ctx, claimSQL, d.cfg.BatchSize, d.id, d.lease)
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	var batch []*claimed
	for rows.Next() {
		c := &claimed{}
		if err := rows.Scan(&c.id, &c.endpointID, &c.messageID, &c.eventType, &c.tenant, &c.attempts, &c.payload, &c.traceContext); err != nil {
			rows.Close()
			return 0, fmt.Errorf("claim: %w", err)
		}
		batch = append(batch, c)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	endpoints := map[string]*Endpoint{}
	for _, c := range batch {
		if e, ok := endpoints[c.endpointID]; ok {
			c.endpoint = *e
			continue
		}
		e, err := d.st.signingEndpoint(ctx, c.endpointID)
		c.endpoint, c.endpointErr = e, err
		if err == nil {
			endpoints[c.endpointID] = &e
		}
	}

	// Send, Workers at a time. The POSTs run on a context that outlives ctx
	// (bounded by the client's timeout), so a stopping dispatcher finishes
	// and records what it started.
	sendCtx := context.WithoutCancel(ctx)
	results := make([]outcome, len(batch))
	var wg sync.WaitGroup
	for i, c := range batch {
		d.sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-d.sem }()
			results[i] = d.tracedSend(sendCtx, c)
		})
	}
	wg.Wait()
	return len(batch), d.record(sendCtx, batch, results)
}

// outcome is the result of one attempt.
type outcome struct {
	at         time.Time
	duration   time.Duration
	status     int // 0: no response
	body       string
	err        string
	retryAfter time.Duration
	success    bool
	final      string // a dead-letter reason when no retry may follow
	skipped    bool   // no POST was made (endpoint gone or disabled)
}

func (d *Dispatcher) send(ctx context.Context, c *claimed) outcome {
	o := outcome{at: time.Now()}
	switch {
	case errors.Is(c.endpointErr, ErrNotFound):
		o.skipped, o.final, o.err = true, ReasonEndpointDisabled, "endpoint deleted"
		return o
	case c.endpointErr != nil:
		o.skipped, o.err = true, "loading the endpoint: "+c.endpointErr.Error()
		return o
	case c.endpoint.Status != StatusActive:
		o.skipped, o.final, o.err = true, ReasonEndpointDisabled, "endpoint disabled: "+c.endpoint.DisabledReason
		return o
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint.URL, bytes.NewReader(c.payload))
	if err != nil {
		o.final, o.err = ReasonDeliveryFailed, err.Error()
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kbus-webhooks/1")
	SetHeaders(req.Header, c.messageID, o.at.Unix(), c.payload, c.endpoint.secrets(o.at), c.endpoint.StandardWebhooks)
	d.tr.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	d.sent.Add(1)
	var resp *http.Response
	if reason := d.guard.hostRefusal(req.URL.Hostname()); reason != "" {
		// Refused before any DNS query, as the API refuses it at registration.
		err = fmt.Errorf("%w: %s", ErrForbiddenAddress, reason)
	} else {
		resp, err = d.client.Do(req)
	}
	o.duration = time.Since(o.at)
	d.pDuration.Observe(o.duration.Seconds())
	if err != nil {
		o.err = err.Error()
		outcome := "failure"
		if errors.Is(err, ErrForbiddenAddress) {
			o.final, outcome = ReasonForbiddenDestination, "refused"
		}
		d.pAttempts.WithLabelValues(outcome).Inc()
		return o
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, int64(d.cfg.MaxResponseBody)))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	o.status, o.body = resp.StatusCode, string(b)
	o.success = resp.StatusCode >= 200 && resp.StatusCode < 300
	if o.success {
		d.pAttempts.WithLabelValues("success").Inc()
	} else {
		d.pAttempts.WithLabelValues("failure").Inc()
	}
	switch {
	case o.success:
	case resp.StatusCode == http.StatusGone:
		o.final, o.err = ReasonEndpointGone, "410 Gone: endpoint disabled"
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		o.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), o.at)
	}
	return o
}

// parseRetryAfter reads delay-seconds or an HTTP date, capped at 24h.
func parseRetryAfter(v string, now time.Time) time.Duration {
	const maxDelay = 24 * time.Hour
	if v == "" {
		return 0
	}
	var d time.Duration
	// Atoi saturates a number out of range (ErrRange): that too is a long
	// delay. Capping before multiplying keeps the Duration from overflowing.
	if s, err := strconv.Atoi(v); (err == nil || errors.Is(err, strconv.ErrRange)) && s > 0 {
		d = time.Duration(min(s, int(maxDelay/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxDelay)
}

// next decides what follows attempt n (1-based) of a delivery.
func (d *Dispatcher) next(n int, o outcome) (status string, next time.Time) {
	switch {
	case o.success:
		return DeliverySucceeded, time.Time{}
	case o.final != "":
		return DeliveryFailed, time.Time{}
	case o.skipped:
		return DeliveryPending, o.at.Add(d.cfg.PollInterval * 4) // a transient lookup error: try again soon
	case n > len(d.cfg.Schedule):
		return DeliveryFailed, time.Time{}
	}
	wait := time.Duration(float64(d.cfg.Schedule[n-1]) * (0.9 + 0.2*rand.Float64()))
	return DeliveryPending, o.at.Add(max(wait, o.retryAfter))
}

// record writes the attempts and the deliveries' new states in one
// transaction of a few statements (arrays through unnest, whatever the batch
// size), dead-lettering the deliveries that failed for good first. Every
// write is guarded by this dispatcher's lease: if a lease ran out and another
// dispatcher took the delivery, nothing of this attempt is written.
func (d *Dispatcher) record(ctx context.Context, batch []*claimed, results []outcome) error {
	var (
		// attempts
		aID         []string
		aN, aMS     []int32
		aAt         []time.Time
		aStatus     []*int32
		aBody, aErr []string
		aOK         []bool
		aNext       []*time.Time
		// deliveries
		dID, dStatus       []string
		dN                 []int32
		dNext              []time.Time
		recovered, goneEps []string
		failedEps          []string
		failedAt           []time.Time
	)
	for i, c := range batch {
		o := results[i]
		n := c.attempts
		if !o.skipped {
			n++
		}
		status, next := d.next(n, o)
		if status == DeliveryFailed {
			if err := d.deadLetter(ctx, c, n, o); err != nil {
				// Keep it pending: it is tried (and dead-lettered) again later.
				d.cfg.Logger.Error("kbus: cannot dead-letter a failed webhook delivery; it stays pending",
					"delivery_id", c.id, "endpoint_id", c.endpointID, "message_id", c.messageID, "error", err)
				status, next = DeliveryPending, o.at.Add(time.Minute)
			}
		}
		if !o.skipped {
			var nextRetry *time.Time
			if status == DeliveryPending {
				nextRetry = &next
			}
			var respStatus *int32
			if o.status != 0 {
				s := int32(o.status)
				respStatus = &s
			}
			aID, aN, aAt, aMS = append(aID, c.id), append(aN, int32(n)), append(aAt, o.at), append(aMS, int32(o.duration/time.Millisecond))
			aStatus, aBody, aErr = append(aStatus, respStatus), append(aBody, o.body), append(aErr, o.err)
			aOK, aNext = append(aOK, o.success), append(aNext, nextRetry)
		}
		if next.IsZero() {
			next = o.at
		}
		dID, dStatus, dN, dNext = append(dID, c.id), append(dStatus, status), append(dN, int32(n)), append(dNext, next)
		switch {
		case o.success:
			d.succeeded.Add(1)
			if c.endpoint.failingSince != nil {
				recovered = append(recovered, c.endpointID)
			}
		case o.final == ReasonEndpointGone:
			d.failed.Add(1)
			goneEps = append(goneEps, c.endpointID)
		case !o.skipped:
			d.failed.Add(1)
			failedEps, failedAt = append(failedEps, c.endpointID), append(failedAt, o.at)
		}
	}
	b := &pgx.Batch{}
	if len(aID) > 0 {
		b.Queue(`INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, duration_ms, response_status, response_body, error, success, next_retry)
			SELECT u.* FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[], $5::int[], $6::text[], $7::text[], $8::bool[], $9::timestamptz[])
				AS u(id, n, at, ms, st, body, err, ok, next)
			WHERE EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = u.id AND d.lease_owner = $10)`,
			aID, aN, aAt, aMS, aStatus, aBody, aErr, aOK, aNext, d.id)
	}
	b.Queue(`UPDATE webhook_deliveries d SET status = u.status, attempts = u.n, next_attempt_at = u.next,
			lease_owner = NULL, lease_until = NULL, updated_at = now()
		FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[]) AS u(id, status, n, next)
		WHERE d.id = u.id AND d.lease_owner = $5`, dID, dStatus, dN, dNext, d.id)
	if len(recovered) > 0 {
		b.Queue(`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ANY ($1)`, recovered)
	}
	if len(goneEps) > 0 {
		b.Queue(`UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = '410 Gone from the receiver', updated_at = now()
			WHERE id = ANY ($1)`, goneEps)
	}
	if len(failedEps) > 0 {
		// An endpoint failing every delivery for DisableAfter is disabled.
		b.Queue(`UPDATE webhook_endpoints e SET failing_since = coalesce(e.failing_since, f.at),
				status = CASE WHEN coalesce(e.failing_since, f.at) < f.at - $3::interval THEN 'disabled' ELSE e.status END,
				disabled_reason = CASE WHEN coalesce(e.failing_since, f.at) < f.at - $3::interval
					THEN 'every delivery failed for ' || $3::interval::text ELSE e.disabled_reason END,
				updated_at = now()
			FROM (SELECT id, max(at) AS at FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) GROUP BY id) f
			WHERE e.id = f.id`, failedEps, failedAt, d.cfg.DisableAfter)
	}
	tx, err := d.cfg.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	return nil
}

// deadLetter writes the DLQ entry of a delivery that failed for good. The
// entry carries the original record, so `kbus dlq replay --group webhooks`
// gives this endpoint a fresh delivery.
func (d *Dispatcher) deadLetter(ctx context.Context, c *claimed, attempts int, o outcome) error {
	rec := &kgo.Record{}
	var rawHeaders []byte
	if err := d.cfg.DB.QueryRow(ctx, `SELECT source_topic, source_partition, source_offset, source_key, source_value, source_headers
		FROM webhook_delivery_bodies WHERE delivery_id = $1`, c.id).Scan(&rec.Topic, &rec.Partition, &rec.Offset, &rec.Key, &rec.Value, &rawHeaders); err != nil {
		return fmt.Errorf("loading the source record: %w", err)
	}
	var hs []storedHeader
	if err := json.Unmarshal(rawHeaders, &hs); err != nil {
		return fmt.Errorf("source headers: %w", err)
	}
	for _, h := range hs {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	e := dlq.NewEntry(rec, d.cfg.Group, o.final, c.messageID)
	if e.FailureReason == "" {
		e.FailureReason = ReasonDeliveryFailed
	}
	e.EndpointID = c.endpointID
	e.Attempts = attempts
	e.LastAttempt = o.at.UTC()
	e.FirstAttempt = e.LastAttempt
	if first, err := d.firstAttempt(ctx, c.id); err == nil && !first.IsZero() {
		e.FirstAttempt = first.UTC()
	}
	e.LastError = o.err
	if e.LastError == "" && o.status != 0 {
		e.LastError = fmt.Sprintf("HTTP %d: %s", o.status, o.body)
	}
	e.DeadLetteredAt = time.Now().UTC()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.dlqw.Write(wctx, e); err != nil {
		return err
	}
	d.deadLettered.Add(1)
	d.pDeadLettered.Inc()
	d.cfg.Logger.Warn("kbus: webhook delivery dead-lettered", "delivery_id", c.id, "endpoint_id", c.endpointID,
		"message_id", c.messageID, "reason", e.FailureReason, "attempts", attempts, "error", e.LastError)
	return nil
}

func (d *Dispatcher) firstAttempt(ctx context.Context, id string) (time.Time, error) {
	var t *time.Time
	err := d.cfg.DB.QueryRow(ctx, `SELECT min(attempted_at) FROM webhook_attempts WHERE delivery_id = $1`, id).Scan(&t)
	if err != nil || t == nil {
		return time.Time{}, err
	}
	return *t, nil
}
