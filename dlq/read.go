package dlq

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Read calls fn for every entry in the DLQ topic of group, from the oldest
// retained record up to the end of the topic as it was when Read started,
// so Read terminates even while entries keep arriving. Partitions are read
// one after the other in ascending order, each in offset order.
//
// fn receives the decoded entry, the DLQ record (for its partition, offset,
// timestamp and raw value) and a decoding error: for a record that is not
// a valid entry, the error wraps [ErrMalformed], the Entry holds whatever
// could be decoded, and reading continues with the next record. If fn
// returns an error, Read stops and returns it unwrapped.
//
// Read returns an error wrapping [ErrNoTopic] when the topic does not
// exist, and one wrapping ctx.Err() when ctx ends first; Read is bounded by
// ctx and nothing else.
//
// cl is used for metadata and offset listing only; it is neither consumed
// from nor closed, and may be any client, including one consuming in a
// group. The records are fetched by a short-lived client of Read's own, a
// direct partition consumer (no consumer group, nothing committed), which
// copies cl's seed brokers and connection settings (client id, dialer, TLS,
// SASL) but none of its consuming or producing options.
//
// Read sees committed data only (read_committed): entries written in a
// transaction that aborted are skipped, and if a transaction is open when
// Read starts, Read reads up to its first record.
func Read(ctx context.Context, cl *kgo.Client, group string, fn func(Entry, *kgo.Record, error) error) error {
	return ReadFrom(ctx, cl, group, nil, fn)
}

// ReadFrom is Read starting, in each partition p listed in from, at offset
// from[p] instead of the oldest retained record (an offset below the oldest
// retained one starts there). [ReplayEntries] uses it to resume.
func ReadFrom(ctx context.Context, cl *kgo.Client, group string, from map[int32]int64, fn func(Entry, *kgo.Record, error) error) error {
	return readFrom(ctx, cl, group, from, nil, fn)
}

// readFrom is ReadFrom that first reports, to onTotal if not nil, how many
// records (at most) it is about to read.
func readFrom(ctx context.Context, cl *kgo.Client, group string, from map[int32]int64, onTotal func(int64), fn func(Entry, *kgo.Record, error) error) error {
	topic := Topic(group)
	if fn == nil {
		return fmt.Errorf("dlq: read %s: nil callback", topic)
	}
	adm := kadm.NewClient(cl)
	status, partitions, err := describeTopic(ctx, cl, topic)
	if err != nil {
		return fmt.Errorf("dlq: read: %w", err)
	}
	if status == topicMissing {
		return fmt.Errorf("dlq: read %s: %w", topic, ErrNoTopic)
	}
	if len(partitions) == 0 {
		return fmt.Errorf("dlq: read %s: topic is not ready (no partitions listed)", topic)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return fmt.Errorf("dlq: read %s: start offsets: %w", topic, err)
	}
	ends, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("dlq: read %s: end offsets: %w", topic, err)
	}

	// The partitions with something to read, and their bounds.
	type bounds struct {
		p          int32
		start, end int64
	}
	var todo []bounds
	for _, p := range partitions {
		s, okS := starts.Lookup(topic, p)
		e, okE := ends.Lookup(topic, p)
		if !okS || !okE {
			return fmt.Errorf("dlq: read %s: no offsets listed for partition %d", topic, p)
		}
		start := s.Offset
		if f, ok := from[p]; ok && f > start {
			start = f
		}
		if start < e.Offset {
			todo = append(todo, bounds{p, start, e.Offset})
		}
	}
	if onTotal != nil {
		var total int64
		for _, b := range todo {
			total += b.end - b.start
		}
		onTotal(total)
	}
	if len(todo) == 0 {
		return nil
	}
	slices.SortFunc(todo, func(a, b bounds) int { return int(a.p - b.p) })

	opts := append(connOpts(cl),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {todo[0].p: kgo.NewOffset().At(todo[0].start)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // when retention removed records since listing
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // transaction markers advance the position; we must see them to know we are done
	)
	rc, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("dlq: read %s: client: %w", topic, err)
	}
	defer rc.Close()

	for i, b := range todo {
		if i > 0 {
			rc.RemoveConsumePartitions(map[string][]int32{topic: {todo[i-1].p}})
			rc.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {b.p: kgo.NewOffset().At(b.start)}})
		}
		if err := readPartition(ctx, rc, topic, b.p, b.end, fn); err != nil {
			return err
		}
	}
	return nil
}

// readPartition polls rc until it has passed offset end-1 of partition p,
// calling fn for each data record below end.
func readPartition(ctx context.Context, rc *kgo.Client, topic string, p int32, end int64, fn func(Entry, *kgo.Record, error) error) error {
	for {
		fetches := rc.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("dlq: read %s: %w", topic, err)
		}
		for _, fe := range fetches.Errors() {
			if fe.Topic == topic && fe.Partition != p && fe.Partition >= 0 {
				continue // from a partition already read
			}
			return fmt.Errorf("dlq: read %s partition %d: %w", topic, p, fe.Err)
		}
		done := false
		var stop error
		fetches.EachRecord(func(r *kgo.Record) {
			if done || stop != nil || r.Topic != topic || r.Partition != p {
				return
			}
			if r.Offset >= end {
				done = true
				return
			}
			if !r.Attrs.IsControl() {
				e, err := Decode(r.Value)
				stop = fn(e, r, err)
			}
			if r.Offset >= end-1 {
				done = true
			}
		})
		if stop != nil {
			return stop
		}
		if done {
			return nil
		}
	}
}

// connOpts returns the options that let a new client reach the same
// cluster as cl, the same way.
func connOpts(cl *kgo.Client) []kgo.Opt {
	var opts []kgo.Opt
	if seeds, ok := cl.OptValue(kgo.SeedBrokers).([]string); ok {
		opts = append(opts, kgo.SeedBrokers(seeds...))
	}
	if v := cl.OptValues(kgo.ClientID); len(v) == 2 {
		if id, _ := v[0].(string); v[1] == true {
			opts = append(opts, kgo.ClientID(id))
		}
	}
	if fn, ok := cl.OptValue(kgo.Dialer).(func(context.Context, string, string) (net.Conn, error)); ok && fn != nil {
		opts = append(opts, kgo.Dialer(fn))
	}
	if c, ok := cl.OptValue(kgo.DialTLSConfig).(*tls.Config); ok && c != nil {
		opts = append(opts, kgo.DialTLSConfig(c))
	}
	if ms, ok := cl.OptValue(kgo.SASL).([]sasl.Mechanism); ok && len(ms) > 0 {
		opts = append(opts, kgo.SASL(ms...))
	}
	if l, ok := cl.OptValue(kgo.WithLogger).(kgo.Logger); ok && l != nil {
		opts = append(opts, kgo.WithLogger(l))
	}
	return opts
}
