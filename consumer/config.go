package consumer

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/schemas"
)

// Mode is a consumer's delivery guarantee. It is explicit in [Config]; see
// the package documentation for the table of guarantees.
type Mode int

const (
	// Transactional is exactly-once effects: for every event the dedup row in
	// processed_events and the handler's own writes commit in one PostgreSQL
	// transaction, and the Kafka offset is committed only after it. A
	// redelivered event finds its row and is skipped. Handlers are registered
	// with [Consumer.HandleTx] or [Consumer.HandleBatchTx]; Config.DB is
	// required. This is the zero value, the default.
	Transactional Mode = iota
	// AtLeastOnce runs stateless handlers ([Consumer.Handle]) and commits the
	// offset after they succeed (or after the event is dead-lettered). A crash
	// between the handler and the commit redelivers the event: handlers must
	// be idempotent.
	AtLeastOnce
	// AtMostOnce commits the offset before running the handlers
	// ([Consumer.Handle]). A crash loses the events in flight; nothing is ever
	// handled twice. Failures are still retried and dead-lettered.
	AtMostOnce
)

// String returns "transactional", "at-least-once" or "at-most-once".
func (m Mode) String() string {
	switch m {
	case Transactional:
		return "transactional"
	case AtLeastOnce:
		return "at-least-once"
	case AtMostOnce:
		return "at-most-once"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// UnknownTypePolicy says what happens to an event whose type has no handler.
type UnknownTypePolicy int

const (
	// SkipUnknown skips the event, counts it (skipped, reason no_handler) and
	// logs it at debug level. The default: a group subscribes to topics, not
	// to every type a topic may ever carry.
	SkipUnknown UnknownTypePolicy = iota
	// DeadLetterUnknown sends the event to the group's DLQ with reason
	// no_handler.
	DeadLetterUnknown
)

// RetryPolicy says how often and how fast a failing handler is retried. A
// retry happens in order, within the partition: the events after it wait.
// The zero value means the defaults.
type RetryPolicy struct {
	// Attempts is the total number of attempts, the first included. The
	// default is 5; 1 means no retries.
	Attempts int
	// BaseDelay is the delay before the first retry; each retry doubles it.
	// The default is 200ms.
	BaseDelay time.Duration
	// MaxDelay caps the delay. The default is 10s.
	MaxDelay time.Duration
}

func (r RetryPolicy) withDefaults() RetryPolicy {
	if r.Attempts <= 0 {
		r.Attempts = 5
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = 200 * time.Millisecond
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 10 * time.Second
	}
	if r.MaxDelay < r.BaseDelay {
		r.MaxDelay = r.BaseDelay
	}
	return r
}

// delay returns the wait before attempt n (n ≥ 2): exponential from
// BaseDelay, capped at MaxDelay, with ±20% jitter so that consumers failing
// together do not retry together.
func (r RetryPolicy) delay(n int) time.Duration {
	d := r.BaseDelay
	for i := 2; i < n && d < r.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, r.MaxDelay)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Config configures a [Consumer]. Zero values mean the documented defaults.
type Config struct {
	// Brokers are the seed brokers. The default is 127.0.0.1:9092.
	Brokers []string
	// Group is the consumer group: the unit of load balancing (instances of
	// one group share the partitions) and of dedup (processed_events rows
	// are per group). Its dead-letter topic is dlq.<Group>. Required.
	Group string
	// Topics the group consumes. Required.
	Topics []string

	// Mode is the delivery guarantee; the default is Transactional.
	Mode Mode
	// DB is the PostgreSQL pool for Transactional mode: the dedup table and
	// the handlers' transactions. kbus's migrations are applied to it when
	// Run starts, unless SkipMigrations.
	DB *pgxpool.Pool
	// SkipMigrations leaves the schema alone; apply it with `kbus migrate`.
	SkipMigrations bool

	// Retry is the handlers' retry policy.
	Retry RetryPolicy
	// MaxBatch is the largest number of events of one partition handled in
	// one database transaction (and the unit of offset commits). The default
	// is 500; 1 gives one transaction per event.
	MaxBatch int
	// Concurrency is how many partitions are processed at once. The default
	// is 4. Events of one partition are always handled in order.
	Concurrency int
	// MaxBufferedRecords is how many fetched records one partition may have
	// waiting; beyond it the partition's fetches are paused until it catches
	// up, so a slow partition never holds up the others or exhausts memory.
	// The default is 4 × MaxBatch.
	MaxBufferedRecords int
	// CommitInterval is how often processed offsets are committed to Kafka
	// (always after the effects they cover are durable, and also whenever
	// partitions are revoked and at shutdown). A crash redelivers at most
	// this much work, which dedup absorbs in Transactional mode. The default
	// is 500ms.
	CommitInterval time.Duration
	// Schemas is the schema catalog used to decode events whose data is
	// Avro (content type application/avro) and to resolve events to the
	// version a handler declares with [SchemaVersion]. The default is
	// schemas.Default(), kbus's shipped catalog.
	Schemas *schemas.Registry
	// UnknownType says what to do with events that have no handler.
	UnknownType UnknownTypePolicy
	// MaxEnvelopeSize is the largest record value accepted as an envelope;
	// larger records are dead-lettered with reason decode_error. The default
	// is envelope.DefaultMaxSize.
	MaxEnvelopeSize int
	// StartAtEnd makes a group that has no committed offsets start at the end
	// of the topics instead of the beginning (the default, so that a new
	// group sees every retained event).
	StartAtEnd bool
	// ShutdownTimeout bounds the graceful drain when Run's context ends:
	// handlers still running after it see their context canceled. The
	// default is 30s.
	ShutdownTimeout time.Duration

	// Logger receives the consumer's logs (and franz-go's warnings). The
	// default discards them.
	Logger *slog.Logger
	// Registerer, if not nil, gets the consumer's Prometheus metrics.
	Registerer prometheus.Registerer
	// ClientOptions are extra franz-go options (TLS, SASL, fetch sizes…),
	// applied before the options kbus needs for its guarantees.
	ClientOptions []kgo.Opt

	// TracerProvider gets the consumer's OpenTelemetry spans: one
	// "process <topic>" span (kind Consumer) per event, a child of the
	// producer's span read from the record's headers, from the first
	// attempt to the success or the dead-lettering, with an exception event
	// per failed attempt (attribute kbus.attempt); a batch handler's call
	// gets one span linked to each event's producer span instead. Handlers
	// get the span in their ctx, so what they publish or write continues
	// the trace. The default is otel.GetTracerProvider(), a no-op until the
	// application installs an SDK; kbus never installs one.
	TracerProvider trace.TracerProvider
	// Propagator reads the trace context from the records' headers (W3C
	// traceparent and tracestate with propagation.TraceContext). The
	// default is otel.GetTextMapPropagator(), which reads nothing until the
	// application sets one.
	Propagator propagation.TextMapPropagator
}

// ErrConfig is wrapped by the errors Run returns for an unusable
// configuration or handler registration.
var ErrConfig = errors.New("consumer: invalid configuration")

func (c *Config) withDefaults() Config {
	cfg := *c
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = []string{"127.0.0.1:9092"}
	}
	cfg.Retry = cfg.Retry.withDefaults()
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.MaxBufferedRecords <= 0 {
		cfg.MaxBufferedRecords = 4 * cfg.MaxBatch
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = 500 * time.Millisecond
	}
	if cfg.MaxEnvelopeSize <= 0 {
		cfg.MaxEnvelopeSize = envelope.DefaultMaxSize
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

func (c *Config) validate() error {
	var errs []error
	if c.Group == "" {
		errs = append(errs, errors.New("the Group field is required"))
	} else if !envelope.ValidTopic("dlq." + c.Group) {
		errs = append(errs, fmt.Errorf("group %q cannot name a DLQ topic (dlq.<group> must be a valid topic name)", c.Group))
	}
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("the Topics field is required"))
	}
	switch c.Mode {
	case Transactional:
		if c.DB == nil {
			errs = append(errs, errors.New("the DB field is required in Transactional mode"))
		}
	case AtLeastOnce, AtMostOnce:
	default:
		errs = append(errs, fmt.Errorf("unknown Mode %d", int(c.Mode)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}
