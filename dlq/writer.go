package dlq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A WriterOption configures a [Writer]. Options are applied in order; a
// later option overrides an earlier one.
type WriterOption interface{ apply(*writerConfig) }

type writerOptionFunc func(*writerConfig)

func (f writerOptionFunc) apply(c *writerConfig) { f(c) }

type writerConfig struct {
	partitions  int32
	replication int16
	configs     map[string]*string
}

func defaultWriterConfig() writerConfig {
	return writerConfig{partitions: 3, replication: -1}
}

// Partitions sets the number of partitions of the DLQ topics the Writer
// creates. The default is 3; -1 means the broker's num.partitions. Topics
// that exist are never changed.
func Partitions(n int32) WriterOption {
	return writerOptionFunc(func(c *writerConfig) { c.partitions = n })
}

// ReplicationFactor sets the replication factor of the DLQ topics the
// Writer creates. The default, -1, means the broker's
// default.replication.factor; use 3 in production.
func ReplicationFactor(rf int16) WriterOption {
	return writerOptionFunc(func(c *writerConfig) { c.replication = rf })
}

// TopicConfig sets a topic config, such as retention.ms or
// max.message.bytes, on the DLQ topics the Writer creates. By default none
// is set and the broker's defaults apply. A DLQ entry holds the original
// value twice (embedded and base64), so an entry can be up to about 2.4
// times the size of the original record: raise max.message.bytes here, and
// the client's ProducerBatchMaxBytes, when events come close to the limit.
func TopicConfig(key, value string) WriterOption {
	return writerOptionFunc(func(c *writerConfig) {
		if c.configs == nil {
			c.configs = make(map[string]*string)
		}
		c.configs[key] = &value
	})
}

// Writer writes entries to DLQ topics, creating each topic the first time
// it writes to it if the topic does not exist yet.
//
// A Writer is safe for concurrent use. It uses the *kgo.Client it is given
// (normally the consumer's own client), never closes it, and keeps no
// goroutine of its own, so it needs no Close.
type Writer struct {
	cl  *kgo.Client
	adm *kadm.Client
	cfg writerConfig

	mu     sync.Mutex
	topics map[string]*topicState // by topic name; guarded by mu
}

// topicState serializes the check-and-create of one topic.
type topicState struct {
	sem   chan struct{} // capacity 1: held while checking or creating
	ready bool          // guarded by sem
}

// NewWriter returns a Writer producing through cl. It does no I/O.
//
// cl must be able to produce outside a transaction: a transactional client
// fails Write unless a transaction is open, in which case the entry is part
// of that transaction. cl's producer settings (acks, idempotency, retries,
// ProducerBatchMaxBytes) apply to DLQ records as to any other.
func NewWriter(cl *kgo.Client, opts ...WriterOption) *Writer {
	cfg := defaultWriterConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	return &Writer{cl: cl, adm: kadm.NewClient(cl), cfg: cfg, topics: make(map[string]*topicState)}
}

// Write encodes e with [Entry.Record] and produces it to the DLQ topic of
// e.ConsumerGroup, waiting for the broker's acknowledgement.
//
// The first write to a topic checks that it exists and otherwise creates it
// through kadm, with the WriterOption settings, then waits until every
// partition has a leader. The Writer remembers topics it has seen; if a
// produce later fails because the topic is gone, the next Write checks
// again.
//
// Write returns by ctx's deadline. Errors wrap the cause: [ErrInvalidEntry]
// for an entry that cannot be written (nothing is sent), ctx.Err() when the
// deadline passes, the kerr or kgo error otherwise. When ctx ends while the
// record is in flight, it may still be written: the entry may or may not
// be in the DLQ. Write does not retry beyond what cl does internally;
// retrying is the caller's job, and a retried write may produce a duplicate
// entry (readers can recognise it by OriginalMessageID, Partition and
// Offset).
func (w *Writer) Write(ctx context.Context, e Entry) error {
	rec, err := e.Record()
	if err != nil {
		return err
	}
	if err := w.ensureTopic(ctx, rec.Topic); err != nil {
		return err
	}
	done := make(chan error, 1) // buffered: the promise never blocks, even after we return
	w.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err = <-done:
	case <-ctx.Done():
		return fmt.Errorf("dlq: write to %s: %w", rec.Topic, ctx.Err())
	}
	if err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			w.forget(rec.Topic)
		}
		return fmt.Errorf("dlq: write to %s: %w", rec.Topic, err)
	}
	return nil
}

func (w *Writer) state(topic string) *topicState {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.topics[topic]
	if s == nil {
		s = &topicState{sem: make(chan struct{}, 1)}
		w.topics[topic] = s
	}
	return s
}

func (w *Writer) forget(topic string) {
	s := w.state(topic)
	select {
	case s.sem <- struct{}{}:
		s.ready = false
		<-s.sem
	default:
		// Someone is checking the topic right now; that check decides.
	}
}

// ensureTopic makes sure topic exists, creating it if needed. Concurrent
// calls for one topic wait for the first one (or for their ctx).
func (w *Writer) ensureTopic(ctx context.Context, topic string) error {
	s := w.state(topic)
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("dlq: ensure topic %s: %w", topic, ctx.Err())
	}
	defer func() { <-s.sem }()
	if s.ready {
		return nil
	}
	status, _, err := describeTopic(ctx, w.cl, topic)
	if err != nil {
		return err
	}
	if status == topicMissing {
		resp, err := w.adm.CreateTopic(ctx, w.cfg.partitions, w.cfg.replication, w.cfg.configs, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("dlq: create topic %s: %w", topic, err)
		}
	}
	if status != topicReady {
		if err := w.waitReady(ctx, topic); err != nil {
			return err
		}
	}
	s.ready = true
	return nil
}

// waitReady polls metadata until a just-created topic is usable, or ctx
// ends. Metadata propagates to the brokers asynchronously.
func (w *Writer) waitReady(ctx context.Context, topic string) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		status, _, err := describeTopic(ctx, w.cl, topic)
		if err != nil {
			return err
		}
		if status == topicReady {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dlq: topic %s not ready: %w", topic, ctx.Err())
		case <-t.C:
		}
	}
}
