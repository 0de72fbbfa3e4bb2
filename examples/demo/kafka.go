package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
)

// eventTypes are the story's topics, one per event type.
var eventTypes = []string{"payment.completed", "payment.failed", "refund.created"}

// startEmbedded starts franz-go's kfake, an in-process Kafka, as the
// demo's cluster, with the event topics created. Its brokers listen on
// loopback ports, so the child processes reach it like a real broker.
func startEmbedded() (*kfake.Cluster, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, eventTypes...))
	if err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	return c, nil
}

// startOffsets returns the current end offsets of the topics: where this
// run's events begin.
func startOffsets(ctx context.Context, adm *kadm.Client, topics ...string) (kadm.Offsets, error) {
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	return ends.Offsets(), nil
}

// startGroupAt commits offsets for a fresh consumer group, so that it
// begins exactly at this run's first event instead of at the topics'
// retained history (a new group starts at the beginning by default).
func startGroupAt(ctx context.Context, adm *kadm.Client, group string, offs kadm.Offsets) error {
	resp, err := adm.CommitOffsets(ctx, group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("set the start offsets of group %s: %w", group, err)
	}
	return nil
}

// runCounts are the records of this run on the event topics.
type runCounts struct {
	Published int // distinct message ids, first sight, not replays
	Resent    int // records repeating a message id already seen, not replays
	Replayed  int // records republished from a DLQ
}

// countRun reads the event topics from start to their current end and
// counts the records whose correlation id starts with prefix: the events of
// this run, whatever else shares the topics.
func countRun(ctx context.Context, brokers []string, start kadm.Offsets, prefix string) (runCounts, error) {
	var rc runCounts
	adm, cl, err := admin(brokers)
	if err != nil {
		return rc, err
	}
	defer cl.Close()
	ends, err := startOffsets(ctx, adm, eventTypes...)
	if err != nil {
		return rc, err
	}
	consume := map[string]map[int32]kgo.Offset{}
	remaining := 0
	ends.Each(func(o kadm.Offset) {
		from := int64(0)
		if s, ok := start.Lookup(o.Topic, o.Partition); ok {
			from = s.At
		}
		if o.At > from {
			if consume[o.Topic] == nil {
				consume[o.Topic] = map[int32]kgo.Offset{}
			}
			consume[o.Topic][o.Partition] = kgo.NewOffset().At(from)
			remaining++
		}
	})
	if remaining == 0 {
		return rc, nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumePartitions(consume))
	if err != nil {
		return rc, err
	}
	defer rd.Close()
	seen := map[string]bool{}
	done := map[string]bool{}
	// A partition is done at its end offset's last record; a poll that
	// finds nothing for a while also ends the count, since every record up
	// to the end offsets was written before it started (and a partition
	// may end in a transaction marker, which is never returned).
	for len(done) < remaining {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := rd.PollFetches(pctx)
		idle := pctx.Err() != nil && fs.NumRecords() == 0
		cancel()
		if err := ctx.Err(); err != nil {
			return rc, fmt.Errorf("reading this run's events: %w", err)
		}
		if idle {
			break
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				ferr = errors.Join(ferr, err)
			}
		})
		if ferr != nil {
			return rc, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, _ := ends.Lookup(r.Topic, r.Partition)
			if r.Offset >= end.At-1 {
				done[fmt.Sprintf("%s/%d", r.Topic, r.Partition)] = true
			}
			if r.Offset >= end.At {
				return
			}
			var id, corr string
			replay := false
			for _, h := range r.Headers {
				switch h.Key {
				case envelope.HeaderMessageID:
					id = string(h.Value)
				case envelope.HeaderCorrelationID:
					corr = string(h.Value)
				case dlq.HeaderReplayGroup:
					replay = true
				}
			}
			if !strings.HasPrefix(corr, prefix) {
				return
			}
			switch {
			case replay:
				rc.Replayed++
			case seen[id]:
				rc.Resent++
			default:
				seen[id] = true
				rc.Published++
			}
		})
	}
	return rc, nil
}

// dlqEntries counts the entries in group's dead-letter topic.
func dlqEntries(ctx context.Context, brokers []string, group string) (int, error) {
	_, cl, err := admin(brokers)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	n := 0
	err = dlq.Read(ctx, cl, group, func(_ dlq.Entry, _ *kgo.Record, err error) error {
		if err == nil {
			n++
		}
		return nil
	})
	return n, err
}

// cleanupKafka deletes what the run created on a shared cluster: its
// consumer groups and its dead-letter topics. Best effort.
func cleanupKafka(ctx context.Context, brokers []string, groups, topics []string) error {
	adm, cl, err := admin(brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	// Replay progress groups are named kbus-replay.<group>.<selection>.
	if listed, err := adm.ListGroups(ctx); err == nil {
		for _, g := range listed.Groups() {
			for _, own := range groups {
				if strings.HasPrefix(g, "kbus-replay."+own+".") {
					groups = append(groups, g)
				}
			}
		}
	}
	var errs []error
	if _, err := adm.DeleteGroups(ctx, groups...); err != nil {
		errs = append(errs, err)
	}
	if _, err := adm.DeleteTopics(ctx, topics...); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func admin(brokers []string) (*kadm.Client, *kgo.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl, nil
}
