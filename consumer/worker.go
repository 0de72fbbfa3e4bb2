package consumer

import (
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// worker processes one partition's records in order. The poll loop pushes
// fetched batches into its queue; the worker takes up to MaxBatch records at
// a time, processes them, and commits their offset. At most
// Config.Concurrency workers process at once.
type worker struct {
	c   *Consumer
	key tp

	mu     sync.Mutex // guards queue and paused, and orders pause/resume calls
	queue  []*kgo.Record
	paused bool          // the partition's fetches are paused
	wake   chan struct{} // cap 1: something was pushed
	quit   chan struct{} // closed by stop
	done   chan struct{} // closed when run returns
	lost   atomic.Bool   // the partition was lost: commit nothing more
	once   sync.Once
}

func newWorker(c *Consumer, key tp) *worker {
	return &worker{c: c, key: key, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

// push appends records and pauses the partition's fetches when more than
// limit records are waiting. Pausing keeps the partition's position: kgo
// fetches from there again once resumed.
func (w *worker) push(recs []*kgo.Record, limit int) {
	w.mu.Lock()
	w.queue = append(w.queue, recs...)
	if len(w.queue) > limit && !w.paused {
		w.c.cl.PauseFetchPartitions(map[string][]int32{w.key.topic: {w.key.partition}})
		w.paused = true
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// maybeResume resumes the partition's fetches once at most low records wait.
func (w *worker) maybeResume(low int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paused && len(w.queue) <= low {
		w.c.cl.ResumeFetchPartitions(map[string][]int32{w.key.topic: {w.key.partition}})
		w.paused = false
	}
}

// unpause resumes the partition if this worker paused it, when it stops: a
// partition assigned again later must not stay paused.
func (w *worker) unpause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.paused {
		w.c.cl.ResumeFetchPartitions(map[string][]int32{w.key.topic: {w.key.partition}})
		w.paused = false
	}
}

// take removes up to n records from the queue.
func (w *worker) take(n int) []*kgo.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	n = min(n, len(w.queue))
	recs := w.queue[:n:n]
	w.queue = w.queue[n:]
	if len(w.queue) == 0 {
		w.queue = nil
	}
	return recs
}

// stop asks the worker to finish the batch in flight and return.
func (w *worker) stop() { w.once.Do(func() { close(w.quit) }) }

func (w *worker) stopping() bool {
	select {
	case <-w.quit:
		return true
	default:
		return false
	}
}

func (w *worker) run() {
	defer close(w.done)
	c := w.c
	for {
		select {
		case <-w.wake:
		case <-w.quit:
			return
		}
		for {
			if w.stopping() {
				return
			}
			recs := w.take(c.cfg.MaxBatch)
			if len(recs) == 0 {
				break
			}
			// Wait for a processing slot, unless told to stop.
			select {
			case c.sem <- struct{}{}:
			case <-w.quit:
				return
			}
			ok := c.process(w, recs)
			<-c.sem
			if !ok {
				return // aborted (stop or shutdown timeout): nothing committed
			}
			if !w.lost.Load() {
				c.commit(w, recs[len(recs)-1])
			}
			w.maybeResume(c.cfg.MaxBatch)
		}
	}
}

// commitBeforeHandling commits the offset after rec for AtMostOnce mode,
// retrying until it succeeds; it returns false when aborted (or when the
// partition was lost: its new owner decides).
func (c *Consumer) commitBeforeHandling(w *worker, rec *kgo.Record) bool {
	for failures := 1; ; failures++ {
		if w.lost.Load() {
			return false
		}
		err := c.cl.CommitRecords(c.procCtx, rec)
		if err == nil {
			return true
		}
		c.cfg.Logger.Warn("kbus: offset commit before handling failed; retrying", "group", c.cfg.Group,
			"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "error", err)
		if !c.sleep(w, c.cfg.Retry.delay(min(failures+1, 16))) {
			return false
		}
	}
}

// commit records that rec and everything before it in its partition are
// processed; the committer commits it to Kafka shortly after. A failed
// commit only means redelivery, which dedup makes harmless.
func (c *Consumer) commit(_ *worker, rec *kgo.Record) {
	c.offsets.done(rec)
}
