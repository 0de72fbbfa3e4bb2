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

// newTopicName returns a fresh topic name that the test deletes at cleanup,
// for commands that create it.
func newTopicName(t *testing.T) string {
	t.Helper()
	name := kbustest.Name(t, "kbus.cli.")
	adm := kbustest.Admin(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adm.DeleteTopics(ctx, name); err != nil {
			t.Logf("delete topic %s: %v", name, err)
		}
	})
	return name
}

func TestTopicsCreateListDescribe(t *testing.T) {
	name := newTopicName(t)

	out := mustCLI(t, "topics", "create", name, "--partitions", "2", "--replication-factor", "1", "--config", "retention.ms=3600000")
	if !containsRow(out, name, "2", "1", "created") {
		t.Fatalf("create output lacks the created topic:\n%s", out)
	}

	// A second create fails and names the topic; --if-not-exists accepts it.
	msg := failCLI(t, "already exists", "topics", "create", name)
	if !strings.Contains(msg, name) || !strings.Contains(msg, "--if-not-exists") {
		t.Errorf("error %q should name the topic and --if-not-exists", msg)
	}
	var created []topicSummary
	decodeJSON(t, mustCLI(t, "-o", "json", "topics", "create", name, "--if-not-exists", "--partitions", "5"), &created)
	if want := []topicSummary{{Name: name, Partitions: 2, ReplicationFactor: 1, Status: "exists"}}; !slices.Equal(created, want) {
		t.Errorf("create --if-not-exists = %+v, want %+v (the existing topic, unchanged)", created, want)
	}

	// Three records on partition 0, for the offsets.
	cl := kbustest.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: name, Partition: 0, Value: []byte{byte('a' + i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Committing offsets makes sure the internal __consumer_offsets exists.
	adm := kbustest.Admin(t)
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: name, Partition: 0, At: 1})
	if err := adm.CommitAllOffsets(ctx, kbustest.Name(t, "kbus.cli.group."), offs); err != nil {
		t.Fatal(err)
	}

	t.Run("list", func(t *testing.T) {
		out := mustCLI(t, "topics", "list")
		if !strings.HasPrefix(out, "NAME") || !containsRow(out, name, "2", "1") {
			t.Errorf("list lacks %s:\n%s", name, out)
		}
		if strings.Contains(out, "__consumer_offsets") {
			t.Errorf("list shows internal topics without --all:\n%s", out)
		}
		var list []topicSummary
		decodeJSON(t, mustCLI(t, "topics", "list", "--output", "json"), &list)
		i := slices.IndexFunc(list, func(s topicSummary) bool { return s.Name == name })
		if i < 0 {
			t.Fatalf("JSON list lacks %s: %+v", name, list)
		}
		if want := (topicSummary{Name: name, Partitions: 2, ReplicationFactor: 1}); list[i] != want {
			t.Errorf("JSON list has %+v, want %+v", list[i], want)
		}
		if slices.ContainsFunc(list, func(s topicSummary) bool { return s.Internal }) {
			t.Errorf("JSON list has internal topics without --all")
		}
		decodeJSON(t, mustCLI(t, "topics", "list", "--all", "-o", "json"), &list)
		if !slices.ContainsFunc(list, func(s topicSummary) bool { return s.Name == "__consumer_offsets" && s.Internal }) {
			t.Errorf("list --all lacks __consumer_offsets: %+v", list)
		}
		if out := mustCLI(t, "topics", "list", "--all"); !strings.Contains(out, "__consumer_offsets") {
			t.Errorf("list --all lacks __consumer_offsets:\n%s", out)
		}
	})

	t.Run("describe", func(t *testing.T) {
		md, err := adm.ListTopics(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		leader := func(p int32) string { return strconv.Itoa(int(md[name].Partitions[p].Leader)) }
		out := mustCLI(t, "topics", "describe", name)
		for _, want := range [][]string{
			{"Topic:", name},
			{"Partitions:", "2"},
			{"Replication:", "1"},
			{"PARTITION", "LEADER", "REPLICAS", "ISR", "START", "END"},
			{"0", leader(0), leader(0), leader(0), "0", "3"},
			{"1", leader(1), leader(1), leader(1), "0", "0"},
			{"retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"},
		} {
			if !containsRow(out, want...) {
				t.Errorf("describe lacks the row %q:\n%s", want, out)
			}
		}

		var d topicDescription
		decodeJSON(t, mustCLI(t, "topics", "describe", name, "-o", "json"), &d)
		if d.Name != name || d.ReplicationFactor != 1 || len(d.Partitions) != 2 || d.ID == "" {
			t.Fatalf("describe JSON = %+v", d)
		}
		ends, err := adm.ListEndOffsets(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Partitions {
			pd := md[name].Partitions[p.Partition]
			end, _ := ends.Lookup(name, p.Partition)
			if p.Leader != pd.Leader || !slices.Equal(p.Replicas, pd.Replicas) || !slices.Equal(p.ISR, pd.ISR) ||
				p.StartOffset != 0 || p.EndOffset != end.Offset || p.Error != "" {
				t.Errorf("partition %+v, kadm says leader %d replicas %v isr %v end %d", p, pd.Leader, pd.Replicas, pd.ISR, end.Offset)
			}
		}
		if d.Partitions[0].EndOffset != 3 {
			t.Errorf("partition 0 ends at %d, want 3", d.Partitions[0].EndOffset)
		}
		i := slices.IndexFunc(d.Configs, func(c topicConfig) bool { return c.Name == "retention.ms" })
		if i < 0 || d.Configs[i] != (topicConfig{Name: "retention.ms", Value: "3600000", Source: "DYNAMIC_TOPIC_CONFIG"}) {
			t.Errorf("configs = %+v, want retention.ms=3600000 set on the topic", d.Configs)
		}
		for _, c := range d.Configs {
			if c.Source == "DEFAULT_CONFIG" {
				t.Errorf("config %+v is a default", c)
			}
		}

		failCLI(t, "does not exist", "topics", "describe", name+".missing")
	})
}

func TestTopicsCreateSeveral(t *testing.T) {
	existing := kbustest.Topic(t, 1)
	fresh := newTopicName(t)

	// One topic exists: the other is still created, and the command fails.
	msg := failCLI(t, "already exists", "topics", "create", fresh, existing, "--partitions", "1", "--replication-factor", "1")
	if !strings.Contains(msg, existing) || strings.Contains(msg, fresh) {
		t.Errorf("error %q should name %s only", msg, existing)
	}
	var list []topicSummary
	decodeJSON(t, mustCLI(t, "topics", "create", fresh, existing, "--if-not-exists", "-o", "json"), &list)
	want := []topicSummary{
		{Name: fresh, Partitions: 1, ReplicationFactor: 1, Status: "exists"},
		{Name: existing, Partitions: 1, ReplicationFactor: 1, Status: "exists"},
	}
	if !slices.Equal(list, want) {
		t.Errorf("create --if-not-exists = %+v, want %+v", list, want)
	}
}

func TestTopicsCreateBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--partitions", "0"}, "--partitions"},
		{[]string{"--replication-factor", "0"}, "--replication-factor"},
		{[]string{"--config", "retention.ms"}, "key=value"},
		{[]string{"--config", "a=1", "--config", "a=2"}, "set twice"},
		{[]string{"--config", "no.such.config=1"}, "no.such.config"},
	} {
		name := newTopicName(t)
		failCLI(t, tc.want, append([]string{"topics", "create", name}, tc.args...)...)
	}
	failCLI(t, "requires at least 1 arg", "topics", "create")
	failCLI(t, `unknown command "delete"`, "topics", "delete", "x")
}

// containsRow reports whether a line of a table holds the fields want, in
// order and adjacent.
func containsRow(table string, want ...string) bool {
	for line := range strings.Lines(table) {
		fields := strings.Fields(line)
		for i := 0; i+len(want) <= len(fields); i++ {
			if slices.Equal(fields[i:i+len(want)], want) {
				return true
			}
		}
	}
	return false
}
