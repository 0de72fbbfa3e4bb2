package outbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/producer/outbox"
)

// BenchmarkOutbox measures the outbox end to end: b.N payment events
// enqueued in transactions of 100 (one INSERT per event, as a service would)
// while the relay publishes them, the clock stopping when the last one is
// acknowledged and deleted. The baseline, in the same run, publishes the same
// events directly with PublishAsync and waits for every acknowledgement:
// the ratio is what the atomicity costs.
//
//	go test ./producer/outbox -run '^$' -bench BenchmarkOutbox -benchtime 20000x
func BenchmarkOutbox(b *testing.B) {
	b.Run("outbox", func(b *testing.B) {
		w := newWorld(b, 3)
		ob, err := outbox.New(outbox.Config{Producer: w.p, DB: w.db.Pool, PollInterval: 50 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = ob.Run(ctx) }()
		for !ob.Stats().Leader {
			time.Sleep(10 * time.Millisecond)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i += 100 {
			tx, err := w.db.Pool.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for j := i; j < min(i+100, b.N); j++ {
				key := fmt.Sprintf("pay_%d", j%64)
				if _, err := ob.Enqueue(ctx, tx, w.topic, key, payment(key, j)); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
		for ob.Stats().Relayed < int64(b.N) {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("publish", func(b *testing.B) {
		w := newWorld(b, 3)
		ctx := context.Background()
		failed := 0
		b.ResetTimer()
		for j := 0; j < b.N; j++ {
			key := fmt.Sprintf("pay_%d", j%64)
			w.p.PublishAsync(ctx, w.topic, key, payment(key, j), func(_ producer.Receipt, err error) {
				if err != nil {
					failed++
				}
			})
		}
		if err := w.p.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if failed > 0 {
			b.Fatalf("%d publishes failed", failed)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
