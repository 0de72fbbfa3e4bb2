package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
)

// dlqWorld is a topic with events, a consumer group whose handler fails for
// some of them until fixed, and the table its effects go to.
type dlqWorld struct {
	t      *testing.T
	topic  string
	group  string
	db     *kbustest.Database
	ids    []string // published message ids, in order
	failed map[string]bool
	fixed  atomic.Bool
	c      *consumer.Consumer
}

func newDLQWorld(t *testing.T, n int, fails func(i int) bool) *dlqWorld {
	t.Helper()
	w := &dlqWorld{t: t, topic: kbustest.Topic(t, 4), group: kbustest.Name(t, "g."), db: kbustest.DB(t), failed: map[string]bool{}}
	adm := kbustest.Admin(t)
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), dlq.Topic(w.group)) })
	ctx := context.Background()
	if _, err := w.db.Pool.Exec(ctx, `CREATE TABLE effects (message_id text NOT NULL, amount bigint NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	p, err := producer.New(producer.Brokers(kbustest.Brokers(t)...), producer.Name("payment-service"), producer.SkipSchemaValidation())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range n {
		e := p.Envelope(ctx, w.topic, fmt.Appendf(nil, `{"amount":%d}`, i+1))
		w.ids = append(w.ids, e.MessageID)
		if fails(i) {
			w.failed[e.MessageID] = true
		}
		p.PublishEnvelopeAsync(ctx, fmt.Sprint("pay_", i), e, func(_ producer.Receipt, err error) {
			if err != nil {
				t.Errorf("publish: %v", err)
			}
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	w.c, err = consumer.New(consumer.Config{Brokers: kbustest.Brokers(t), Group: w.group, Topics: []string{w.topic},
		DB: w.db.Pool, Retry: consumer.RetryPolicy{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	w.c.HandleTx(w.topic, func(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
		if w.failed[e.MessageID] && !w.fixed.Load() {
			return errors.New("merchant not found")
		}
		var d struct{ Amount int64 }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO effects VALUES ($1, $2)`, e.MessageID, d.Amount)
		return err
	})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.c.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	w.waitFor("the first pass", func(s consumer.Stats) bool {
		return s.Processed == int64(n-len(w.failed)) && s.DeadLettered == int64(len(w.failed))
	})
	return w
}

func (w *dlqWorld) waitFor(what string, cond func(consumer.Stats) bool) {
	w.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond(w.c.Stats()) {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s: %+v", what, w.c.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// effects returns the rows and distinct ids in the effects table.
func (w *dlqWorld) effects() (rows, distinct int) {
	w.t.Helper()
	if err := w.db.Pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT message_id) FROM effects`).Scan(&rows, &distinct); err != nil {
		w.t.Fatal(err)
	}
	return rows, distinct
}

// kbus runs the built binary and returns stdout, failing the test on a
// non-zero exit unless wantFail.
func kbus(t *testing.T, wantFail bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(kbusBinary(t), append([]string{"--brokers", strings.Join(kbustest.Brokers(t), ",")}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if (err != nil) != wantFail {
		t.Fatalf("kbus %s: err %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if wantFail && !strings.HasPrefix(stderr.String(), "kbus: ") {
		t.Fatalf("kbus %s failed without a one-line reason: %q", strings.Join(args, " "), stderr.String())
	}
	return stdout.String()
}

func TestDLQListShowReplayEndToEnd(t *testing.T) {
	const n = 40
	w := newDLQWorld(t, n, func(i int) bool { return i%8 == 3 }) // 5 of 40 fail
	// A second, stateless group on the same topic that already handled every event.
	var otherCalls atomic.Int64
	other, err := consumer.New(consumer.Config{Brokers: kbustest.Brokers(t), Group: kbustest.Name(t, "other."),
		Topics: []string{w.topic}, Mode: consumer.AtLeastOnce})
	if err != nil {
		t.Fatal(err)
	}
	other.Handle(w.topic, func(context.Context, envelope.Envelope) error { otherCalls.Add(1); return nil })
	octx, ocancel := context.WithCancel(context.Background())
	odone := make(chan error, 1)
	go func() { odone <- other.Run(octx) }()
	defer func() { ocancel(); <-odone }()
	for other.Stats().Processed < n {
		time.Sleep(20 * time.Millisecond)
	}

	// list shows the failed events.
	var listed []struct {
		MessageID string `json:"message_id"`
		Reason    string `json:"failure_reason"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	}
	if err := json.Unmarshal([]byte(kbus(t, false, "dlq", "list", "--group", w.group, "--output", "json")), &listed); err != nil {
		t.Fatalf("dlq list --output json is not JSON: %v", err)
	}
	if len(listed) != len(w.failed) {
		t.Fatalf("dlq list shows %d entries, want %d", len(listed), len(w.failed))
	}
	for _, l := range listed {
		if !w.failed[l.MessageID] || l.Reason != dlq.ReasonHandlerError || l.Attempts != 1 || l.LastError != "merchant not found" {
			t.Fatalf("listed %+v", l)
		}
	}
	table := kbus(t, false, "dlq", "list", "--group", w.group, "--limit", "2")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "MESSAGE ID") {
		t.Fatalf("dlq list --limit 2 table:\n%s", table)
	}

	// show prints the whole entry.
	var shown dlq.Entry
	if err := json.Unmarshal([]byte(kbus(t, false, "dlq", "show", "--group", w.group, listed[0].MessageID)), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.OriginalMessageID != listed[0].MessageID || shown.ConsumerGroup != w.group || len(shown.Value) == 0 {
		t.Fatalf("dlq show: %+v", shown)
	}
	kbus(t, true, "dlq", "show", "--group", w.group, "msg_nosuchid")

	// A dry run sends nothing.
	var dry struct {
		DryRun  bool `json:"dry_run"`
		Entries []struct{ Outcome string }
		Summary dlq.ReplaySummary
	}
	if err := json.Unmarshal([]byte(kbus(t, false, "dlq", "replay", "--group", w.group, "--all", "--dry-run", "-o", "json")), &dry); err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || dry.Summary.WouldReplay != len(w.failed) || len(dry.Entries) != len(w.failed) {
		t.Fatalf("dry run: %+v", dry)
	}
	time.Sleep(300 * time.Millisecond)
	if rows, _ := w.effects(); rows != n-len(w.failed) {
		t.Fatalf("after the dry run %d effects, want %d", rows, n-len(w.failed))
	}

	// Fix the handler and replay: each failed event's effect exists once.
	w.fixed.Store(true)
	out := kbus(t, false, "dlq", "replay", "--group", w.group, "--all")
	if !strings.Contains(out, fmt.Sprintf("replayed %d,", len(w.failed))) {
		t.Fatalf("replay output:\n%s", out)
	}
	w.waitFor("the replayed events", func(s consumer.Stats) bool { return s.Processed == n })
	if rows, distinct := w.effects(); rows != n || distinct != n {
		t.Fatalf("effects rows %d distinct %d, want %d", rows, distinct, n)
	}
	// A second replay sends nothing.
	if out := kbus(t, false, "dlq", "replay", "--group", w.group, "--all"); !strings.Contains(out, "replayed 0,") {
		t.Fatalf("second replay output:\n%s", out)
	}
	// Replaying one entry again on purpose is still processed once.
	kbus(t, false, "dlq", "replay", "--group", w.group, "--message-id", listed[0].MessageID, "--from-start")
	w.waitFor("the deliberate second replay", func(s consumer.Stats) bool { return s.Duplicates >= 1 })
	if rows, _ := w.effects(); rows != n {
		t.Fatalf("after replaying twice: %d effects, want %d", rows, n)
	}
	// The other group skipped every replay and handled nothing twice.
	for other.Stats().Skipped < int64(len(w.failed))+1 {
		time.Sleep(20 * time.Millisecond)
	}
	if got := otherCalls.Load(); got != n {
		t.Fatalf("the other group's handler ran %d times, want %d", got, n)
	}

	// Bad input: a clear one-line error and a non-zero exit.
	kbus(t, true, "dlq", "replay", "--group", w.group)
	kbus(t, true, "dlq", "list", "--group", kbustest.Name(t, "nosuchgroup."))
	kbus(t, true, "dlq", "list", "--group", w.group, "--since", "yesterday")
}

func TestDLQReplayKilledMidWayResumes(t *testing.T) {
	const n = 1500
	w := newDLQWorld(t, n, func(int) bool { return true })
	w.fixed.Store(true)
	adm := kadm.NewClient(kbustest.Client(t))
	progressGroup := dlq.ProgressGroup(w.group, "all")

	cmd := exec.Command(kbusBinary(t), "--brokers", strings.Join(kbustest.Brokers(t), ","),
		"dlq", "replay", "--group", w.group, "--all", "--batch-size", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once some, not all, progress is committed.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var done int64
		if offs, err := adm.FetchOffsets(context.Background(), progressGroup); err == nil {
			offs.Each(func(o kadm.OffsetResponse) { done += o.At })
		}
		if done > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replay committed no progress within 60 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	var atKill int64
	offs, err := adm.FetchOffsets(context.Background(), progressGroup)
	if err != nil {
		t.Fatal(err)
	}
	offs.Each(func(o kadm.OffsetResponse) { atKill += o.At })
	if atKill >= n {
		t.Fatalf("the replay had finished before it was killed; the test proves nothing")
	}
	t.Logf("killed the replay with its progress at %d of %d DLQ entries", atKill, n)

	out := kbus(t, false, "dlq", "replay", "--group", w.group, "--all")
	if strings.Contains(out, fmt.Sprintf("replayed %d,", n)) {
		t.Fatalf("the resumed replay started over:\n%s", out)
	}
	w.waitFor("every event", func(s consumer.Stats) bool { return s.Processed == n })
	time.Sleep(300 * time.Millisecond)
	if rows, distinct := w.effects(); rows != n || distinct != n {
		t.Fatalf("effects rows %d distinct %d, want %d", rows, distinct, n)
	}
}

func TestProgressLine(t *testing.T) {
	p := &progress{total: 200}
	for range 50 {
		p.step(dlq.Replayed)
	}
	p.step(dlq.NotSelected)
	if got, want := p.line(), "[#######.......................]  26% 51/200 examined, replayed 50"; got != want {
		t.Fatalf("line = %q, want %q", got, want)
	}
}
