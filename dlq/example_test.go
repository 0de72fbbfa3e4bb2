package dlq_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
)

// The examples run against kfake, franz-go's in-process Kafka, so that they
// run anywhere; the package's tests use a real broker.

// A consumer dead-letters a record it could not decode, and the DLQ is read
// back, as `kbus dlq list` does.
func Example() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The record the "ledger" group failed on: not an envelope at all.
	failed := &kgo.Record{
		Topic: "payment.completed", Partition: 2, Offset: 1041,
		Key:     []byte("pay_x7k9"),
		Value:   []byte("\xffnot json"),
		Headers: []kgo.RecordHeader{{Key: envelope.HeaderMessageID, Value: []byte("msg_01HM6AQH5VX7K9PAYM3NTQ8RSW")}},
	}
	e := dlq.NewEntry(failed, "ledger", dlq.ReasonDecodeError, "") // the id comes from the header
	e.LastError = "envelope: malformed: invalid character"

	// The Writer creates dlq.ledger on its first write.
	w := dlq.NewWriter(cl)
	if err := w.Write(ctx, e); err != nil {
		panic(err)
	}

	err = dlq.Read(ctx, cl, "ledger", func(e dlq.Entry, rec *kgo.Record, err error) error {
		if err != nil {
			return err
		}
		fmt.Println("dlq record:", rec.Topic, "key", string(rec.Key))
		fmt.Println("entry:", e.OriginalMessageID, e.FailureReason, e.Topic, e.Partition, e.Offset)
		fmt.Printf("original value: %q, embedded as JSON: %v\n", e.Value, e.OriginalPayload != nil)

		// Replay it to the ledger group only.
		r := e.Replay("", time.Date(2024, 1, 16, 9, 0, 0, 0, time.UTC))
		g, _ := dlq.ReplayTarget(r.Headers)
		fmt.Println("replay:", r.Topic, string(r.Key), "for", g, "count", dlq.ReplayCount(r.Headers))
		return nil
	})
	if err != nil {
		panic(err)
	}

	err = dlq.Read(ctx, cl, "billing", func(dlq.Entry, *kgo.Record, error) error { return nil })
	fmt.Println("billing:", errors.Is(err, dlq.ErrNoTopic))
	// Output:
	// dlq record: dlq.ledger key msg_01HM6AQH5VX7K9PAYM3NTQ8RSW
	// entry: msg_01HM6AQH5VX7K9PAYM3NTQ8RSW decode_error payment.completed 2 1041
	// original value: "\xffnot json", embedded as JSON: false
	// replay: payment.completed pay_x7k9 for ledger count 1
	// billing: true
}

func ExampleEntry_Replay() {
	e := dlq.Entry{
		Topic: "payment.completed", ConsumerGroup: "ledger",
		Key:   []byte("pay_x7k9"),
		Value: []byte(`{"message_id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW"}`),
		Headers: []envelope.Header{
			{Key: envelope.HeaderMessageID, Value: []byte("msg_01HM6AQH5VX7K9PAYM3NTQ8RSW")},
			{Key: dlq.HeaderReplayCount, Value: []byte("1")}, // it was replayed once already
		},
	}
	r := e.Replay("", time.Date(2024, 1, 16, 9, 0, 0, 0, time.UTC))
	for _, h := range r.Headers {
		fmt.Printf("%s: %s\n", h.Key, h.Value)
	}
	// Output:
	// kbus-message-id: msg_01HM6AQH5VX7K9PAYM3NTQ8RSW
	// kbus-replay-group: ledger
	// kbus-replay-count: 2
	// kbus-replayed-at: 2024-01-16T09:00:00Z
}
