package producer

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/schemas"
)

// An Option configures a [Producer]. Options are applied in order; a later
// option overrides an earlier one.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	schemas    *schemas.Registry // nil: schemas.Default(), loaded by New
	noValidate bool
	avroTopics map[string]bool
	brokers    []string
	name       string
	clientOpts []kgo.Opt
	logger     *slog.Logger
	maxSize    int
	linger     time.Duration
	tp         trace.TracerProvider          // nil: otel.GetTracerProvider()
	prop       propagation.TextMapPropagator // nil: otel.GetTextMapPropagator()
}

func defaultConfig() config {
	return config{
		brokers: []string{"127.0.0.1:9092"},
		name:    filepath.Base(os.Args[0]),
		logger:  slog.New(slog.DiscardHandler),
		maxSize: envelope.DefaultMaxSize,
	}
}

func (c *config) validate() error {
	if len(c.brokers) == 0 {
		return errors.New("producer: no brokers")
	}
	if c.name == "" {
		return errors.New("producer: empty producer name")
	}
	if c.maxSize <= 0 {
		return errors.New("producer: MaxEnvelopeSize must be positive")
	}
	return nil
}

// Brokers sets the seed brokers (host:port). The default is 127.0.0.1:9092.
func Brokers(addrs ...string) Option {
	return optionFunc(func(c *config) { c.brokers = addrs })
}

// Name sets the envelope's producer field, the name of the publishing service
// (e.g. "payment-service"). The default is the program's base name.
func Name(name string) Option {
	return optionFunc(func(c *config) { c.name = name })
}

// Logger sets the logger for the producer's own events and franz-go's
// warnings and errors. The default discards logs.
func Logger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// MaxEnvelopeSize sets the largest encoded envelope the producer sends, in
// bytes; larger events are refused with an error wrapping
// [envelope.ErrTooLarge] before anything is sent. The default is
// [envelope.DefaultMaxSize]. Raising it also needs the topic's
// max.message.bytes raised on the broker.
func MaxEnvelopeSize(n int) Option {
	return optionFunc(func(c *config) { c.maxSize = n })
}

// Linger sets how long the client waits for more records before sending a
// batch to a partition. The default, 0, sends as soon as possible, which
// favours latency; a few milliseconds favours throughput under load.
func Linger(d time.Duration) Option {
	return optionFunc(func(c *config) { c.linger = d })
}

// ClientOptions adds franz-go client options, for TLS, SASL, batching and
// timeouts. They are applied after kbus's own (see [New]), except that the
// producer's guarantees cannot be weakened: idempotence and acks=all are
// applied last.
func ClientOptions(opts ...kgo.Opt) Option {
	return optionFunc(func(c *config) { c.clientOpts = append(c.clientOpts, opts...) })
}

// TracerProvider sets the OpenTelemetry tracer provider of the producer's
// spans: one "send <topic>" span (kind Producer, messaging.system=kafka)
// per published event, a child of the span in Publish's ctx, ended when
// the broker acknowledges the event or the publish fails. The default is
// otel.GetTracerProvider(), a no-op until the application installs an SDK;
// kbus never installs one. See docs/operations.md (Tracing).
func TracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tp = tp })
}

// Propagator sets the propagator that writes the trace context of the
// send span (W3C traceparent and tracestate with
// propagation.TraceContext) into each record's headers, where consumers
// read it. The default is otel.GetTextMapPropagator(), which propagates
// nothing until the application sets one with otel.SetTextMapPropagator.
func Propagator(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) { c.prop = p })
}

// Schemas sets the schema catalog that events are checked against (and
// encoded with, for Avro). The default is [schemas.Default], kbus's shipped
// catalog; load your own with [schemas.Load].
//
// Before sending, the producer checks every event's data against the
// schema of its type (the topic) and metadata.schema_version in the
// catalog: a payload that does not match, or an unknown type or version, is
// refused before anything is sent, with an error that names the field and
// matches [schemas.ErrInvalidData], [schemas.ErrUnknownType] or
// [schemas.ErrUnknownVersion]. See [SkipSchemaValidation] to turn the check
// off.
func Schemas(reg *schemas.Registry) Option {
	return optionFunc(func(c *config) { c.schemas = reg })
}

// SkipSchemaValidation turns off the check of events' data against the
// catalog (see [Schemas]): data is then checked only for being JSON. Use it
// for topics that have no schema, such as tests' scratch topics or a relay
// of events validated elsewhere. Avro encoding ([AvroTopics],
// [ContentType]) still needs the catalog and still validates what it
// encodes.
func SkipSchemaValidation() Option {
	return optionFunc(func(c *config) { c.noValidate = true })
}

// AvroTopics makes events published on topics carry their data as Avro
// binary (content type [envelope.ContentTypeAvro]) instead of JSON: the
// caller still passes JSON data to Publish, which the producer validates and
// encodes with the schema of the event's type and version. Avro data is
// about half the size of the JSON for kbus's payment events; consumers
// decode either form transparently, so a topic may carry both while
// producers switch. A [ContentType] publish option overrides it per event.
func AvroTopics(topics ...string) Option {
	return optionFunc(func(c *config) {
		if c.avroTopics == nil {
			c.avroTopics = make(map[string]bool)
		}
		for _, t := range topics {
			c.avroTopics[t] = true
		}
	})
}

// A PublishOption changes one published event.
type PublishOption interface {
	applyPublish(*envelope.Envelope, *publishConfig)
}

type publishOptionFunc func(*envelope.Envelope, *publishConfig)

func (f publishOptionFunc) applyPublish(e *envelope.Envelope, p *publishConfig) { f(e, p) }

type publishConfig struct {
	headers []envelope.Header
}

// SchemaVersion sets metadata.schema_version. The default is
// [envelope.DefaultSchemaVersion].
func SchemaVersion(v string) PublishOption {
	return publishOptionFunc(func(e *envelope.Envelope, _ *publishConfig) { e.Metadata.SchemaVersion = v })
}

// CorrelationID sets metadata.correlation_id, overriding the one carried by
// the context (see [envelope.WithCorrelationID]).
func CorrelationID(id string) PublishOption {
	return publishOptionFunc(func(e *envelope.Envelope, _ *publishConfig) { e.Metadata.CorrelationID = id })
}

// ContentType sets metadata.content_type: [envelope.ContentTypeJSON], or
// [envelope.ContentTypeAvro] to send data as Avro binary. The default is
// JSON, or Avro on the topics named by [AvroTopics].
//
// With ContentTypeAvro, data given to Publish as a JSON object is validated
// and encoded with the catalog's schema (see [Schemas]); data that is
// already a JSON string is taken as base64 Avro bytes, as they appear on
// the wire, and is checked by decoding it.
func ContentType(ct string) PublishOption {
	return publishOptionFunc(func(e *envelope.Envelope, _ *publishConfig) { e.Metadata.ContentType = ct })
}

// MessageID publishes the event under an existing message id instead of a
// fresh one, for example when retrying a publish whose outcome is unknown:
// consumers deduplicate on the id, so the retry has no second effect. The id
// must be a valid kbus message id ([envelope.ParseMessageID]).
func MessageID(id string) PublishOption {
	return publishOptionFunc(func(e *envelope.Envelope, _ *publishConfig) { e.MessageID = id })
}

// Headers adds record headers beside the ones that mirror the envelope. Keys
// starting with "kbus-" are reserved and refused.
func Headers(hs ...envelope.Header) PublishOption {
	return publishOptionFunc(func(_ *envelope.Envelope, p *publishConfig) { p.headers = append(p.headers, hs...) })
}
