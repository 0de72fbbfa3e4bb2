package dlq_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
)

// group returns a consumer group unique to the test and deletes its DLQ
// topic at cleanup, if one was created.
func group(t *testing.T) string {
	t.Helper()
	g := kbustest.Name(t, "g")
	adm := kbustest.Admin(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adm.DeleteTopics(ctx, dlq.Topic(g)); err != nil {
			t.Logf("delete %s: %v", dlq.Topic(g), err)
		}
	})
	return g
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testEntry is the i-th entry of a test: the record it failed on has a
// binary key and value, and the times are UTC so that entries compare
// equal after a round trip.
func testEntry(g string, i int) dlq.Entry {
	id := envelope.NewMessageID(time.Now())
	rec := &kgo.Record{
		Topic:     "payment.completed",
		Partition: int32(i % 2),
		Offset:    int64(100 + i),
		Key:       []byte{0xff, byte(i), 'k'},
		Value:     fmt.Appendf(nil, `{"message_id":%q,"n":%d}`, id, i),
		Headers:   []kgo.RecordHeader{{Key: envelope.HeaderMessageID, Value: []byte(id)}, {Key: "bin", Value: []byte{0x80, byte(i)}}},
	}
	if i%3 == 2 {
		rec.Value = []byte{0xfe, byte(i), 0x00} // not an envelope
	}
	e := dlq.NewEntry(rec, g, dlq.ReasonHandlerError, "")
	t0 := time.Date(2024, 1, 15, 10, 30, i, 0, time.UTC)
	e.Attempts, e.FirstAttempt, e.LastAttempt, e.LastError = 3, t0, t0.Add(time.Second), fmt.Sprintf("boom %d", i)
	e.DeadLetteredAt = t0.Add(2 * time.Second)
	return e
}

type readResult struct {
	entry dlq.Entry
	rec   *kgo.Record
	err   error
}

func readAll(t *testing.T, ctx context.Context, cl *kgo.Client, g string) []readResult {
	t.Helper()
	var out []readResult
	err := dlq.Read(ctx, cl, g, func(e dlq.Entry, rec *kgo.Record, err error) error {
		out = append(out, readResult{e, rec, err})
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return out
}

func TestWriterCreatesTopicAndReadInOrder(t *testing.T) {
	ctx := testCtx(t)
	g := group(t)
	cl := kbustest.Client(t)
	w := dlq.NewWriter(cl)

	var want []dlq.Entry
	for i := range 12 {
		e := testEntry(g, i)
		if err := w.Write(ctx, e); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
		want = append(want, e)
	}

	// The topic was created with the default 3 partitions.
	md, err := kbustest.Admin(t).Metadata(ctx, dlq.Topic(g))
	if err != nil {
		t.Fatal(err)
	}
	if td := md.Topics[dlq.Topic(g)]; td.Err != nil || len(td.Partitions) != 3 {
		t.Fatalf("topic %s: err %v, %d partitions", dlq.Topic(g), td.Err, len(td.Partitions))
	}

	got := readAll(t, ctx, kbustest.Client(t), g)
	if len(got) != len(want) {
		t.Fatalf("read %d entries, want %d", len(got), len(want))
	}
	byID := map[string]dlq.Entry{}
	for _, e := range want {
		byID[e.OriginalMessageID] = e
	}
	// Partition by partition, each in offset order, and within a partition
	// in the order written (ids are time-sortable, and written in order).
	for i, r := range got {
		if r.err != nil {
			t.Fatalf("entry %d: %v", i, r.err)
		}
		if !reflect.DeepEqual(r.entry, byID[r.entry.OriginalMessageID]) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, r.entry, byID[r.entry.OriginalMessageID])
		}
		if r.rec.Topic != dlq.Topic(g) || string(r.rec.Key) != r.entry.OriginalMessageID {
			t.Errorf("record %d: topic %q key %q", i, r.rec.Topic, r.rec.Key)
		}
		if i > 0 {
			prev := got[i-1]
			if r.rec.Partition < prev.rec.Partition ||
				r.rec.Partition == prev.rec.Partition && (r.rec.Offset <= prev.rec.Offset || r.entry.OriginalMessageID <= prev.entry.OriginalMessageID) {
				t.Errorf("record %d (%d/%d) after (%d/%d)", i, r.rec.Partition, r.rec.Offset, prev.rec.Partition, prev.rec.Offset)
			}
		}
	}
}

func TestReadSinglePartitionOrder(t *testing.T) {
	ctx := testCtx(t)
	g := group(t)
	w := dlq.NewWriter(kbustest.Client(t), dlq.Partitions(1), dlq.TopicConfig("retention.ms", "3600000"))
	var want []dlq.Entry
	for i := range 5 {
		e := testEntry(g, i)
		if err := w.Write(ctx, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
	}
	got := readAll(t, ctx, kbustest.Client(t), g)
	if len(got) != len(want) {
		t.Fatalf("read %d, want %d", len(got), len(want))
	}
	for i, r := range got {
		if r.err != nil || !reflect.DeepEqual(r.entry, want[i]) || r.rec.Offset != int64(i) {
			t.Errorf("entry %d (offset %d, err %v):\n got %+v\nwant %+v", i, r.rec.Offset, r.err, r.entry, want[i])
		}
	}
	cfg, err := kbustest.Admin(t).DescribeTopicConfigs(ctx, dlq.Topic(g))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfg.On(dlq.Topic(g), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" && c.MaybeValue() != "3600000" {
			t.Errorf("retention.ms = %q", c.MaybeValue())
		}
	}
}

func TestReadMissingTopic(t *testing.T) {
	g := kbustest.Name(t, "g")
	err := dlq.Read(testCtx(t), kbustest.Client(t), g, func(dlq.Entry, *kgo.Record, error) error {
		t.Error("fn called")
		return nil
	})
	if !errors.Is(err, dlq.ErrNoTopic) {
		t.Fatalf("Read = %v, want ErrNoTopic", err)
	}
}

func TestReadEmptyTopic(t *testing.T) {
	ctx := testCtx(t)
	g := group(t)
	cl := kbustest.Client(t)
	adm := kbustest.Admin(t)
	if resp, err := adm.CreateTopic(ctx, 2, -1, nil, dlq.Topic(g)); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	// The broker learns of a new topic asynchronously: until it does, Read
	// rightly says there is no such topic. Wait until both partitions have a
	// leader, as a DLQ written by a Writer would.
	for {
		md, err := adm.Metadata(ctx, dlq.Topic(g))
		if err == nil {
			if td, ok := md.Topics[dlq.Topic(g)]; ok && td.Err == nil && len(td.Partitions) == 2 &&
				td.Partitions[0].Leader >= 0 && td.Partitions[1].Leader >= 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s not ready: %v", dlq.Topic(g), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if got := readAll(t, ctx, cl, g); len(got) != 0 {
		t.Fatalf("read %d entries from an empty topic", len(got))
	}
}

func TestReadMalformedRecord(t *testing.T) {
	ctx := testCtx(t)
	g := group(t)
	cl := kbustest.Client(t)
	w := dlq.NewWriter(cl, dlq.Partitions(1))
	first, last := testEntry(g, 0), testEntry(g, 1)
	if err := w.Write(ctx, first); err != nil {
		t.Fatal(err)
	}
	garbage := []byte{0xde, 0xad, '{', 0xbe, 0xef}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: dlq.Topic(g), Value: garbage}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	notEntry := []byte(`{"hello":"world"}`)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: dlq.Topic(g), Value: notEntry}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, last); err != nil {
		t.Fatal(err)
	}

	got := readAll(t, ctx, cl, g)
	if len(got) != 4 {
		t.Fatalf("read %d records, want 4", len(got))
	}
	if got[0].err != nil || !reflect.DeepEqual(got[0].entry, first) {
		t.Errorf("first: %v %+v", got[0].err, got[0].entry)
	}
	for i, raw := range [][]byte{garbage, notEntry} {
		r := got[i+1]
		if !errors.Is(r.err, dlq.ErrMalformed) || !bytes.Equal(r.rec.Value, raw) || r.rec.Offset != int64(i+1) {
			t.Errorf("malformed %d: err %v value %q offset %d", i, r.err, r.rec.Value, r.rec.Offset)
		}
	}
	if got[3].err != nil || !reflect.DeepEqual(got[3].entry, last) {
		t.Errorf("last: %v %+v", got[3].err, got[3].entry)
	}
}

func TestReadStopsOnCallbackError(t *testing.T) {
	ctx := testCtx(t)
	g := group(t)
	cl := kbustest.Client(t)
	w := dlq.NewWriter(cl, dlq.Partitions(1))
	for i := range 3 {
		if err := w.Write(ctx, testEntry(g, i)); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := dlq.Read(ctx, cl, g, func(dlq.Entry, *kgo.Record, error) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("Read = %v after %d calls, want stop after 1", err, n)
	}
}

// Entries written while Read runs are beyond the end Read started with, so
// Read terminates.
func TestReadEndsAtStartingHighWatermark(t *testing.T) {
	ctx := testCtx(t)
	g := group(t)
	cl := kbustest.Client(t)
	w := dlq.NewWriter(cl)
	for i := range 4 {
		if err := w.Write(ctx, testEntry(g, i)); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	err := dlq.Read(ctx, cl, g, func(e dlq.Entry, _ *kgo.Record, err error) error {
		n++
		return w.Write(ctx, testEntry(g, 10+n))
	})
	if err != nil || n != 4 {
		t.Fatalf("Read = %v after %d entries, want 4", err, n)
	}
	if got := readAll(t, ctx, cl, g); len(got) != 8 {
		t.Fatalf("second Read: %d entries, want 8", len(got))
	}
}

func TestWriterConcurrent(t *testing.T) {
	ctx := testCtx(t)
	g := group(t)
	cl := kbustest.Client(t)
	w := dlq.NewWriter(cl)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ids := make([]string, n)
	for i := range n {
		e := testEntry(g, i)
		ids[i] = e.OriginalMessageID
		wg.Go(func() { errs <- w.Write(ctx, e) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range readAll(t, ctx, cl, g) {
		got = append(got, r.entry.OriginalMessageID)
	}
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Fatalf("read ids %v, want %v", got, ids)
	}
}

func TestWriteInvalidEntry(t *testing.T) {
	g := group(t)
	cl := kbustest.Client(t)
	e := testEntry(g, 0)
	e.FailureReason = ""
	if err := dlq.NewWriter(cl).Write(testCtx(t), e); !errors.Is(err, dlq.ErrInvalidEntry) {
		t.Fatalf("Write = %v, want ErrInvalidEntry", err)
	}
	if err := dlq.Read(testCtx(t), cl, g, func(dlq.Entry, *kgo.Record, error) error { return nil }); !errors.Is(err, dlq.ErrNoTopic) {
		t.Fatalf("Read = %v: the topic should not have been created", err)
	}
}

func TestWriteCanceled(t *testing.T) {
	g := group(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := dlq.NewWriter(kbustest.Client(t)).Write(ctx, testEntry(g, 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write = %v, want context.Canceled", err)
	}
}

// A replay produced to Kafka and consumed again has the original key, value
// and headers byte for byte, plus the replay headers.
func TestReplayThroughKafka(t *testing.T) {
	ctx := testCtx(t)
	src := kbustest.Topic(t, 1)
	cl := kbustest.Client(t)
	orig := &kgo.Record{
		Topic: src, Key: []byte{0xff, 0x00}, Value: []byte{0xc3, 0x28, 'x'},
		Headers: []kgo.RecordHeader{{Key: "a", Value: []byte{0x80}}, {Key: dlq.HeaderReplayCount, Value: []byte("4")}},
	}
	if err := cl.ProduceSync(ctx, orig).FirstErr(); err != nil {
		t.Fatal(err)
	}
	consumer := kbustest.Client(t, kgo.ConsumeTopics(src), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	first := pollOne(t, ctx, consumer)
	e := dlq.NewEntry(first, "ledger", dlq.ReasonDecodeError, "")

	// Through the DLQ format and back, then replayed.
	rec, err := e.Record()
	if err != nil {
		t.Fatal(err)
	}
	e, err = dlq.Decode(rec.Value)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, e.Replay("", time.Now())).FirstErr(); err != nil {
		t.Fatal(err)
	}
	replayed := pollOne(t, ctx, consumer)
	if !bytes.Equal(replayed.Key, orig.Key) || !bytes.Equal(replayed.Value, orig.Value) {
		t.Errorf("key %q value %q", replayed.Key, replayed.Value)
	}
	if len(replayed.Headers) != 4 || !reflect.DeepEqual(replayed.Headers[0], orig.Headers[0]) {
		t.Errorf("headers %q", replayed.Headers)
	}
	if g, ok := dlq.ReplayTarget(replayed.Headers); !ok || g != "ledger" || dlq.ReplayCount(replayed.Headers) != 5 {
		t.Errorf("target %q %v count %d", g, ok, dlq.ReplayCount(replayed.Headers))
	}
}

func pollOne(t *testing.T, ctx context.Context, cl *kgo.Client) *kgo.Record {
	t.Helper()
	for {
		fs := cl.PollRecords(ctx, 1)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			return recs[0]
		}
	}
}
