package dlq_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/kbustest"
)

// replayEnv writes n entries whose original topic is a fresh topic, and
// returns the group and that topic.
func replayEnv(t *testing.T, n int) (g, topic string, w *dlq.Writer) {
	t.Helper()
	g = group(t)
	topic = kbustest.Topic(t, 1)
	w = dlq.NewWriter(kbustest.Client(t), dlq.Partitions(2))
	writeN(t, w, g, topic, 0, n)
	return g, topic, w
}

func writeN(t *testing.T, w *dlq.Writer, g, topic string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		e := testEntry(g, i)
		e.Topic = topic
		e.FailureReason = dlq.ReasonHandlerError
		if i%2 == 1 {
			e.FailureReason = dlq.ReasonDecodeError
		}
		if err := w.Write(testCtx(t), e); err != nil {
			t.Fatal(err)
		}
	}
}

// countOn returns the records on topic and how many carry the replay
// header addressed to g.
func countOn(t *testing.T, topic, g string) (n, addressed int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	end, err := kbustest.Admin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	end.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total == 0 {
		return 0, 0
	}
	cl := kbustest.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for int64(n) < total {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if got, ok := dlq.ReplayTarget(r.Headers); ok && got == g {
				addressed++
			}
		})
	}
	return n, addressed
}

func TestReplayEntriesIsResumableAndDoesNotResend(t *testing.T) {
	g, topic, w := replayEnv(t, 5)
	ctx := testCtx(t)
	cl := kbustest.Client(t)

	sum, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{Group: g, Progress: "all"})
	if err != nil || sum.Replayed != 5 {
		t.Fatalf("first replay: %+v, %v", sum, err)
	}
	if n, addressed := countOn(t, topic, g); n != 5 || addressed != 5 {
		t.Fatalf("%d records on %s, %d addressed to %s; want 5 and 5", n, topic, addressed, g)
	}
	// A finished replay sends nothing more.
	if sum, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{Group: g, Progress: "all"}); err != nil || sum.Replayed != 0 {
		t.Fatalf("second replay: %+v, %v", sum, err)
	}
	// New dead letters are replayed by the next run, and only they.
	writeN(t, w, g, topic, 5, 2)
	if sum, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{Group: g, Progress: "all"}); err != nil || sum.Replayed != 2 {
		t.Fatalf("third replay: %+v, %v", sum, err)
	}
	// FromStart sends everything again.
	if sum, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{Group: g, Progress: "all", FromStart: true}); err != nil || sum.Replayed != 7 {
		t.Fatalf("replay from start: %+v, %v", sum, err)
	}
	if n, _ := countOn(t, topic, g); n != 14 {
		t.Fatalf("%d records on %s, want 14", n, topic)
	}
}

func TestReplayEntriesDryRunAndMatch(t *testing.T) {
	g, topic, _ := replayEnv(t, 6)
	ctx := testCtx(t)
	cl := kbustest.Client(t)
	var seen []dlq.ReplayOutcome
	sum, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{Group: g, Progress: "decode", DryRun: true,
		Match:   func(e dlq.Entry) bool { return e.FailureReason == dlq.ReasonDecodeError },
		OnEntry: func(r dlq.ReplayResult) { seen = append(seen, r.Outcome) }})
	if err != nil || sum.WouldReplay != 3 || sum.NotSelected != 3 || len(seen) != 6 {
		t.Fatalf("dry run: %+v, %v, outcomes %v", sum, err, seen)
	}
	if n, _ := countOn(t, topic, g); n != 0 {
		t.Fatalf("dry run sent %d records", n)
	}
	// The dry run tracked nothing: the real run sends the three.
	sum, err = dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{Group: g, Progress: "decode",
		Match: func(e dlq.Entry) bool { return e.FailureReason == dlq.ReasonDecodeError }})
	if err != nil || sum.Replayed != 3 {
		t.Fatalf("replay: %+v, %v", sum, err)
	}
}

func TestReplayEntriesInterruptedResumes(t *testing.T) {
	const n = 10
	g, topic, _ := replayEnv(t, n)
	cl := kbustest.Client(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	examined := 0
	sum, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{Group: g, Progress: "all", BatchSize: 2,
		OnEntry: func(dlq.ReplayResult) {
			if examined++; examined == 4 {
				cancel() // interrupted mid-way
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted replay: %+v, err %v", sum, err)
	}
	first := sum.Replayed
	if first == 0 || first >= n {
		t.Fatalf("interrupted replay sent %d of %d; the test proves nothing", first, n)
	}
	sum, err = dlq.ReplayEntries(testCtx(t), cl, dlq.ReplayOptions{Group: g, Progress: "all", BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if total := first + sum.Replayed; total < n || total > n+2 {
		t.Fatalf("sent %d then %d: want every entry once, at most one batch (2) again", first, sum.Replayed)
	}
	if got, _ := countOn(t, topic, g); got != first+sum.Replayed {
		t.Fatalf("%d records on the topic, %d reported sent", got, first+sum.Replayed)
	}
}

func TestReplayEntriesToTopicAndErrors(t *testing.T) {
	g, _, _ := replayEnv(t, 2)
	other := kbustest.Topic(t, 1)
	ctx := testCtx(t)
	cl := kbustest.Client(t)
	if sum, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{Group: g, ToTopic: other}); err != nil || sum.Replayed != 2 {
		t.Fatalf("to-topic: %+v, %v", sum, err)
	}
	if n, addressed := countOn(t, other, g); n != 2 || addressed != 2 {
		t.Fatalf("%d records (%d addressed) on %s", n, addressed, other)
	}
	if _, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{Group: kbustest.Name(t, "nogroup")}); !errors.Is(err, dlq.ErrNoTopic) {
		t.Fatalf("missing DLQ: %v", err)
	}
	if _, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{}); err == nil {
		t.Fatal("no group: no error")
	}
}
