package producer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/internal/tracing"
	"github.com/kbus-dev/kbus/schemas"
)

// Errors returned by the producer. Envelope validation errors are returned as
// they come from the envelope package and match [envelope.ErrInvalid].
var (
	// ErrClosed is returned by every call made after [Producer.Close].
	ErrClosed = errors.New("producer: closed")
	// ErrReservedHeader is returned when [Headers] names a header in the
	// "kbus-" namespace, which mirrors the envelope.
	ErrReservedHeader = errors.New("producer: reserved header")
	// ErrNotAcknowledged is wrapped by the error of a publish whose context
	// ended before the broker acknowledged it. The event may still be written:
	// retry with the same [MessageID] so that consumers deduplicate it.
	ErrNotAcknowledged = errors.New("producer: not acknowledged")
)

// A Receipt describes a published event.
type Receipt struct {
	MessageID   string    // the envelope's message_id: the dedup key, and the id to reuse in a retry
	Topic       string    // the topic, the event type
	Partition   int32     // the partition the key chose; -1 when the event was not written
	Offset      int64     // the record's offset in the partition; -1 when not written
	PublishedAt time.Time // the envelope's published_at (UTC, millisecond precision)
}

// Producer publishes events, each wrapped in an [envelope.Envelope], onto
// Kafka topics. Every record is written idempotently with acks=all, keyed by
// the caller's ordering key: events with the same key land on the same
// partition, in the order they were published.
//
// A Producer is safe for concurrent use. Create one per process and share it.
type Producer struct {
	cl      *kgo.Client
	cfg     config
	brokers string
	tr      tracing.Tracing
	names   sync.Map // topic → its send span's name, made once

	pool sync.Pool // of *outgoing

	closeOnce sync.Once
	mu        sync.RWMutex // guards closed against in-flight produces
	closed    bool
}

// New returns a producer. It does not wait for the network: use
// [Producer.Ping] to check that a broker answers.
//
// The franz-go client is configured with idempotent writes, acks from all
// in-sync replicas, the key-hashing partitioner that Kafka's Java client uses
// (so the same key maps to the same partition from any kbus or Java producer),
// and no automatic topic creation: provision topics with
// [Producer.EnsureTopics] or your usual tooling.
func New(opts ...Option) (*Producer, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.schemas == nil {
		reg, err := schemas.Default()
		if err != nil {
			return nil, fmt.Errorf("producer: load the default schema catalog: %w", err)
		}
		cfg.schemas = reg
	}
	kopts := []kgo.Opt{
		kgo.SeedBrokers(cfg.brokers...),
		kgo.WithLogger(kslog.New(cfg.logger)),
		kgo.ProducerLinger(cfg.linger),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	}
	kopts = append(kopts, cfg.clientOpts...)
	// Guarantees last, so ClientOptions cannot turn them off by accident.
	kopts = append(kopts, kgo.RequiredAcks(kgo.AllISRAcks()))
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	if disabled, _ := cl.OptValue(kgo.DisableIdempotentWrite).(bool); disabled {
		cl.Close()
		return nil, errors.New("producer: ClientOptions must not disable idempotent writes: kbus relies on them for ordering without duplicates")
	}
	return &Producer{cl: cl, cfg: cfg, brokers: strings.Join(cfg.brokers, ","), tr: tracing.New(cfg.tp, cfg.prop)}, nil
}

// Client returns the underlying franz-go client, for admin requests and
// metrics hooks. Do not close it: close the producer.
func (p *Producer) Client() *kgo.Client { return p.cl }

// Ping checks that a broker answers, within ctx's deadline.
func (p *Producer) Ping(ctx context.Context) error {
	if err := p.cl.Ping(ctx); err != nil {
		return fmt.Errorf("producer: no broker answers at %s: %w", p.brokers, err)
	}
	return nil
}

// Envelope builds the envelope that Publish would send for data on topic,
// without sending it: a fresh message id, the publish time, the producer's
// name, the correlation id from ctx, then opts. The envelope is not
// validated; [Producer.PublishEnvelope] does that.
func (p *Producer) Envelope(ctx context.Context, topic string, data []byte, opts ...PublishOption) envelope.Envelope {
	e, _ := p.build(ctx, topic, bytes.Clone(data), opts)
	return e
}

// build is envelope.New without its copy of data: the envelope is encoded
// into a new buffer before Publish returns, so data is never retained.
func (p *Producer) build(ctx context.Context, topic string, data []byte, opts []PublishOption) (envelope.Envelope, publishConfig) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	e := envelope.Envelope{
		MessageID:   envelope.NewMessageID(now),
		Topic:       topic,
		PublishedAt: now,
		Producer:    p.cfg.name,
		Data:        data,
		Metadata: envelope.Metadata{
			CorrelationID: envelope.CorrelationID(ctx),
			SchemaVersion: envelope.DefaultSchemaVersion,
		},
	}
	var pc publishConfig
	if len(opts) > 0 {
		e, pc = applyOptions(e, opts)
	}
	if e.Metadata.ContentType == "" {
		e.Metadata.ContentType = envelope.ContentTypeJSON
		if p.cfg.avroTopics[topic] {
			e.Metadata.ContentType = envelope.ContentTypeAvro
		}
	}
	return e, pc
}

// applyOptions applies opts to e. It is apart from build so that only
// publishes with options pay for e escaping to the heap (options are
// called through an interface).
//
//go:noinline
func applyOptions(e envelope.Envelope, opts []PublishOption) (envelope.Envelope, publishConfig) {
	var pc publishConfig
	for _, o := range opts {
		o.applyPublish(&e, &pc)
	}
	return e, pc
}

// Publish wraps data in an envelope, sends it to topic with key as the
// partitioning key, and waits until the broker has acknowledged it (written to
// all in-sync replicas). An empty key spreads events over partitions.
//
// data must be JSON unless [ContentType] says otherwise. An invalid envelope
// (bad topic name, data that is not JSON, too large, …) is refused before
// anything is sent, with an error matching [envelope.ErrInvalid].
//
// Publish returns within ctx's deadline. When no broker answers, the error
// names the brokers and wraps ctx's error and [ErrNotAcknowledged]; the event
// may still be written later, so a retry should reuse its [MessageID] (the
// id is in the returned Receipt even on error).
func (p *Producer) Publish(ctx context.Context, topic, key string, data []byte, opts ...PublishOption) (Receipt, error) {
	e, pc := p.build(ctx, topic, data, opts)
	return p.send(ctx, key, e, pc.headers)
}

// PublishEnvelope sends an already built envelope unchanged (its message id,
// time and producer are kept), for relaying an outbox or replaying an event.
// It validates e like Publish does and waits for the acknowledgement.
func (p *Producer) PublishEnvelope(ctx context.Context, key string, e envelope.Envelope, opts ...PublishOption) (Receipt, error) {
	var pc publishConfig
	if len(opts) > 0 {
		e, pc = applyOptions(e, opts)
	}
	return p.send(ctx, key, e, pc.headers)
}

// PublishEnvelopeAsync is PublishEnvelope without waiting, reporting like
// [Producer.PublishAsync].
func (p *Producer) PublishEnvelopeAsync(ctx context.Context, key string, e envelope.Envelope, done func(Receipt, error), opts ...PublishOption) {
	var pc publishConfig
	if len(opts) > 0 {
		e, pc = applyOptions(e, opts)
	}
	if err := p.produce(ctx, key, e, pc.headers, done); err != nil {
		if done != nil {
			done(receipt(e), err)
		} else {
			p.cfg.logger.Error("kbus: publish refused", "message_id", e.MessageID, "topic", e.Topic, "error", err)
		}
	}
}

func (p *Producer) send(ctx context.Context, key string, e envelope.Envelope, extra []envelope.Header) (Receipt, error) {
	type result struct {
		rcpt Receipt
		err  error
	}
	done := make(chan result, 1)
	if err := p.produce(ctx, key, e, extra, func(r Receipt, err error) { done <- result{r, err} }); err != nil {
		return receipt(e), err
	}
	select {
	case res := <-done:
		return res.rcpt, res.err
	case <-ctx.Done():
		return receipt(e), p.deliveryError(e, ctx.Err())
	}
}

// receipt is the receipt of e before it has a position.
func receipt(e envelope.Envelope) Receipt {
	return Receipt{MessageID: e.MessageID, Topic: e.Topic, Partition: -1, Offset: -1, PublishedAt: e.PublishedAt}
}

// PublishAsync is Publish without waiting: it buffers the event and returns.
// done, if not nil, is called exactly once with the receipt and the outcome,
// from a goroutine of the client; callbacks run one at a time and must not
// block (hand long work to another goroutine). An invalid envelope calls done
// with the validation error before PublishAsync returns.
//
// PublishAsync blocks only when the client's buffer is full, until there is
// room or ctx ends. Use [Producer.Flush] to wait for everything buffered.
func (p *Producer) PublishAsync(ctx context.Context, topic, key string, data []byte, done func(Receipt, error), opts ...PublishOption) {
	e, pc := p.build(ctx, topic, data, opts)
	if err := p.produce(ctx, key, e, pc.headers, done); err != nil {
		if done != nil {
			done(receipt(e), err)
		} else {
			p.cfg.logger.Error("kbus: publish refused", "message_id", e.MessageID, "topic", e.Topic, "error", err)
		}
	}
}

// outgoing is one record on its way to the broker: the kgo record, its
// headers and one buffer holding the value, the key and the header values.
// Outgoing records are pooled per producer and reused once the broker has
// answered, so that publishing allocates next to nothing per event.
type outgoing struct {
	p        *Producer
	rec      kgo.Record
	kheaders []kgo.RecordHeader
	buf      []byte
	rcpt     Receipt
	done     func(Receipt, error)
	span     trace.Span               // the send span, ended by finish
	promise  func(*kgo.Record, error) // bound to this outgoing once, reused
}

func (o *outgoing) finish(_ *kgo.Record, err error) {
	p, rcpt, done, span := o.p, o.rcpt, o.done, o.span
	if err == nil {
		rcpt.Partition, rcpt.Offset = o.rec.Partition, o.rec.Offset
	}
	endSend(span, rcpt, err)
	// The client holds no reference to the record once it calls the promise.
	o.rec, o.done, o.rcpt, o.span = kgo.Record{}, nil, Receipt{}, nil
	p.pool.Put(o)
	switch {
	case err == nil:
		if done != nil {
			done(rcpt, nil)
		}
	case done != nil:
		done(rcpt, p.deliveryErrorID(rcpt.MessageID, rcpt.Topic, err))
	default:
		p.cfg.logger.Error("kbus: publish failed", "message_id", rcpt.MessageID, "topic", rcpt.Topic, "error", err)
	}
}

// prepare checks extra headers, encodes Avro data, and validates and
// encodes e into dst, checking its size and its data against the schema.
func (p *Producer) prepare(e *envelope.Envelope, extra []envelope.Header, dst []byte) ([]byte, error) {
	for _, h := range extra {
		if strings.HasPrefix(h.Key, "kbus-") {
			return dst, fmt.Errorf("%w: %q", ErrReservedHeader, h.Key)
		}
	}
	// JSON data with an Avro content type is encoded here; data that is
	// already a (base64) JSON string travels as it is.
	encoded := e.Metadata.ContentType == envelope.ContentTypeAvro && !isJSONString(e.Data)
	if encoded {
		if err := p.encodeAvro(e); err != nil {
			return dst, fmt.Errorf("producer: %w", err)
		}
	}
	buf, err := envelope.AppendMarshal(dst, *e)
	if err == nil {
		err = envelope.CheckSize(len(buf), p.cfg.maxSize)
	}
	if err == nil {
		err = p.conform(e, encoded)
	}
	if err != nil {
		return buf, fmt.Errorf("producer: %w", err)
	}
	return buf, nil
}

// Prepare builds the envelope that Publish would send for data on topic and
// checks it as Publish does (the envelope, the data against its schema, the
// size, the extra headers), without sending anything. It returns the
// envelope as it would travel (Avro data encoded) and the headers given
// with [Headers]; send it later with [Producer.PublishEnvelope]. The
// transactional outbox (package producer/outbox) stores what Prepare
// returns, so that an event that could never be published is refused inside
// the caller's transaction.
func (p *Producer) Prepare(ctx context.Context, topic string, data []byte, opts ...PublishOption) (envelope.Envelope, []envelope.Header, error) {
	e, pc := p.build(ctx, topic, bytes.Clone(data), opts)
	if _, err := p.prepare(&e, pc.headers, nil); err != nil {
		return e, nil, err
	}
	// The trace context of ctx travels with the stored headers, so that the
	// send span of a later PublishEnvelope continues the caller's trace.
	p.tr.Propagator.Inject(ctx, tracing.HeaderCarrier{Headers: &pc.headers})
	return e, pc.headers, nil
}

// produce validates and encodes e and hands it to the client. It returns an
// error only when nothing was handed over; otherwise done (if not nil)
// reports the outcome.
func (p *Producer) produce(ctx context.Context, key string, e envelope.Envelope, extra []envelope.Header, done func(Receipt, error)) error {
	o, _ := p.pool.Get().(*outgoing)
	if o == nil {
		o = &outgoing{p: p}
		o.promise = o.finish
	}
	// One buffer holds the value, the key and the header values: grown once
	// for all of them (the fields appear in both the value and the headers).
	fields := len(e.MessageID) + len(e.Topic) + len(e.Producer) + len(e.Metadata.CorrelationID) +
		len(e.Metadata.SchemaVersion) + len(e.Metadata.ContentType)
	dst := slices.Grow(o.buf[:0], 2*fields+len(e.Data)+len(key)+256)
	buf, err := p.prepare(&e, extra, dst)
	if err != nil {
		o.buf = buf
		p.pool.Put(o)
		return err
	}
	valueLen := len(buf)
	buf = append(buf, key...)
	o.kheaders, buf = appendHeaders(o.kheaders[:0], buf, &e)
	for _, h := range extra {
		o.kheaders = append(o.kheaders, kgo.RecordHeader(h))
	}
	o.buf = buf
	if len(extra) == 0 && p.tr.Idle(ctx) {
		o.span = nil // nothing to record, nothing to propagate
	} else {
		o.span = p.startSend(ctx, key, &e, extra, &o.kheaders)
	}
	o.rec = kgo.Record{Topic: e.Topic, Value: buf[:valueLen:valueLen], Headers: o.kheaders, Timestamp: e.PublishedAt}
	if key != "" {
		o.rec.Key = buf[valueLen : valueLen+len(key) : valueLen+len(key)]
	}
	o.rcpt, o.done = receipt(e), done

	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		endSend(o.span, o.rcpt, ErrClosed)
		o.rec, o.done, o.span = kgo.Record{}, nil, nil
		p.pool.Put(o)
		return ErrClosed
	}
	p.cl.Produce(ctx, &o.rec, o.promise)
	return nil
}

// startSend starts the send span of e, a child of ctx's span or, when ctx
// has none, of the trace context in the extra headers (an outbox row
// carries its caller's), and writes its trace context into headers.
func (p *Producer) startSend(ctx context.Context, key string, e *envelope.Envelope, extra []envelope.Header, headers *[]kgo.RecordHeader) trace.Span {
	parent := ctx
	if len(extra) > 0 && !trace.SpanContextFromContext(ctx).IsValid() {
		parent = p.tr.Propagator.Extract(ctx, tracing.HeaderCarrier{Headers: &extra})
	}
	name, ok := p.names.Load(e.Topic)
	if !ok {
		name, _ = p.names.LoadOrStore(e.Topic, "send "+e.Topic)
	}
	sctx, span := p.tr.Tracer.Start(parent, name.(string), trace.WithSpanKind(trace.SpanKindProducer))
	if span.IsRecording() {
		span.SetAttributes(tracing.System, semconv.MessagingDestinationName(e.Topic), semconv.MessagingMessageID(e.MessageID))
		span.SetAttributes(tracing.OpSend...)
		if key != "" {
			span.SetAttributes(semconv.MessagingKafkaMessageKey(key))
		}
	}
	p.tr.Propagator.Inject(sctx, tracing.RecordCarrier{Headers: headers})
	return span
}

// appendHeaders is [envelope.Envelope.AppendHeaders] writing franz-go's
// header type directly (the same fields, in the same order), so that the
// headers need no copy into the record.
func appendHeaders(hs []kgo.RecordHeader, buf []byte, e *envelope.Envelope) ([]kgo.RecordHeader, []byte) {
	buf = slices.Grow(buf, len(e.MessageID)+len(e.Topic)+len(e.Metadata.SchemaVersion)+
		len(e.Metadata.CorrelationID)+len(e.Metadata.ContentType)+len(e.Producer)+len(envelope.Version))
	hs = slices.Grow(hs, 7)
	add := func(k, v string) {
		start := len(buf)
		buf = append(buf, v...)
		hs = append(hs, kgo.RecordHeader{Key: k, Value: buf[start:len(buf):len(buf)]})
	}
	add(envelope.HeaderMessageID, e.MessageID)
	add(envelope.HeaderType, e.Topic)
	add(envelope.HeaderSchemaVersion, e.Metadata.SchemaVersion)
	if e.Metadata.CorrelationID != "" {
		add(envelope.HeaderCorrelationID, e.Metadata.CorrelationID)
	}
	add(envelope.HeaderContentType, e.Metadata.ContentType)
	add(envelope.HeaderProducer, e.Producer)
	add(envelope.HeaderEnvelopeVersion, envelope.Version)
	return hs, buf
}

// endSend ends a send span with the event's position or the error.
func endSend(span trace.Span, rcpt Receipt, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else if span.IsRecording() {
		span.SetAttributes(tracing.Partition(rcpt.Partition), tracing.Offset(rcpt.Offset))
	}
	span.End()
}

// encodeAvro replaces e's JSON data with its Avro encoding (validating it
// on the way), for an Avro content type given JSON data.
func (p *Producer) encodeAvro(e *envelope.Envelope) error {
	data, err := p.cfg.schemas.AvroData(e.Topic, e.Metadata.SchemaVersion, e.Data)
	if err != nil {
		return err
	}
	e.Data = data
	return nil
}

// conform checks e's data against the catalog, unless validation is off.
// It runs once the envelope itself is known to be valid.
func (p *Producer) conform(e *envelope.Envelope, encoded bool) error {
	switch {
	case p.cfg.noValidate || encoded:
		return nil // encoded: EncodeAvro validated it
	case e.Metadata.ContentType == envelope.ContentTypeAvro:
		_, err := p.cfg.schemas.DecodeEnvelope(*e, "")
		return err
	default:
		return p.cfg.schemas.ValidateJSON(e.Topic, e.Metadata.SchemaVersion, e.Data)
	}
}

// isJSONString reports whether data, a JSON value, is a string.
func isJSONString(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '"'
	}
	return false
}

func (p *Producer) deliveryError(e envelope.Envelope, err error) error {
	return p.deliveryErrorID(e.MessageID, e.Topic, err)
}

func (p *Producer) deliveryErrorID(id, topic string, err error) error {
	switch {
	case errors.Is(err, kgo.ErrClientClosed):
		return fmt.Errorf("producer: publish %s to %q: %w", id, topic, ErrClosed)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("producer: publish %s to %q: no acknowledgement from %s: %w: %w",
			id, topic, p.brokers, ErrNotAcknowledged, err)
	default:
		return fmt.Errorf("producer: publish %s to %q: %w", id, topic, err)
	}
}

// Flush waits until every buffered event has been acknowledged or failed
// (their callbacks have been called), or ctx ends.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("producer: flush: %w", err)
	}
	return nil
}

// Close releases the client. Events still buffered are failed with
// [ErrClosed]; call [Producer.Flush] first to send them. Close is idempotent,
// and calls made after it return ErrClosed.
func (p *Producer) Close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.cl.Close()
	})
}
