package consumer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
)

// benchTopic publishes n payment events (distinct payment ids) to a fresh
// 4-partition topic, before the clock starts.
func benchTopic(b *testing.B, n int) string {
	b.Helper()
	topic := kbustest.Topic(b, 4)
	publishBacklog(b, topic, n)
	return topic
}

const upsertPayment = `INSERT INTO bench_payments (payment_id, amount) VALUES ($1, $2)
ON CONFLICT (payment_id) DO UPDATE SET amount = EXCLUDED.amount`

type benchPayment struct {
	PaymentID string `json:"payment_id"`
	Amount    int64  `json:"amount"`
}

// BenchmarkConsumeDedup consumes b.N payment events from a 4-partition topic
// and compares, in one run:
//
//   - franz-go: a raw franz-go group consumer that only counts records (no
//     database, no decoding): the ceiling;
//   - kbus-batch-tx: kbus in Transactional mode, one handler upsert per
//     event, up to 500 events of a partition per transaction;
//   - kbus-tx-per-event: the same with MaxBatch 1, one transaction per event;
//   - kbus-batch-handler: HandleBatchTx, one multi-row upsert per batch.
//
// Run it with a fixed count so that every variant handles the same events:
//
//	go test ./consumer -run '^$' -bench BenchmarkConsumeDedup -benchtime 20000x
func BenchmarkConsumeDedup(b *testing.B) {
	brokers := kbustest.Brokers(b)

	b.Run("franz-go", func(b *testing.B) {
		topic := benchTopic(b, b.N)
		cl := kbustest.Client(b, kgo.ConsumerGroup(kbustest.Name(b, "bench.")), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
		ctx := context.Background()
		b.ResetTimer()
		n := 0
		for n < b.N {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				b.Fatal(err)
			}
			n += fs.NumRecords()
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})

	run := func(b *testing.B, maxBatch int, register func(c *consumer.Consumer, topic string)) {
		topic := benchTopic(b, b.N)
		db := kbustest.DB(b)
		if _, err := db.Pool.Exec(context.Background(),
			`CREATE TABLE bench_payments (payment_id text PRIMARY KEY, amount bigint NOT NULL)`); err != nil {
			b.Fatal(err)
		}
		c, err := consumer.New(consumer.Config{Brokers: brokers, Group: kbustest.Name(b, "bench."), Topics: []string{topic},
			DB: db.Pool, MaxBatch: maxBatch})
		if err != nil {
			b.Fatal(err)
		}
		register(c, topic)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.ResetTimer()
		go func() { done <- c.Run(ctx) }()
		for c.Stats().Processed < int64(b.N) {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if s := c.Stats(); s.Processed != int64(b.N) || s.DeadLettered != 0 {
			b.Fatalf("stats %+v", s)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	upsertOne := func(c *consumer.Consumer, topic string) {
		c.HandleTx(topic, func(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
			var p benchPayment
			if err := json.Unmarshal(e.Data, &p); err != nil {
				return consumer.Permanent(err)
			}
			_, err := tx.Exec(ctx, upsertPayment, p.PaymentID, p.Amount)
			return err
		})
	}
	b.Run("kbus-batch-tx", func(b *testing.B) { run(b, 500, upsertOne) })
	b.Run("kbus-tx-per-event", func(b *testing.B) { run(b, 1, upsertOne) })
	b.Run("kbus-batch-handler", func(b *testing.B) {
		run(b, 500, func(c *consumer.Consumer, topic string) {
			c.HandleBatchTx(topic, func(ctx context.Context, tx pgx.Tx, events []envelope.Envelope) error {
				ids := make([]string, len(events))
				amounts := make([]int64, len(events))
				for i, e := range events {
					var p benchPayment
					if err := json.Unmarshal(e.Data, &p); err != nil {
						return consumer.Permanent(err)
					}
					ids[i], amounts[i] = p.PaymentID, p.Amount
				}
				_, err := tx.Exec(ctx, `INSERT INTO bench_payments (payment_id, amount)
					SELECT * FROM unnest($1::text[], $2::bigint[])
					ON CONFLICT (payment_id) DO UPDATE SET amount = EXCLUDED.amount`, ids, amounts)
				return err
			})
		})
	})
}
