package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/schemas"
)

// item is a decoded event on its way to its handler.
type item struct {
	rec     *kgo.Record
	e       envelope.Envelope
	h       handler
	dedupID string // the message id, or message id + replay key (see dlq.HeaderReplayKey)

	span   trace.Span        // the event's process span (noSpan for a batch handler's event); see tracing.go
	remote trace.SpanContext // the producer's span, from the record's headers
	bag    baggage.Baggage
}

// attempts tracks the attempts at one event, for retries and the DLQ entry.
type attempts struct {
	n           int
	first, last time.Time
	err         error
}

// process handles one chunk of a partition's records, in order. It returns
// false when it was aborted (the worker was stopped during retries, or the
// shutdown timeout passed); then nothing of the chunk may be committed.
func (c *Consumer) process(w *worker, recs []*kgo.Record) bool {
	items := make([]item, 0, len(recs))
	defer func() { endSpans(items) }()
	for _, rec := range recs {
		if group, ok := dlq.ReplayTarget(rec.Headers); ok && group != c.cfg.Group {
			c.m.addSkipped(rec.Topic, "replay_for_other_group")
			c.cfg.Logger.Debug("kbus: replay for another group skipped", "group", c.cfg.Group, "replay_group", group,
				"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset)
			continue
		}
		e, err := c.decode(rec)
		if err != nil {
			now := time.Now()
			if !c.deadLetter(w, rec, e.MessageID, dlq.ReasonDecodeError, attempts{1, now, now, err}) {
				return false
			}
			continue
		}
		h, ok := c.handlers[e.Topic]
		if !ok {
			if c.cfg.UnknownType == DeadLetterUnknown {
				now := time.Now()
				err := fmt.Errorf("no handler for event type %q in group %q", e.Topic, c.cfg.Group)
				if !c.deadLetter(w, rec, e.MessageID, dlq.ReasonNoHandler, attempts{1, now, now, err}) {
					return false
				}
			} else {
				c.m.addSkipped(rec.Topic, "no_handler")
				c.cfg.Logger.Debug("kbus: no handler, event skipped", "group", c.cfg.Group, "topic", rec.Topic,
					"partition", rec.Partition, "offset", rec.Offset, "message_id", e.MessageID)
			}
			continue
		}
		if h.version != "" || e.Metadata.ContentType != envelope.ContentTypeJSON {
			if e, err = c.cfg.Schemas.DecodeEnvelope(e, h.version); err != nil {
				reason := dlq.ReasonDecodeError
				if errors.Is(err, schemas.ErrIncompatible) || errors.Is(err, schemas.ErrUnknownType) || errors.Is(err, schemas.ErrUnknownVersion) {
					reason = dlq.ReasonSchemaIncompatible
				}
				now := time.Now()
				if !c.deadLetter(w, rec, e.MessageID, reason, attempts{1, now, now, err}) {
					return false
				}
				continue
			}
		}
		it := item{rec: rec, e: e, h: h, dedupID: dedupID(rec, e)}
		c.tr.start(&it)
		items = append(items, it)
	}

	switch c.cfg.Mode {
	case Transactional:
		return c.runTx(w, items)
	case AtMostOnce:
		// Commit first: a crash from here on loses these events, by design.
		// The handlers run only once the commit succeeded, so they never
		// run twice.
		if !c.commitBeforeHandling(w, recs[len(recs)-1]) {
			return false
		}
	}
	for _, it := range items {
		now := time.Now()
		herr := c.callPlain(it)
		if herr == nil {
			c.m.addProcessed(it.rec.Topic, 1)
			continue
		}
		if !c.retry(w, it, attempts{1, now, now, herr}) {
			return false
		}
	}
	return true
}

func (c *Consumer) decode(rec *kgo.Record) (envelope.Envelope, error) {
	if err := envelope.CheckSize(len(rec.Value), c.cfg.MaxEnvelopeSize); err != nil {
		return envelope.Envelope{}, err
	}
	return envelope.Unmarshal(rec.Value)
}

// runTx handles items in as few transactions as possible. It tries them all
// in one transaction; when a handler fails, it rolls back, commits the events
// before the failing one in a new transaction, retries the failing one alone
// (and dead-letters it when its attempts run out), and goes on with the rest.
// This costs nothing while handlers succeed, unlike a savepoint per event.
func (c *Consumer) runTx(w *worker, items []item) bool {
	for len(items) > 0 {
		first := time.Now()
		failed, end, herr, ok := c.txRetryDB(w, items)
		if !ok {
			return false
		}
		if failed < 0 {
			return true
		}
		if failed > 0 && !c.runTx(w, items[:failed]) {
			return false
		}
		if end-failed == 1 {
			if !c.retry(w, items[failed], attempts{1, first, time.Now(), herr}) {
				return false
			}
		} else {
			// A batch handler failed: isolate the culprit by handling the
			// run one event at a time, each with its own attempts.
			for _, it := range items[failed:end] {
				if !c.runOne(w, it) {
					return false
				}
			}
		}
		items = items[end:]
	}
	return true
}

// runOne handles a single event in its own transaction, retrying and
// dead-lettering it as needed.
func (c *Consumer) runOne(w *worker, it item) bool {
	first := time.Now()
	failed, _, herr, ok := c.txRetryDB(w, []item{it})
	if !ok {
		return false
	}
	if failed < 0 {
		return true
	}
	return c.retry(w, it, attempts{1, first, time.Now(), herr})
}

// txRetryDB is txBatch, repeated after a pause while the database itself
// fails (not a handler: no attempt is counted, nothing is skipped or
// committed). ok is false when aborted by stop or shutdown.
func (c *Consumer) txRetryDB(w *worker, items []item) (failed, end int, herr error, ok bool) {
	for failures := 1; ; failures++ {
		failed, end, herr, err := c.txBatch(items)
		if err == nil {
			return failed, end, herr, true
		}
		c.cfg.Logger.Error("kbus: database transaction failed; retrying", "group", c.cfg.Group,
			"topic", w.key.topic, "partition", w.key.partition, "events", len(items), "error", err)
		if !c.sleep(w, c.cfg.Retry.delay(min(failures+1, 16))) {
			return -1, 0, nil, false
		}
	}
}

// dedupSQL inserts the dedup rows of a batch in one round trip and returns
// the ids that were not there yet. ON CONFLICT DO NOTHING also absorbs an id
// repeated within the batch.
const dedupSQL = `INSERT INTO processed_events (consumer_group, message_id, topic, "partition", "offset")
SELECT $1, m, t, p, o FROM unnest($2::text[], $3::text[], $4::int[], $5::bigint[]) AS u(m, t, p, o)
ON CONFLICT DO NOTHING
RETURNING message_id`

// txBatch runs items in one transaction. When a handler fails it rolls back
// and returns the items [failed, end) that the failing call covered (one
// item, or a batch handler's run) with the handler's error; failed is -1 when
// everything committed. err reports a database failure outside the handlers.
func (c *Consumer) txBatch(items []item) (failed, end int, herr, err error) {
	ctx := c.procCtx
	tx, err := c.cfg.DB.Begin(ctx)
	if err != nil {
		return -1, 0, nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit

	ids := make([]string, len(items))
	topics := make([]string, len(items))
	parts := make([]int32, len(items))
	offsets := make([]int64, len(items))
	for i, it := range items {
		ids[i], topics[i], parts[i], offsets[i] = it.dedupID, it.rec.Topic, it.rec.Partition, it.rec.Offset
	}
	rows, err := tx.Query(ctx, dedupSQL, c.cfg.Group, ids, topics, parts, offsets)
	if err != nil {
		return -1, 0, nil, fmt.Errorf("dedup insert: %w", err)
	}
	fresh := make(map[string]bool, len(items))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return -1, 0, nil, fmt.Errorf("dedup insert: %w", err)
		}
		fresh[id] = true
	}
	if err := rows.Err(); err != nil {
		return -1, 0, nil, fmt.Errorf("dedup insert: %w", err)
	}

	handled, dups := 0, 0
	for i := 0; i < len(items); {
		it := items[i]
		if !fresh[it.dedupID] {
			duplicate(it.span)
			dups++
			i++
			continue
		}
		delete(fresh, it.dedupID) // a repeat later in this batch is a duplicate
		if it.h.batch == nil {
			if err := c.call(it.e.Topic, func() error { return it.h.tx(handlerCtx(ctx, it), tx, it.e) }); err != nil {
				if dbErr := lostConn(tx, err); dbErr != nil {
					return -1, 0, nil, dbErr
				}
				return i, i + 1, err, nil
			}
			handled++
			i++
			continue
		}
		// A batch handler gets the run of consecutive events of its type.
		events, run := []envelope.Envelope{it.e}, []item{it}
		j := i + 1
		for ; j < len(items) && items[j].e.Topic == it.e.Topic; j++ {
			if id := items[j].dedupID; fresh[id] {
				delete(fresh, id)
				events, run = append(events, items[j].e), append(run, items[j])
			} else {
				dups++
			}
		}
		bctx, span := c.tr.startBatch(ctx, run)
		err := c.call(it.e.Topic, func() error { return it.h.batch(bctx, tx, events) })
		endBatch(span, err)
		if err != nil {
			if dbErr := lostConn(tx, err); dbErr != nil {
				return -1, 0, nil, dbErr
			}
			return i, j, err, nil
		}
		handled += len(events)
		i = j
	}
	if err := tx.Commit(ctx); err != nil {
		return -1, 0, nil, fmt.Errorf("commit: %w", err)
	}
	c.m.addProcessed(items[0].rec.Topic, handled)
	c.m.addDuplicates(items[0].rec.Topic, dups)
	return -1, 0, nil, nil
}

// lostConn tells a database outage from a handler's failure: when the
// handler's error came with the transaction's connection gone (PostgreSQL
// restarted, the network cut), the event is not at fault, so no attempt is
// counted and it cannot be dead-lettered for it; txRetryDB waits for the
// database instead. It returns nil for an ordinary handler error.
func lostConn(tx pgx.Tx, herr error) error {
	if tx.Conn().IsClosed() {
		return fmt.Errorf("handler's transaction lost its connection: %w", herr)
	}
	return nil
}

// retry retries a failed event alone, with backoff, until it succeeds, its
// attempts run out or its error is permanent; then it dead-letters it.
func (c *Consumer) retry(w *worker, it item, at attempts) bool {
	log := c.cfg.Logger.With("group", c.cfg.Group, "topic", it.rec.Topic, "partition", it.rec.Partition,
		"offset", it.rec.Offset, "message_id", it.e.MessageID, "correlation_id", it.e.Metadata.CorrelationID)
	for !IsPermanent(at.err) && at.n < c.cfg.Retry.Attempts {
		attemptFailed(it.span, at.n, at.err)
		log.Warn("kbus: handler failed; will retry", "attempt", at.n, "error", at.err)
		if !c.sleep(w, c.cfg.Retry.delay(at.n+1)) {
			return false
		}
		c.m.addRetry(it.rec.Topic)
		at.n++
		at.last = time.Now()
		var herr error
		if c.cfg.Mode == Transactional {
			failed, _, hErr, ok := c.txRetryDB(w, []item{it})
			if !ok {
				return false
			}
			if failed < 0 {
				handled(it.span, at.n)
				return true
			}
			herr = hErr
		} else if herr = c.callPlain(it); herr == nil {
			c.m.addProcessed(it.rec.Topic, 1)
			handled(it.span, at.n)
			return true
		}
		at.err = herr
	}
	reason := dlq.ReasonHandlerError
	if IsPermanent(at.err) {
		reason = dlq.ReasonPermanent
	}
	c.tr.deadLettered(it.span, at, reason)
	return c.deadLetter(w, it.rec, it.e.MessageID, reason, at)
}

func (c *Consumer) callPlain(it item) error {
	return c.call(it.e.Topic, func() error { return it.h.plain(handlerCtx(c.procCtx, it), it.e) })
}

// call runs a handler, turning a panic into an error and timing it.
func (c *Consumer) call(eventType string, fn func() error) (err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
		c.m.pDuration.WithLabelValues(eventType).Observe(time.Since(start).Seconds())
	}()
	return fn()
}

// handlerCtx carries the event's correlation id to its handler, so that
// events it publishes carry it on, and the record's metadata.
func handlerCtx(ctx context.Context, it item) context.Context {
	ctx = spanCtx(context.WithValue(ctx, recordKey{}, it.rec), it)
	if it.e.Metadata.CorrelationID == "" {
		return ctx
	}
	return envelope.WithCorrelationID(ctx, it.e.Metadata.CorrelationID)
}

// dedupID is the key of an event in processed_events: its message id, or,
// for a replay scoped by a replay key (a webhook delivery replayed to one
// endpoint), the message id and that key, so that the replay is not taken
// for the event's first processing and is itself processed once.
func dedupID(rec *kgo.Record, e envelope.Envelope) string {
	for i := len(rec.Headers) - 1; i >= 0; i-- {
		if h := rec.Headers[i]; h.Key == dlq.HeaderReplayKey && len(h.Value) > 0 {
			return e.MessageID + "#replay:" + string(h.Value)
		}
	}
	return e.MessageID
}

type recordKey struct{}

// Record returns the Kafka record of the event a handler is handling (topic,
// partition, offset, key, headers, raw value), for handlers that need more
// than the envelope. Treat it as read-only. Batch handlers' contexts carry
// none.
func Record(ctx context.Context) (*kgo.Record, bool) {
	r, ok := ctx.Value(recordKey{}).(*kgo.Record)
	return r, ok
}

// deadLetter writes the DLQ entry of rec, retrying until the write succeeds:
// the partition waits rather than skip an event without a trace. It returns
// false only when aborted by stop or shutdown (then nothing is committed and
// the event is redelivered).
func (c *Consumer) deadLetter(w *worker, rec *kgo.Record, messageID, reason string, at attempts) bool {
	entry := dlq.NewEntry(rec, c.cfg.Group, reason, messageID)
	entry.Attempts = at.n
	entry.FirstAttempt, entry.LastAttempt = at.first.UTC(), at.last.UTC()
	if at.err != nil {
		entry.LastError = at.err.Error()
	}
	entry.DeadLetteredAt = time.Now().UTC()
	for failures := 0; ; failures++ {
		ctx, cancel := context.WithTimeout(c.procCtx, 30*time.Second)
		err := c.dlqw.Write(ctx, entry)
		cancel()
		if err == nil {
			c.m.addDeadLettered(rec.Topic, reason)
			c.cfg.Logger.Warn("kbus: event dead-lettered", "group", c.cfg.Group, "dlq", dlq.Topic(c.cfg.Group),
				"message_id", entry.OriginalMessageID, "reason", reason, "attempts", at.n, "error", entry.LastError,
				"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset)
			return true
		}
		c.cfg.Logger.Error("kbus: cannot write to the DLQ; the partition waits and retries", "group", c.cfg.Group,
			"dlq", dlq.Topic(c.cfg.Group), "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "error", err)
		if !c.sleep(w, c.cfg.Retry.delay(min(failures+2, 16))) {
			return false
		}
	}
}

// sleep waits d, or less when the worker is stopped or the shutdown timeout
// passes; it reports whether the full wait happened.
func (c *Consumer) sleep(w *worker, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.quit:
		return false
	case <-c.procCtx.Done():
		return false
	}
}
