package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/dlq"
)

func newDLQCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect and replay a consumer group's dead-letter queue (topic dlq.<group>)",
	}
	cmd.AddCommand(newDLQListCmd(a), newDLQShowCmd(a), newDLQReplayCmd(a))
	return cmd
}

// entryFilter selects DLQ entries; the zero value selects all.
type entryFilter struct {
	messageIDs []string
	reason     string
	topic      string
	since      string
	sinceTime  time.Time
}

func (f *entryFilter) flags(cmd *cobra.Command, withIDs bool) {
	fs := cmd.Flags()
	if withIDs {
		fs.StringSliceVar(&f.messageIDs, "message-id", nil, "only these original message ids (repeatable, or comma separated)")
	}
	fs.StringVar(&f.reason, "reason", "", "only entries with this failure reason (handler_error, permanent_error, decode_error, no_handler, schema_incompatible)")
	fs.StringVar(&f.topic, "topic", "", "only entries from this source topic")
	fs.StringVar(&f.since, "since", "", "only entries dead-lettered since a duration ago (2h) or a time (RFC 3339)")
}

// parse checks the flags and resolves --since against now.
func (f *entryFilter) parse(now time.Time) error {
	if f.since == "" {
		return nil
	}
	if d, err := time.ParseDuration(f.since); err == nil {
		if d < 0 {
			return fmt.Errorf("--since %q: a duration must be positive", f.since)
		}
		f.sinceTime = now.Add(-d)
		return nil
	}
	t, err := time.Parse(time.RFC3339, f.since)
	if err != nil {
		return fmt.Errorf("--since %q: want a duration such as 2h or a time such as 2024-01-15T10:30:00Z", f.since)
	}
	f.sinceTime = t
	return nil
}

func (f *entryFilter) empty() bool {
	return len(f.messageIDs) == 0 && f.reason == "" && f.topic == "" && f.since == ""
}

func (f *entryFilter) match(e dlq.Entry) bool {
	if len(f.messageIDs) > 0 && !slices.Contains(f.messageIDs, e.OriginalMessageID) {
		return false
	}
	if f.reason != "" && e.FailureReason != f.reason {
		return false
	}
	if f.topic != "" && e.Topic != f.topic {
		return false
	}
	if !f.sinceTime.IsZero() && deadLetteredAt(e).Before(f.sinceTime) {
		return false
	}
	return true
}

// key names the selection, for the replay's progress tracker.
func (f *entryFilter) key(toTopic string) string {
	if f.empty() && toTopic == "" {
		return "all"
	}
	ids := slices.Clone(f.messageIDs)
	slices.Sort(ids)
	h := sha256.Sum256([]byte(strings.Join([]string{strings.Join(ids, ","), f.reason, f.topic, f.since, toTopic}, "\x00")))
	return "sel-" + hex.EncodeToString(h[:6])
}

func deadLetteredAt(e dlq.Entry) time.Time {
	if !e.DeadLetteredAt.IsZero() {
		return e.DeadLetteredAt
	}
	return e.LastAttempt
}

// dlqRead reads group's DLQ, turning a missing topic into a clear error.
func (a *app) dlqRead(ctx context.Context, cl *kgo.Client, group string, fn func(dlq.Entry, *kgo.Record, error) error) error {
	err := dlq.Read(ctx, cl, group, fn)
	if errors.Is(err, dlq.ErrNoTopic) {
		return fmt.Errorf("group %q has no dead-letter topic %s: it never dead-lettered anything, or the name is wrong", group, dlq.Topic(group))
	}
	if err != nil {
		return a.kafkaErr("reading "+dlq.Topic(group), err)
	}
	return nil
}

// listedEntry is one row of `dlq list`.
type listedEntry struct {
	MessageID      string    `json:"message_id"`
	Topic          string    `json:"topic"`
	Reason         string    `json:"failure_reason"`
	Attempts       int       `json:"attempts"`
	FirstAttempt   time.Time `json:"first_attempt"`
	LastAttempt    time.Time `json:"last_attempt"`
	LastError      string    `json:"last_error"`
	DeadLetteredAt time.Time `json:"dead_lettered_at"`
	DLQPartition   int32     `json:"dlq_partition"`
	DLQOffset      int64     `json:"dlq_offset"`
}

func newDLQListCmd(a *app) *cobra.Command {
	var (
		group  string
		filter entryFilter
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "list --group G",
		Short: "List the entries of a group's DLQ",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := filter.parse(time.Now()); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
			defer cancel()
			cl, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			items := []listedEntry{}
			malformed := 0
			err = a.dlqRead(ctx, cl, group, func(e dlq.Entry, rec *kgo.Record, derr error) error {
				if derr != nil {
					malformed++
					fmt.Fprintf(a.errOut, "kbus: warning: %s partition %d offset %d is not a DLQ entry: %v\n", rec.Topic, rec.Partition, rec.Offset, derr)
					return nil
				}
				if filter.match(e) && (limit <= 0 || len(items) < limit) {
					items = append(items, listedEntry{e.OriginalMessageID, e.Topic, e.FailureReason, e.Attempts,
						e.FirstAttempt, e.LastAttempt, e.LastError, deadLetteredAt(e), rec.Partition, rec.Offset})
				}
				return nil
			})
			if err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(items)
			}
			rows := make([][]string, len(items))
			for i, it := range items {
				rows[i] = []string{it.MessageID, it.Topic, it.Reason, fmt.Sprint(it.Attempts),
					it.LastAttempt.UTC().Format(time.RFC3339), cut(it.LastError, 60)}
			}
			return a.table([]string{"MESSAGE ID", "TOPIC", "REASON", "ATTEMPTS", "LAST ATTEMPT", "LAST ERROR"}, rows)
		},
	}
	cmd.Flags().StringVar(&group, "group", "", "the consumer group (required)")
	_ = cmd.MarkFlagRequired("group")
	filter.flags(cmd, false)
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most this many entries (0: all)")
	return cmd
}

// cut shortens s to n runes, marking the cut.
func cut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func newDLQShowCmd(a *app) *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "show --group G MESSAGE_ID",
		Short: "Print a DLQ entry as JSON, original payload included",
		Long: "Print the newest DLQ entry of the message id as JSON: the failure, the attempts, and what a replay\n" +
			"sends (original key, headers and value). The output is JSON whatever --output says.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), adminTimeout)
			defer cancel()
			cl, err := a.connect(ctx)
			if err != nil {
				return err
			}
			defer cl.Close()
			var found *dlq.Entry
			err = a.dlqRead(ctx, cl, group, func(e dlq.Entry, _ *kgo.Record, derr error) error {
				if derr == nil && e.OriginalMessageID == args[0] {
					found = &e
				}
				return nil
			})
			if err != nil {
				return err
			}
			if found == nil {
				return fmt.Errorf("no entry for message %s in %s", args[0], dlq.Topic(group))
			}
			return a.printJSON(found)
		},
	}
	cmd.Flags().StringVar(&group, "group", "", "the consumer group (required)")
	_ = cmd.MarkFlagRequired("group")
	return cmd
}

// replayedEntry is one line of `dlq replay` output.
type replayedEntry struct {
	MessageID string `json:"message_id"`
	Topic     string `json:"topic"`
	Reason    string `json:"failure_reason"`
	Outcome   string `json:"outcome"`
	Error     string `json:"error,omitempty"`
}

func newDLQReplayCmd(a *app) *cobra.Command {
	var (
		group     string
		filter    entryFilter
		all       bool
		toTopic   string
		dryRun    bool
		fromStart bool
		batchSize int
	)
	cmd := &cobra.Command{
		Use:   "replay --group G (--all | --message-id ID ... | --reason R | --topic T | --since S)",
		Short: "Republish dead-lettered events, addressed to the group that failed them",
		Long: `Republish the selected entries of a group's DLQ: each original record byte for byte (key, value,
headers) to its original topic (or --to-topic), plus headers that say it is a replay (count, time) and
which group it is for. Only that group processes it; every other group on the topic skips it. The
failed event's dedup row was rolled back with its failed transaction, so the replay is processed once,
and replaying it again is still processed once.

Replays are resumable: progress over the DLQ topic is tracked per selection (in the consumer group
kbus-replay.<group>.<selection>), so an interrupted replay continues where it stopped and a finished
one sends only what was dead-lettered since, unless --from-start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all && !filter.empty() {
				return errors.New("--all selects every entry: do not combine it with --message-id, --reason, --topic or --since")
			}
			if !all && filter.empty() {
				return errors.New("choose what to replay: --all, or --message-id, --reason, --topic, --since")
			}
			if err := filter.parse(time.Now()); err != nil {
				return err
			}
			ctx := cmd.Context()
			cctx, cancel := context.WithTimeout(ctx, brokerTimeout)
			cl, err := a.connect(cctx, kgo.RequiredAcks(kgo.AllISRAcks()))
			cancel()
			if err != nil {
				return err
			}
			defer cl.Close()

			progress := newProgress(a, dryRun)
			var items []replayedEntry
			sum, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{
				Group:     group,
				Match:     filter.match,
				Progress:  filter.key(toTopic),
				FromStart: fromStart,
				ToTopic:   toTopic,
				DryRun:    dryRun,
				BatchSize: batchSize,
				OnStart:   progress.start,
				OnEntry: func(r dlq.ReplayResult) {
					progress.step(r.Outcome)
					if r.Outcome == dlq.NotSelected {
						return
					}
					it := replayedEntry{MessageID: r.Entry.OriginalMessageID, Topic: r.Entry.Topic, Reason: r.Entry.FailureReason, Outcome: string(r.Outcome)}
					if toTopic != "" && r.Outcome != dlq.Malformed {
						it.Topic = toTopic
					}
					if r.Err != nil {
						it.Error = r.Err.Error()
						if r.Outcome == dlq.Malformed {
							it.Error = fmt.Sprintf("%s partition %d offset %d: %v", r.Record.Topic, r.Record.Partition, r.Record.Offset, r.Err)
						}
					}
					items = append(items, it)
				},
			})
			progress.done()
			if errors.Is(err, dlq.ErrNoTopic) {
				return fmt.Errorf("group %q has no dead-letter topic %s: nothing to replay", group, dlq.Topic(group))
			}
			if perr := a.printReplay(items, sum, dryRun); perr != nil && err == nil {
				err = perr
			}
			if err != nil {
				return err
			}
			if sum.Malformed > 0 {
				return fmt.Errorf("%d DLQ records are not valid entries and were not replayed (listed above)", sum.Malformed)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&group, "group", "", "the consumer group whose DLQ is replayed (required)")
	_ = cmd.MarkFlagRequired("group")
	filter.flags(cmd, true)
	fs.BoolVar(&all, "all", false, "replay every entry not replayed yet")
	fs.StringVar(&toTopic, "to-topic", "", "publish to this topic instead of each entry's original topic")
	fs.BoolVar(&dryRun, "dry-run", false, "list what would be replayed; send and record nothing")
	fs.BoolVar(&fromStart, "from-start", false, "ignore the recorded progress and consider the whole DLQ again")
	fs.IntVar(&batchSize, "batch-size", 100, "records sent between progress commits (an interrupted replay resends at most this many)")
	return cmd
}

func (a *app) printReplay(items []replayedEntry, sum dlq.ReplaySummary, dryRun bool) error {
	if items == nil {
		items = []replayedEntry{}
	}
	if a.json() {
		return a.printJSON(struct {
			DryRun  bool              `json:"dry_run"`
			Entries []replayedEntry   `json:"entries"`
			Summary dlq.ReplaySummary `json:"summary"`
		}{dryRun, items, sum})
	}
	rows := make([][]string, len(items))
	for i, it := range items {
		rows[i] = []string{it.MessageID, it.Topic, it.Reason, it.Outcome, cut(it.Error, 60)}
	}
	if len(rows) > 0 {
		if err := a.table([]string{"MESSAGE ID", "TO TOPIC", "REASON", "OUTCOME", "ERROR"}, rows); err != nil {
			return err
		}
	}
	if dryRun {
		_, err := fmt.Fprintf(a.out, "dry run: %d would be replayed, %d not selected, %d malformed; nothing sent\n",
			sum.WouldReplay, sum.NotSelected, sum.Malformed)
		return err
	}
	_, err := fmt.Fprintf(a.out, "replayed %d, skipped %d (not selected), failed %d, malformed %d\n",
		sum.Replayed, sum.NotSelected, sum.Failed, sum.Malformed)
	return err
}

// progress draws a progress bar on stderr when stderr is a terminal, and
// nothing otherwise (so scripts and logs get only the summary).
type progress struct {
	a         *app
	on        bool
	dryRun    bool
	last      time.Time
	total     int64
	examined  int64
	sentCount int
}

func newProgress(a *app, dryRun bool) *progress {
	f, ok := a.errOut.(*os.File)
	on := false
	if ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			on = true
		}
	}
	return &progress{a: a, on: on, dryRun: dryRun}
}

func (p *progress) start(total int64) { p.total = total }

func (p *progress) step(o dlq.ReplayOutcome) {
	p.examined++
	if o == dlq.Replayed || o == dlq.WouldReplay {
		p.sentCount++
	}
	if p.on && time.Since(p.last) > 100*time.Millisecond {
		p.last = time.Now()
		fmt.Fprint(p.a.errOut, "\r"+p.line())
	}
}

// line renders "[#####.....]  52% 520/1000 examined, 480 replayed".
func (p *progress) line() string {
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(p.examined)/float64(p.total), 1)
	}
	filled := int(frac * width)
	verb := "replayed"
	if p.dryRun {
		verb = "would replay"
	}
	return fmt.Sprintf("[%s%s] %3.0f%% %d/%d examined, %s %d",
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, p.examined, p.total, verb, p.sentCount)
}

func (p *progress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprint(p.a.errOut, "\r\033[K")
	}
}
