package dlq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReplayOptions configures [ReplayEntries].
type ReplayOptions struct {
	// Group is the consumer group whose DLQ topic is replayed. Every replayed
	// record is addressed to it (HeaderReplayGroup), so other groups on the
	// topic skip it. Required.
	Group string
	// Match selects the entries to replay; nil selects all.
	Match func(Entry) bool
	// Progress names this replay's progress tracker: the consumer group
	// ProgressGroup(Group, Progress), whose committed offsets on the DLQ
	// topic say how far the replay has got. A replay with the same Progress
	// resumes there, so an interrupted replay continues where it stopped and
	// a finished one sends only entries dead-lettered since. Use a name that
	// stands for the selection (Match and ToTopic): "all" for everything.
	// Empty means no tracking: every matching entry is sent.
	Progress string
	// FromStart ignores the tracked progress and reads the DLQ topic from
	// its oldest record (the progress is then tracked again from there).
	FromStart bool
	// ToTopic, if not empty, replays to that topic instead of each entry's
	// original topic.
	ToTopic string
	// DryRun reports what would be sent, sends nothing and tracks nothing.
	DryRun bool
	// BatchSize is how many records are sent before progress is committed;
	// an interrupted replay resends at most this many (which consumers
	// deduplicate by message id). The default is 100.
	BatchSize int
	// OnStart, if not nil, is called once before the first record with the
	// number of DLQ records the replay will examine (at most; transaction
	// markers count too), for progress reports.
	OnStart func(total int64)
	// OnEntry, if not nil, is called for every DLQ record examined, in
	// order, after its outcome is known.
	OnEntry func(ReplayResult)
	// Now stamps HeaderReplayedAt; the default is time.Now.
	Now func() time.Time
}

// A ReplayOutcome says what happened to one DLQ record in a replay.
type ReplayOutcome string

// Replay outcomes.
const (
	Replayed     ReplayOutcome = "replayed"      // sent
	WouldReplay  ReplayOutcome = "would_replay"  // selected, but DryRun
	NotSelected  ReplayOutcome = "not_selected"  // Match said no
	Malformed    ReplayOutcome = "malformed"     // not a DLQ entry: cannot be replayed
	ReplayFailed ReplayOutcome = "replay_failed" // the send failed; the replay stopped
)

// ReplayResult is the outcome of one DLQ record.
type ReplayResult struct {
	Entry   Entry         // the decoded entry (for Malformed, what could be decoded)
	Record  *kgo.Record   // the DLQ record
	Outcome ReplayOutcome // what happened to it
	Err     error         // for Malformed and ReplayFailed
}

// ReplaySummary counts a replay's outcomes.
type ReplaySummary struct {
	Replayed    int `json:"replayed"`     // entries sent
	WouldReplay int `json:"would_replay"` // entries selected in a DryRun
	NotSelected int `json:"not_selected"` // entries Match refused
	Malformed   int `json:"malformed"`    // DLQ records that are not entries
	Failed      int `json:"failed"`       // sends that failed (at most 1: the replay stops)
}

// ProgressGroup is the consumer group that tracks the progress of the
// replay named progress of group's DLQ.
func ProgressGroup(group, progress string) string {
	return "kbus-replay." + group + "." + progress
}

// ErrReplayFailed is wrapped by the error ReplayEntries returns when a
// record could not be sent; the progress stops before it.
var ErrReplayFailed = errors.New("dlq: replay failed")

// ReplayEntries re-publishes the selected entries of opts.Group's DLQ, each
// byte for byte as originally consumed (key, value, headers) plus the
// replay headers (see [Entry.Replay]), in DLQ order, waiting for the
// broker's acknowledgement (cl must be a producing client with acks=all, the
// franz-go default). The DLQ topic is read up to its end when the replay
// starts.
//
// Progress is committed every BatchSize sends, at the end, and when ctx ends
// early; a send that fails stops the replay, with progress committed up to
// the record before it, and returns an error wrapping ErrReplayFailed.
// Malformed DLQ records are reported and passed over. A missing DLQ topic
// returns an error wrapping [ErrNoTopic].
func ReplayEntries(ctx context.Context, cl *kgo.Client, opts ReplayOptions) (ReplaySummary, error) {
	var sum ReplaySummary
	if opts.Group == "" {
		return sum, errors.New("dlq: replay: no group")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 100
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	track := opts.Progress != "" && !opts.DryRun
	topic := Topic(opts.Group)
	adm := kadm.NewClient(cl)
	progressGroup := ProgressGroup(opts.Group, opts.Progress)

	var from map[int32]int64
	if opts.Progress != "" && !opts.FromStart {
		offs, err := adm.FetchOffsets(ctx, progressGroup)
		// A group that never committed has no progress. Kafka answers it
		// with no offsets; some implementations (kfake) with this error.
		if errors.Is(err, kerr.GroupIDNotFound) {
			offs, err = nil, nil
		}
		if err != nil {
			return sum, fmt.Errorf("dlq: replay: progress of %s: %w", progressGroup, err)
		}
		from = map[int32]int64{}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic && o.Err == nil && o.At >= 0 {
				from[o.Partition] = o.At
			}
		})
	}

	var (
		batch    []*kgo.Record // replay records waiting to be sent
		batchRes []ReplayResult
		progress = kadm.Offsets{} // DLQ offsets to commit: next record to examine
		pending  = kadm.Offsets{} // progress reached once batch is sent
	)
	commit := func(ctx context.Context) error {
		if !track || len(progress) == 0 {
			return nil
		}
		resp, err := adm.CommitOffsets(ctx, progressGroup, progress)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("dlq: replay: committing progress to %s: %w", progressGroup, err)
		}
		progress = kadm.Offsets{}
		return nil
	}
	report := func(r ReplayResult) {
		if opts.OnEntry != nil {
			opts.OnEntry(r)
		}
	}
	flush := func(ctx context.Context) error {
		if len(batch) > 0 {
			results := cl.ProduceSync(ctx, batch...)
			for i, r := range results {
				if r.Err != nil {
					batchRes[i].Outcome, batchRes[i].Err = ReplayFailed, r.Err
					sum.Failed++
					report(batchRes[i])
					// Progress stops before the first failure: its DLQ offset
					// is where a resumed replay starts.
					progress.Add(kadm.Offset{Topic: topic, Partition: batchRes[i].Record.Partition, At: batchRes[i].Record.Offset, LeaderEpoch: -1})
					if err := commit(context.WithoutCancel(ctx)); err != nil {
						return errors.Join(fmt.Errorf("%w: %s: %w", ErrReplayFailed, batchRes[i].Entry.OriginalMessageID, r.Err), err)
					}
					return fmt.Errorf("%w: message %s to %s: %w", ErrReplayFailed, batchRes[i].Entry.OriginalMessageID, batch[i].Topic, r.Err)
				}
				sum.Replayed++
				report(batchRes[i])
			}
		}
		pending.Each(func(o kadm.Offset) { progress.Add(o) })
		pending = kadm.Offsets{}
		batch, batchRes = batch[:0], batchRes[:0]
		return commit(ctx)
	}

	err := readFrom(ctx, cl, opts.Group, from, opts.OnStart, func(e Entry, rec *kgo.Record, derr error) error {
		next := kadm.Offset{Topic: topic, Partition: rec.Partition, At: rec.Offset + 1, LeaderEpoch: -1}
		switch {
		case derr != nil:
			sum.Malformed++
			report(ReplayResult{Entry: e, Record: rec, Outcome: Malformed, Err: derr})
		case opts.Match != nil && !opts.Match(e):
			sum.NotSelected++
			report(ReplayResult{Entry: e, Record: rec, Outcome: NotSelected})
		case opts.DryRun:
			sum.WouldReplay++
			report(ReplayResult{Entry: e, Record: rec, Outcome: WouldReplay})
		default:
			batch = append(batch, e.Replay(opts.ToTopic, opts.Now()))
			batchRes = append(batchRes, ReplayResult{Entry: e, Record: rec, Outcome: Replayed})
		}
		pending.Add(next)
		if len(batch) >= opts.BatchSize {
			return flush(ctx)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ErrReplayFailed) {
			// Interrupted: send what is batched and keep the progress made.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if ferr := flush(fctx); ferr != nil {
				return sum, errors.Join(err, ferr)
			}
		}
		return sum, err
	}
	return sum, flush(ctx)
}
