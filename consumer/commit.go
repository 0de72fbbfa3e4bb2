package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// committer commits processed offsets to Kafka. Workers record the offset
// after each chunk once its effects are durable (the database transaction
// committed, or the DLQ entry written); the committer commits the latest
// offsets every Config.CommitInterval, and synchronously when partitions are
// revoked and at shutdown. A synchronous commit per chunk would serialize
// all partitions on one OffsetCommit round trip at a time (franz-go allows
// one commit in flight per client).
type committer struct {
	c       *Consumer
	mu      sync.Mutex
	pending map[string]map[int32]kgo.EpochOffset
	flushMu sync.Mutex // one commit at a time
}

func newCommitter(c *Consumer) *committer {
	return &committer{c: c, pending: map[string]map[int32]kgo.EpochOffset{}}
}

// done records that everything up to and including rec is processed.
func (m *committer) done(rec *kgo.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := m.pending[rec.Topic]
	if parts == nil {
		parts = map[int32]kgo.EpochOffset{}
		m.pending[rec.Topic] = parts
	}
	parts[rec.Partition] = kgo.EpochOffset{Epoch: rec.LeaderEpoch, Offset: rec.Offset + 1}
}

// drop forgets the pending offsets of partitions that were lost: another
// member may own them already, so they must not be committed.
func (m *committer) drop(parts map[string][]int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(m.pending[topic], p)
		}
	}
}

// flush commits the pending offsets synchronously. On failure they stay
// pending (unless a newer offset was recorded meanwhile) for the next flush.
func (m *committer) flush(ctx context.Context) {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	m.mu.Lock()
	batch := m.pending
	m.pending = map[string]map[int32]kgo.EpochOffset{}
	m.mu.Unlock()
	n := 0
	for _, ps := range batch {
		n += len(ps)
	}
	if n == 0 {
		return
	}
	var failed error
	m.c.cl.CommitOffsetsSync(ctx, batch, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			failed = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil && failed == nil {
					failed = perr
				}
			}
		}
	})
	if failed == nil {
		return
	}
	m.c.cfg.Logger.Warn("kbus: offset commit failed; will retry (events after the last commit may be redelivered)",
		"group", m.c.cfg.Group, "error", failed)
	m.mu.Lock()
	defer m.mu.Unlock()
	for topic, ps := range batch {
		cur := m.pending[topic]
		if cur == nil {
			cur = map[int32]kgo.EpochOffset{}
			m.pending[topic] = cur
		}
		for p, off := range ps {
			if _, newer := cur[p]; !newer {
				cur[p] = off
			}
		}
	}
}

// loop flushes every interval until ctx ends.
func (m *committer) loop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.flush(ctx)
		}
	}
}
