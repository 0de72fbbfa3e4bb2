package producer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/kbus-dev/kbus/envelope"
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
	MessageID   string
	Topic       string
	Partition   int32
	Offset      int64
	PublishedAt time.Time
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
	return &Producer{cl: cl, cfg: cfg, brokers: strings.Join(cfg.brokers, ",")}, nil
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
			ContentType:   envelope.ContentTypeJSON,
		},
	}
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
	for _, o := range opts {
		o.applyPublish(&e, &pc)
	}
	return p.send(ctx, key, e, pc.headers)
}

func (p *Producer) send(ctx context.Context, key string, e envelope.Envelope, extra []envelope.Header) (Receipt, error) {
	rcpt := Receipt{MessageID: e.MessageID, Topic: e.Topic, Partition: -1, Offset: -1, PublishedAt: e.PublishedAt}
	type result struct {
		r   *kgo.Record
		err error
	}
	done := make(chan result, 1)
	if err := p.produce(ctx, key, e, extra, func(r *kgo.Record, err error) { done <- result{r, err} }); err != nil {
		return rcpt, err
	}
	select {
	case res := <-done:
		if res.err != nil {
			return rcpt, p.deliveryError(e, res.err)
		}
		rcpt.Partition, rcpt.Offset = res.r.Partition, res.r.Offset
		return rcpt, nil
	case <-ctx.Done():
		return rcpt, p.deliveryError(e, ctx.Err())
	}
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
	rcpt := Receipt{MessageID: e.MessageID, Topic: e.Topic, Partition: -1, Offset: -1, PublishedAt: e.PublishedAt}
	err := p.produce(ctx, key, e, pc.headers, func(r *kgo.Record, err error) {
		if done == nil {
			if err != nil {
				p.cfg.logger.Error("kbus: publish failed", "message_id", e.MessageID, "topic", e.Topic, "error", err)
			}
			return
		}
		if err != nil {
			done(rcpt, p.deliveryError(e, err))
			return
		}
		rc := rcpt
		rc.Partition, rc.Offset = r.Partition, r.Offset
		done(rc, nil)
	})
	if err != nil {
		if done != nil {
			done(rcpt, err)
		} else {
			p.cfg.logger.Error("kbus: publish refused", "message_id", e.MessageID, "topic", e.Topic, "error", err)
		}
	}
}

// produce validates and encodes e and hands it to the client. It returns an
// error only when nothing was handed over; otherwise promise reports.
func (p *Producer) produce(ctx context.Context, key string, e envelope.Envelope, extra []envelope.Header, promise func(*kgo.Record, error)) error {
	rec, err := p.record(key, e, extra)
	if err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	p.cl.Produce(ctx, rec, promise)
	return nil
}

// record encodes e into a Kafka record: the JSON envelope as the value, the
// identifying fields as headers.
func (p *Producer) record(key string, e envelope.Envelope, extra []envelope.Header) (*kgo.Record, error) {
	value, err := envelope.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	if err := envelope.CheckSize(len(value), p.cfg.maxSize); err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	mirrored := e.Headers()
	hs := make([]kgo.RecordHeader, len(mirrored), len(mirrored)+len(extra))
	for i, h := range mirrored {
		hs[i] = kgo.RecordHeader(h)
	}
	for _, h := range extra {
		if strings.HasPrefix(h.Key, "kbus-") {
			return nil, fmt.Errorf("%w: %q", ErrReservedHeader, h.Key)
		}
		hs = append(hs, kgo.RecordHeader(h))
	}
	rec := &kgo.Record{Topic: e.Topic, Value: value, Headers: hs, Timestamp: e.PublishedAt}
	if key != "" {
		rec.Key = []byte(key)
	}
	return rec, nil
}

func (p *Producer) deliveryError(e envelope.Envelope, err error) error {
	switch {
	case errors.Is(err, kgo.ErrClientClosed):
		return fmt.Errorf("producer: publish %s to %q: %w", e.MessageID, e.Topic, ErrClosed)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("producer: publish %s to %q: no acknowledgement from %s: %w: %w",
			e.MessageID, e.Topic, p.brokers, ErrNotAcknowledged, err)
	default:
		return fmt.Errorf("producer: publish %s to %q: %w", e.MessageID, e.Topic, err)
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
