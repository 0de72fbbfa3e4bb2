package main

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/kbustest"
)

func TestLag(t *testing.T) {
	topic := kbustest.Topic(t, 3)
	group := kbustest.Name(t, "kbus.cli.group.")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// 5, 3 and 2 records on partitions 0, 1 and 2.
	prod := kbustest.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	sizes := []int{5, 3, 2}
	for p, n := range sizes {
		for range n {
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	// A member of the group consumes everything but commits part way:
	// partition 0 up to offset 2, partition 1 entirely, partition 2 not at all.
	cons, err := kgo.NewClient(kgo.SeedBrokers(kbustest.Brokers(t)...), kgo.ClientID("lag-test-member"),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var recs []*kgo.Record
	for len(recs) < 10 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		recs = append(recs, fs.Records()...)
	}
	var commit []*kgo.Record
	for _, r := range recs {
		if (r.Partition == 0 && r.Offset == 1) || (r.Partition == 1 && r.Offset == 2) {
			commit = append(commit, r)
		}
	}
	if err := cons.CommitRecords(ctx, commit...); err != nil {
		t.Fatal(err)
	}
	adm := kbustest.Admin(t)

	// While the member is in the group, every assigned partition shows.
	gl := lagJSON(t, group)
	want := []partitionLag{
		{Topic: topic, Partition: 0, Committed: 2, End: 5, Lag: 3, Member: "lag-test-member"},
		{Topic: topic, Partition: 1, Committed: 3, End: 3, Lag: 0, Member: "lag-test-member"},
		{Topic: topic, Partition: 2, Committed: -1, End: 2, Lag: 2, Member: "lag-test-member"},
	}
	if !slices.Equal(gl.Partitions, want) || gl.TotalLag != 5 || gl.Group != group {
		t.Errorf("lag = %+v, want partitions %+v and a total of 5", gl, want)
	}
	checkAgainstKadm(t, adm, gl)
	out := mustCLI(t, "lag", "--group", group)
	for _, row := range [][]string{
		{"TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"},
		{topic, "0", "2", "5", "3", "lag-test-member"},
		{topic, "1", "3", "3", "0", "lag-test-member"},
		{topic, "2", "?", "2", "2", "lag-test-member"},
		{"TOTAL", "-", "-", "-", "5", "-"},
	} {
		if !containsRow(out, row...) {
			t.Errorf("lag table lacks %q:\n%s", row, out)
		}
	}

	// Once the member has left, the group is Empty: the partitions it
	// committed to show (partition 2 too when the broker reports its
	// empty commit), with the same numbers.
	cons.Close()
	gl = lagJSON(t, group)
	want = []partitionLag{
		{Topic: topic, Partition: 0, Committed: 2, End: 5, Lag: 3},
		{Topic: topic, Partition: 1, Committed: 3, End: 3, Lag: 0},
		{Topic: topic, Partition: 2, Committed: -1, End: 2, Lag: 2},
	}
	if n := len(gl.Partitions); n < 2 || !slices.Equal(gl.Partitions, want[:n]) || gl.State != "Empty" {
		t.Errorf("lag of the empty group = %+v, want state Empty and partitions %+v", gl, want)
	}
	if total := int64(3 + 2*(len(gl.Partitions)-2)); gl.TotalLag != total {
		t.Errorf("total lag of the empty group = %d, want %d", gl.TotalLag, total)
	}
	checkAgainstKadm(t, adm, lagJSON(t, group))
}

func lagJSON(t *testing.T, group string) groupLag {
	t.Helper()
	var gl groupLag
	decodeJSON(t, mustCLI(t, "lag", "--group", group, "-o", "json"), &gl)
	return gl
}

// checkAgainstKadm compares the command's numbers with kadm's own.
func checkAgainstKadm(t *testing.T, adm *kadm.Client, gl groupLag) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lags, err := adm.Lag(ctx, gl.Group)
	if err != nil {
		t.Fatal(err)
	}
	l := lags[gl.Group]
	if err := l.Error(); err != nil {
		t.Fatal(err)
	}
	if l.Lag.Total() != gl.TotalLag {
		t.Errorf("total lag %d, kadm says %d", gl.TotalLag, l.Lag.Total())
	}
	sorted := l.Lag.Sorted()
	if len(sorted) != len(gl.Partitions) {
		t.Fatalf("%d partitions, kadm has %d", len(gl.Partitions), len(sorted))
	}
	for i, m := range sorted {
		p := gl.Partitions[i]
		if p.Topic != m.Topic || p.Partition != m.Partition || p.Committed != m.Commit.At || p.End != m.End.Offset || p.Lag != m.Lag {
			t.Errorf("partition %+v, kadm says %s/%d committed %d end %d lag %d",
				p, m.Topic, m.Partition, m.Commit.At, m.End.Offset, m.Lag)
		}
	}
}

func TestLagUnknownGroup(t *testing.T) {
	group := kbustest.Name(t, "kbus.cli.nogroup.")
	msg := failCLI(t, "not found", "lag", "--group", group)
	if want := strconv.Quote(group); !containsAll(msg, want, "no committed offsets") {
		t.Errorf("error %q should name the group and say why", msg)
	}
	failCLI(t, "--group is required", "lag")
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// A group that only ever committed offsets (no member joined it).
func TestLagCommitOnlyGroup(t *testing.T) {
	topic := kbustest.Topic(t, 2)
	group := kbustest.Name(t, "kbus.cli.group.")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod := kbustest.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for range 4 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 1, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kbustest.Admin(t)
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: topic, Partition: 1, At: 1, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, group, offs); err != nil {
		t.Fatal(err)
	}
	gl := lagJSON(t, group)
	// Kafka 4 reports the partitions of a committed topic that have no
	// commit (here partition 0) as committed at -1; older brokers omit them.
	if len(gl.Partitions) == 2 {
		gl.Partitions = gl.Partitions[1:]
	}
	if want := []partitionLag{{Topic: topic, Partition: 1, Committed: 1, End: 4, Lag: 3}}; !slices.Equal(gl.Partitions, want) || gl.TotalLag != 3 {
		t.Errorf("lag = %+v, want %+v and a total of 3", gl, want)
	}
	checkAgainstKadm(t, adm, lagJSON(t, group))
}
