package dlq_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
)

// A first tracked replay works on a cluster that answers a progress group
// that does not exist yet with GROUP_ID_NOT_FOUND (kfake does; Kafka
// answers with no offsets), as the embedded demo runs it.
func TestReplayProgressOnKfake(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "payment.completed"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	failed := &kgo.Record{Topic: "payment.completed", Key: []byte("pay_1"), Value: []byte(`{}`),
		Headers: []kgo.RecordHeader{{Key: envelope.HeaderMessageID, Value: []byte("msg_01HM6AQH5VX7K9PAYM3NTQ8RSW")}}}
	if err := dlq.NewWriter(cl).Write(ctx, dlq.NewEntry(failed, "ledger", dlq.ReasonPermanent, "no such order")); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 0} { // the second run finds the progress of the first
		sum, err := dlq.ReplayEntries(ctx, cl, dlq.ReplayOptions{Group: "ledger", Progress: "all"})
		if err != nil {
			t.Fatalf("replay %d: %v", i+1, err)
		}
		if sum.Replayed != want {
			t.Errorf("replay %d: replayed %d, want %d", i+1, sum.Replayed, want)
		}
	}
}
