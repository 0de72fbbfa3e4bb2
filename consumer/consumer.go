package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/internal/migrations"
	"github.com/kbus-dev/kbus/schemas"
)

// Consumer runs one consumer group over one or more topics and dispatches
// each event to the handler registered for its type (the envelope's topic
// field, e.g. payment.completed).
//
// Register handlers before calling Run; the Handle methods are not safe to
// call concurrently with Run. Stats is safe for concurrent use.
type Consumer struct {
	cfg      Config
	handlers map[string]handler
	regErrs  []error
	m        *metrics
	tr       *consumerTracing

	// Set by Run.
	cl      *kgo.Client
	dlqw    *dlq.Writer
	procCtx context.Context // handlers' context: survives Run's ctx until the shutdown timeout
	sem     chan struct{}   // bounds partitions processed at once
	offsets *committer

	mu      sync.Mutex
	workers map[tp]*worker
	running bool
}

type tp struct {
	topic     string
	partition int32
}

// New returns a consumer for cfg. It checks the configuration but does not
// connect: Run does.
func New(cfg Config) (*Consumer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Schemas == nil {
		reg, err := schemas.Default()
		if err != nil {
			return nil, fmt.Errorf("consumer: load the default schema catalog: %w", err)
		}
		cfg.Schemas = reg
	}
	m, err := newMetrics(cfg.Group, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Consumer{cfg: cfg, handlers: map[string]handler{}, m: m, workers: map[tp]*worker{}, tr: newConsumerTracing(cfg)}, nil
}

func (c *Consumer) register(eventType string, h handler, opts []HandlerOption, kind string, modes ...Mode) {
	for _, o := range opts {
		o.applyHandler(&h)
	}
	if h.version != "" {
		if _, err := c.cfg.Schemas.Schema(eventType, h.version); err != nil {
			c.regErrs = append(c.regErrs, fmt.Errorf("%s(%q): SchemaVersion(%q): %w", kind, eventType, h.version, err))
			return
		}
	}
	ok := false
	for _, m := range modes {
		ok = ok || c.cfg.Mode == m
	}
	switch {
	case eventType == "":
		c.regErrs = append(c.regErrs, fmt.Errorf("%s: empty event type", kind))
	case !ok:
		c.regErrs = append(c.regErrs, fmt.Errorf("%s(%q): not available in %s mode", kind, eventType, c.cfg.Mode))
	case c.has(eventType):
		c.regErrs = append(c.regErrs, fmt.Errorf("%s(%q): a handler is already registered for this type", kind, eventType))
	default:
		c.handlers[eventType] = h
	}
}

func (c *Consumer) has(eventType string) bool {
	_, ok := c.handlers[eventType]
	return ok
}

// HandleTx registers h for events of eventType, in Transactional mode.
// Registration mistakes (wrong mode, a type registered twice) are reported
// by Run, wrapping [ErrConfig].
func (c *Consumer) HandleTx(eventType string, h TxHandlerFunc, opts ...HandlerOption) {
	c.register(eventType, handler{tx: h}, opts, "HandleTx", Transactional)
}

// HandleBatchTx registers a batch handler for events of eventType, in
// Transactional mode.
func (c *Consumer) HandleBatchTx(eventType string, h BatchTxHandlerFunc, opts ...HandlerOption) {
	c.register(eventType, handler{batch: h}, opts, "HandleBatchTx", Transactional)
}

// Handle registers a stateless handler for events of eventType, in
// AtLeastOnce or AtMostOnce mode.
func (c *Consumer) Handle(eventType string, h HandlerFunc, opts ...HandlerOption) {
	c.register(eventType, handler{plain: h}, opts, "Handle", AtLeastOnce, AtMostOnce)
}

// Stats returns the consumer's counters.
func (c *Consumer) Stats() Stats { return c.m.stats() }

// Run joins the group and processes events until ctx ends, then drains
// gracefully and returns nil: it stops fetching, lets the handlers in flight
// finish (within Config.ShutdownTimeout), commits what they processed, and
// leaves the group. Events fetched but not started are not committed; the
// group's next owner of their partition gets them.
//
// Run returns an error wrapping [ErrConfig] for an unusable configuration or
// handler registration, and an error when the database migrations fail. It
// may be called once.
func (c *Consumer) Run(ctx context.Context) error {
	if err := errors.Join(c.regErrs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if len(c.handlers) == 0 {
		return fmt.Errorf("%w: no handlers registered", ErrConfig)
	}
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("consumer: Run called twice")
	}
	c.running = true
	c.mu.Unlock()

	if c.cfg.Mode == Transactional && !c.cfg.SkipMigrations {
		if err := c.migrate(ctx); err != nil {
			return err
		}
	}

	procCtx, cancelProc := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelProc()
	c.procCtx = procCtx
	c.sem = make(chan struct{}, c.cfg.Concurrency)

	start := kgo.NewOffset().AtStart()
	if c.cfg.StartAtEnd {
		start = kgo.NewOffset().AtEnd()
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.WithLogger(kslog.New(c.cfg.Logger)),
		// Kafka's Java default rather than franz-go's 5 s: a partition resumed
		// after backpressure joins the next fetch request, so a shorter long
		// poll bounds how long it can wait behind idle partitions.
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, c.cfg.ClientOptions...)
	opts = append(opts,
		kgo.ConsumerGroup(c.cfg.Group),
		kgo.ConsumeTopics(c.cfg.Topics...),
		kgo.ConsumeResetOffset(start),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		// At-least-once the way franz-go recommends: no autocommit, rebalances
		// wait until what was polled is processed and committed, commits in
		// revoke, never in lost.
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
		kgo.RequiredAcks(kgo.AllISRAcks()), // for DLQ records
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.cl = cl
	c.dlqw = dlq.NewWriter(cl)
	c.offsets = newCommitter(c)
	commitCtx, stopCommits := context.WithCancel(procCtx)
	commitsDone := make(chan struct{})
	go func() { defer close(commitsDone); c.offsets.loop(commitCtx, c.cfg.CommitInterval) }()
	c.cfg.Logger.Info("kbus: consumer started", "group", c.cfg.Group, "topics", c.cfg.Topics, "mode", c.cfg.Mode.String())

	maxPoll := 4 * c.cfg.MaxBatch
	for {
		fetches := cl.PollRecords(ctx, maxPoll)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			break
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			c.cfg.Logger.Warn("kbus: fetch error", "group", c.cfg.Group, "topic", topic, "partition", partition, "error", err)
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) > 0 {
				c.enqueue(p)
			}
		})
		cl.AllowRebalance()
	}

	// Drain: polling has stopped; let the handlers in flight finish and
	// commit, then leave the group.
	c.cfg.Logger.Info("kbus: consumer draining", "group", c.cfg.Group)
	timer := time.AfterFunc(c.cfg.ShutdownTimeout, cancelProc)
	defer timer.Stop()
	c.stopWorkers(nil, false)
	stopCommits()
	<-commitsDone
	c.offsets.flush(procCtx)
	cl.AllowRebalance()
	cl.Close()
	c.cfg.Logger.Info("kbus: consumer stopped", "group", c.cfg.Group)
	return nil
}

func (c *Consumer) migrate(ctx context.Context) error {
	if err := migrations.ApplyPool(ctx, c.cfg.DB); err != nil {
		return fmt.Errorf("consumer: %w", err)
	}
	return nil
}

// enqueue hands a fetched partition batch to its worker, pausing the
// partition's fetches when the worker falls behind.
func (c *Consumer) enqueue(p kgo.FetchTopicPartition) {
	key := tp{p.Topic, p.Partition}
	c.mu.Lock()
	w := c.workers[key]
	if w == nil {
		// Records for a partition we did not see assigned (a callback race):
		// serve them anyway; revoke or lost will stop the worker.
		w = c.startWorker(key)
	}
	c.mu.Unlock()

	last := p.Records[len(p.Records)-1]
	c.m.setLag(p.Topic, p.Partition, p.HighWatermark-last.Offset-1)
	c.m.addConsumed(p.Topic, len(p.Records))
	w.push(p.Records, c.cfg.MaxBufferedRecords)
}

func (c *Consumer) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, parts := range assigned {
		for _, p := range parts {
			if c.workers[tp{topic, p}] == nil {
				c.startWorker(tp{topic, p})
			}
		}
	}
	c.cfg.Logger.Info("kbus: partitions assigned", "group", c.cfg.Group, "partitions", assigned)
}

// revoked runs before partitions move to another member: their workers
// finish the batch in flight and commit it before this returns.
func (c *Consumer) revoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	c.cfg.Logger.Info("kbus: partitions revoked", "group", c.cfg.Group, "partitions", revoked)
	c.stopWorkers(revoked, false)
	c.offsets.flush(c.procCtx)
}

// lost runs when partitions were taken away (session expired): their workers
// stop without committing, because another member may own them already.
func (c *Consumer) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.cfg.Logger.Warn("kbus: partitions lost", "group", c.cfg.Group, "partitions", lost)
	c.stopWorkers(lost, true)
	c.offsets.drop(lost)
}

// startWorker starts the worker of a partition. c.mu must be held.
func (c *Consumer) startWorker(key tp) *worker {
	w := newWorker(c, key)
	c.workers[key] = w
	go w.run()
	return w
}

// stopWorkers stops the workers of the given partitions (all when nil) and
// waits for them. With lost, they commit nothing more.
func (c *Consumer) stopWorkers(parts map[string][]int32, lost bool) {
	c.mu.Lock()
	var stopping []*worker
	for key, w := range c.workers {
		if parts != nil && !contains(parts[key.topic], key.partition) {
			continue
		}
		if lost {
			w.lost.Store(true)
		}
		w.stop()
		stopping = append(stopping, w)
		delete(c.workers, key)
		c.m.deleteLag(key.topic, key.partition)
	}
	c.mu.Unlock()
	for _, w := range stopping {
		<-w.done
		w.unpause()
	}
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
