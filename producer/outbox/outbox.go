package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/internal/migrations"
	"github.com/kbus-dev/kbus/producer"
)

// channel is the PostgreSQL notification channel Enqueue signals on.
const channel = "kbus_outbox"

// Config configures an [Outbox]. Zero values mean the defaults.
type Config struct {
	// Producer publishes the relayed events and checks enqueued ones
	// (envelope, schema, size) with [producer.Producer.Prepare]. Required.
	Producer *producer.Producer
	// DB is the database holding the kbus_outbox table: the one whose
	// transactions Enqueue writes into. Required for Run.
	DB *pgxpool.Pool
	// SkipMigrations leaves the schema alone; otherwise Run applies kbus's
	// migrations (which create kbus_outbox) before relaying.
	SkipMigrations bool
	// BatchSize is the most rows one round of the relay publishes. The
	// default is 500.
	BatchSize int
	// PollInterval is how long the relay waits for a notification before
	// looking at the table again; Enqueue notifies on commit, so it matters
	// only for rows written by other means. The default is 1s.
	PollInterval time.Duration
	// MaxBackoff caps the wait between rounds after a publish fails. The
	// default is 30s.
	MaxBackoff time.Duration
	// Logger receives the relay's logs; the default discards them.
	Logger *slog.Logger
	// Registerer, if not nil, gets the outbox's Prometheus metrics, the
	// counters of Stats: kbus_outbox_enqueued_total,
	// kbus_outbox_relayed_total, kbus_outbox_publish_failures_total and the
	// gauge kbus_outbox_leader (1 while this relay leads).
	Registerer prometheus.Registerer
}

// Stats are an Outbox's counters since it was created.
type Stats struct {
	Enqueued int64 // rows written by Enqueue (in transactions that may have rolled back)
	Relayed  int64 // events published and deleted from the table
	Failures int64 // publish attempts that failed; the rows stayed
	Leader   bool  // whether this relay holds the outbox's lock
}

// Outbox writes events into PostgreSQL inside a caller's transaction and
// relays them to Kafka. It is safe for concurrent use.
type Outbox struct {
	cfg Config

	enqueued, relayed, failures atomic.Int64
	leader, running             atomic.Bool
}

// New returns an outbox for cfg. It does not connect.
func New(cfg Config) (*Outbox, error) {
	if cfg.Producer == nil {
		return nil, errors.New("outbox: Config.Producer is required")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{cfg: cfg}
	if cfg.Registerer != nil {
		counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "kbus", Subsystem: "outbox", Name: name, Help: help},
				func() float64 { return float64(v.Load()) })
		}
		for _, c := range []prometheus.Collector{
			counter("enqueued_total", "Events written by Enqueue (in transactions that may have rolled back).", &o.enqueued),
			counter("relayed_total", "Events published and deleted from the outbox.", &o.relayed),
			counter("publish_failures_total", "Relay rounds in which a publish failed (the rows stayed).", &o.failures),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "kbus", Subsystem: "outbox", Name: "leader",
				Help: "1 while this relay holds the outbox's lock and publishes."}, func() float64 {
				if o.leader.Load() {
					return 1
				}
				return 0
			}),
		} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("outbox: register metrics: %w", err)
			}
		}
	}
	return o, nil
}

// Stats returns the outbox's counters.
func (o *Outbox) Stats() Stats {
	return Stats{Enqueued: o.enqueued.Load(), Relayed: o.relayed.Load(), Failures: o.failures.Load(), Leader: o.leader.Load()}
}

// Enqueue writes an event into the outbox through tx, the caller's
// transaction, and returns its envelope: the event is published if and only
// if tx commits. The envelope is built and checked exactly as
// [producer.Producer.Publish] would (a fresh message id, the correlation id
// from ctx, the schema check, opts), so an event that could never be
// published is refused here, while the transaction can still roll back.
// key is the ordering key, as for Publish.
//
// Enqueue does not commit or roll back tx. On commit PostgreSQL notifies the
// relay, which publishes within milliseconds.
func (o *Outbox) Enqueue(ctx context.Context, tx pgx.Tx, topic, key string, data []byte, opts ...producer.PublishOption) (envelope.Envelope, error) {
	e, hs, err := o.cfg.Producer.Prepare(ctx, topic, data, opts...)
	if err != nil {
		return e, fmt.Errorf("outbox: %w", err)
	}
	value, err := envelope.Marshal(e)
	if err != nil {
		return e, fmt.Errorf("outbox: %w", err)
	}
	keys := make([]string, len(hs))
	values := make([][]byte, len(hs))
	for i, h := range hs {
		keys[i], values[i] = h.Key, h.Value
	}
	// One round trip: the row, and the notification the relay gets on
	// commit (PostgreSQL folds a transaction's identical notifications).
	if _, err := tx.Exec(ctx, `WITH row AS (
			INSERT INTO kbus_outbox (message_id, topic, record_key, envelope, header_keys, header_values)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING 1)
		SELECT pg_notify($7, '') FROM row`, e.MessageID, e.Topic, key, value, keys, values, channel); err != nil {
		return e, fmt.Errorf("outbox: insert %s: %w", e.MessageID, err)
	}
	o.enqueued.Add(1)
	return e, nil
}

// Run relays the outbox until ctx ends, then returns nil. Rows are published
// in the order they were inserted (the id order), keyed as enqueued and with
// their message ids, and deleted once the broker has acknowledged them: a
// crash between the two publishes them again, which consumers deduplicate on
// the message id. Delivery is at-least-once; nothing is deleted unpublished.
//
// Any number of processes may run a relay on the same table: one holds a
// PostgreSQL advisory lock and relays, the others wait to take over, so the
// order per key is kept. A round publishes up to BatchSize rows at once.
// When a publish fails, its row stays in the table with its attempts and
// last error, the acknowledged rows of the round are deleted, and the relay
// retries from the oldest remaining row with backoff: a row that can never
// be published (a topic that does not exist) is retried loudly rather than
// dropped. Events of the round that were published after it, on the same
// key, then precede it on the topic: order per key holds as long as
// publishes succeed.
//
// Run may be called once.
func (o *Outbox) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return errors.New("outbox: Run called twice")
	}
	if o.cfg.DB == nil {
		return errors.New("outbox: Config.DB is required to Run")
	}
	if !o.cfg.SkipMigrations {
		if err := migrations.ApplyPool(ctx, o.cfg.DB); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	for ctx.Err() == nil {
		err := o.lead(ctx)
		o.leader.Store(false)
		if err != nil && ctx.Err() == nil {
			o.cfg.Logger.Error("kbus: outbox relay interrupted", "error", err)
			sleep(ctx, o.cfg.PollInterval)
		}
	}
	return nil
}

// lead takes the outbox's lock on a connection of its own (waiting for it
// while another relay holds it) and relays while it holds it.
func (o *Outbox) lead(ctx context.Context) error {
	pc, err := o.cfg.DB.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection holds a session lock and LISTENs: it never goes back
	// to the pool, and closing it releases both.
	conn := pc.Hijack()
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	for {
		var ok bool
		// One lock per schema: the table the connection sees.
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext('kbus_outbox:' || current_schema()))`).Scan(&ok); err != nil {
			return err
		}
		if ok {
			break
		}
		if !sleep(ctx, o.cfg.PollInterval) {
			return nil
		}
	}
	o.leader.Store(true)
	o.cfg.Logger.Info("kbus: outbox relay leading")
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		n, err := o.round(ctx, conn)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && conn.IsClosed():
			// The database went away (restarted, the network cut): the
			// session's lock went with it and another relay may lead now.
			// Start over on a new connection.
			return fmt.Errorf("relay connection lost: %w", err)
		case err != nil:
			o.failures.Add(1)
			backoff = min(max(2*backoff, 100*time.Millisecond), o.cfg.MaxBackoff)
			o.cfg.Logger.Error("kbus: outbox publish failed; the row stays first in line", "error", err, "retry_in", backoff.String())
			if !sleep(ctx, jitter(backoff)) {
				return nil
			}
		case n == o.cfg.BatchSize:
			backoff = 0 // more waiting: go on at once
		default:
			backoff = 0
			wctx, cancel := context.WithTimeout(ctx, o.cfg.PollInterval)
			_, werr := conn.WaitForNotification(wctx)
			cancel()
			if werr != nil && ctx.Err() == nil && !errors.Is(werr, context.DeadlineExceeded) {
				return werr
			}
		}
	}
	return nil
}

type row struct {
	id       int64
	key      string
	value    []byte
	hkeys    []string
	hvalues  [][]byte
	e        envelope.Envelope
	err      error
	finished bool
}

// round publishes up to BatchSize rows, oldest first, and deletes those
// acknowledged. It returns how many rows it read, and the first publish
// error after recording it on its row.
func (o *Outbox) round(ctx context.Context, conn *pgx.Conn) (int, error) {
	rows, err := conn.Query(ctx, `SELECT id, record_key, envelope, header_keys, header_values
		FROM kbus_outbox ORDER BY id LIMIT $1`, o.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*row, error) {
		var x row
		return &x, r.Scan(&x.id, &x.key, &x.value, &x.hkeys, &x.hvalues)
	})
	if err != nil || len(batch) == 0 {
		return 0, err
	}

	var wg sync.WaitGroup
	for _, r := range batch {
		if r.e, r.err = envelope.Unmarshal(r.value); r.err != nil {
			r.err = fmt.Errorf("row %d is not a valid envelope: %w", r.id, r.err)
			break // keep the order: nothing after a row that cannot go
		}
		var hs []envelope.Header
		for i := range r.hkeys {
			hs = append(hs, envelope.Header{Key: r.hkeys[i], Value: r.hvalues[i]})
		}
		wg.Add(1)
		o.cfg.Producer.PublishEnvelopeAsync(ctx, r.key, r.e, func(_ producer.Receipt, err error) {
			r.err, r.finished = err, true
			wg.Done()
		}, producer.Headers(hs...))
	}
	wg.Wait()

	// Delete the acknowledged rows; record the first failure on its row.
	var done []int64
	var failed *row
	for _, r := range batch {
		switch {
		case r.finished && r.err == nil:
			done = append(done, r.id)
		case failed == nil && r.err != nil:
			failed = r
		}
	}
	// The deletes must land even if ctx has just ended: the events are out.
	dctx := context.WithoutCancel(ctx)
	if len(done) > 0 {
		if _, err := conn.Exec(dctx, `DELETE FROM kbus_outbox WHERE id = ANY($1)`, done); err != nil {
			return len(batch), fmt.Errorf("delete %d relayed rows (they will be published again): %w", len(done), err)
		}
		o.relayed.Add(int64(len(done)))
	}
	if failed != nil {
		if _, err := conn.Exec(dctx, `UPDATE kbus_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1`,
			failed.id, failed.err.Error()); err != nil {
			o.cfg.Logger.Error("kbus: outbox: record a failure", "message_id", failed.e.MessageID, "topic", failed.e.Topic, "error", err)
		}
		return len(batch), fmt.Errorf("publish %s to %q: %w", failed.e.MessageID, failed.e.Topic, failed.err)
	}
	return len(batch), nil
}

// Status describes the rows waiting in an outbox table.
type Status struct {
	Pending int64         `json:"pending"`          // rows not yet published
	Oldest  time.Duration `json:"oldest_ns"`        // age of the oldest row; 0 when none
	Failing []Failing     `json:"failing,omitzero"` // rows whose publish failed, oldest first
}

// Failing is a row whose last publish attempt failed.
type Failing struct {
	MessageID string    `json:"message_id"`
	Topic     string    `json:"topic"`
	Key       string    `json:"key"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	CreatedAt time.Time `json:"created_at"`
}

// Pending returns the number of rows waiting in the outbox and the age of
// the oldest, for health checks and alerts. A growing age means the relay
// is not running or a row keeps failing (see [Inspect]).
func Pending(ctx context.Context, db *pgxpool.Pool) (n int64, oldest time.Duration, err error) {
	var secs float64
	err = db.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM kbus_outbox`).Scan(&n, &secs)
	if err != nil {
		return 0, 0, fmt.Errorf("outbox: %w", err)
	}
	return n, time.Duration(secs * float64(time.Second)), nil
}

// Inspect returns the outbox's Status with up to limit failing rows.
func Inspect(ctx context.Context, db *pgxpool.Pool, limit int) (Status, error) {
	var st Status
	var err error
	if st.Pending, st.Oldest, err = Pending(ctx, db); err != nil {
		return st, err
	}
	rows, err := db.Query(ctx, `SELECT message_id, topic, record_key, attempts, last_error, created_at
		FROM kbus_outbox WHERE last_error IS NOT NULL ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return st, fmt.Errorf("outbox: %w", err)
	}
	st.Failing, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Failing, error) {
		var f Failing
		return f, r.Scan(&f.MessageID, &f.Topic, &f.Key, &f.Attempts, &f.LastError, &f.CreatedAt)
	})
	if err != nil {
		return st, fmt.Errorf("outbox: %w", err)
	}
	return st, nil
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sleep waits d or until ctx ends; it reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
