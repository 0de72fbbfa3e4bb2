package producer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/schemas"
)

// The examples run against kfake, franz-go's in-process Kafka, so that they
// run anywhere; the package's tests use a real broker.
func fakeCluster(topics ...string) *kfake.Cluster {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		panic(err)
	}
	return c
}

func ExampleProducer_Publish() {
	cluster := fakeCluster("payment.completed")
	defer cluster.Close()

	p, err := producer.New(producer.Brokers(cluster.ListenAddrs()...), producer.Name("payment-service"))
	if err != nil {
		panic(err)
	}
	defer p.Close()

	// A correlation id from the incoming request travels with the event.
	ctx := envelope.WithCorrelationID(context.Background(), "req_abc123")
	data := []byte(`{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc"}`)
	rcpt, err := p.Publish(ctx, "payment.completed", "pay_x7k9", data)
	if err != nil {
		panic(err)
	}
	fmt.Println("id:", strings.HasPrefix(rcpt.MessageID, "msg_"), "offset:", rcpt.Offset)

	// Any Kafka client reads it back: the value is the JSON envelope.
	cl, _ := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("payment.completed"))
	defer cl.Close()
	rec := cl.PollFetches(ctx).Records()[0]
	e, _ := envelope.Unmarshal(rec.Value)
	fmt.Println("key:", string(rec.Key))
	fmt.Println("producer:", e.Producer)
	fmt.Println("data:", string(e.Data))
	fmt.Println("correlation id:", e.Metadata.CorrelationID)
	// Output:
	// id: true offset: 0
	// key: pay_x7k9
	// producer: payment-service
	// data: {"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc"}
	// correlation id: req_abc123
}

func ExampleProducer_PublishAsync() {
	cluster := fakeCluster("refund.created")
	defer cluster.Close()
	p, err := producer.New(producer.Brokers(cluster.ListenAddrs()...), producer.Name("payment-service"))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	ctx := context.Background()

	failed := 0
	for i := range 100 {
		data := fmt.Appendf(nil, `{"refund_id":"ref_%d","payment_id":"pay_%d","amount":100,"currency":"USD","merchant_id":"merch_abc"}`, i, i%10)
		p.PublishAsync(ctx, "refund.created", fmt.Sprintf("pay_%d", i%10), data, func(r producer.Receipt, err error) {
			if err != nil { // called from the client's goroutine, one at a time
				failed++
			}
		})
	}
	// Wait until every event is acknowledged or failed.
	if err := p.Flush(ctx); err != nil {
		panic(err)
	}
	fmt.Println("failed:", failed)
	// Output: failed: 0
}

func ExampleProducer_Publish_invalid() {
	p, err := producer.New(producer.Brokers("127.0.0.1:9092"))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	// Refused before anything is sent: no broker is contacted.
	_, err = p.Publish(context.Background(), "payment.completed", "pay_1", []byte(`{"amount":`))
	fmt.Println(err)
	// Output: producer: envelope: data: data is not valid JSON
}

// Every event's data is checked against the schema catalog before it is
// sent: a payment without its amount never reaches the broker.
func ExampleSchemas() {
	p, err := producer.New(producer.Brokers("127.0.0.1:9092")) // schemas.Default() unless told otherwise
	if err != nil {
		panic(err)
	}
	defer p.Close()
	_, err = p.Publish(context.Background(), "payment.completed", "pay_1",
		[]byte(`{"payment_id":"pay_1","amount":"49.99","currency":"USD","merchant_id":"merch_abc"}`))
	var ve *schemas.ValidationError
	if errors.As(err, &ve) {
		fmt.Println("refused, field:", ve.Field)
	}
	fmt.Println(err)
	// Output:
	// refused, field: amount
	// producer: schemas: payment.completed 1.0: field amount: expected long (an integer), got string
}

// Events on Avro topics travel as Avro binary; the caller still passes JSON,
// and consumers get JSON back.
func ExampleAvroTopics() {
	cluster := fakeCluster("payment.completed")
	defer cluster.Close()
	p, err := producer.New(producer.Brokers(cluster.ListenAddrs()...), producer.AvroTopics("payment.completed"))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	ctx := context.Background()
	data := []byte(`{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc"}`)
	if _, err := p.Publish(ctx, "payment.completed", "pay_x7k9", data, producer.SchemaVersion("1.1")); err != nil {
		panic(err)
	}

	cl, _ := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("payment.completed"))
	defer cl.Close()
	e, _ := envelope.Unmarshal(cl.PollFetches(ctx).Records()[0].Value)
	fmt.Println(e.Metadata.ContentType, e.Metadata.SchemaVersion, len(e.Data), "bytes of base64 data")

	reg, _ := schemas.Default()
	e, _ = reg.DecodeEnvelope(e, "")
	fmt.Println(string(e.Data))
	// Output:
	// application/avro 1.1 42 bytes of base64 data
	// {"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc","order_id":null,"customer_email":null,"metadata":{},"fee_amount":0,"captured_at":null}
}

func ExampleProducer_EnsureTopics() {
	cluster := fakeCluster()
	defer cluster.Close()
	p, err := producer.New(producer.Brokers(cluster.ListenAddrs()...))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	err = p.EnsureTopics(context.Background(),
		producer.TopicSpec{Name: "payment.completed", Partitions: 6, ReplicationFactor: 1},
		producer.TopicSpec{Name: "payment.failed", Partitions: 6, ReplicationFactor: 1},
	)
	fmt.Println("created:", err == nil)
	// Output: created: true
}
