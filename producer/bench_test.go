package producer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/schemas"
)

// benchData is a 1 KiB JSON payload: a payment event padded to 1024 bytes
// with random upper-case letters, as Apache Kafka's ProducerPerformance fills
// its payloads (so that compression has no unrealistically easy input).
func benchData() []byte {
	head := `{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc","note":"`
	tail := `"}`
	rng := rand.New(rand.NewPCG(1, 2))
	pad := make([]byte, 1024-len(head)-len(tail))
	for i := range pad {
		pad[i] = byte('A' + rng.IntN(26))
	}
	return []byte(head + string(pad) + tail)
}

// BenchmarkPublish publishes 1 KiB payloads through kbus and, as the baseline
// in the same run, the very same record bytes (the encoded envelope and its
// headers) through a raw franz-go client with the same settings. Both produce
// asynchronously and wait for every acknowledgement (acks=all, idempotent)
// before the clock stops. Run a fixed count so that the two, and Apache
// Kafka's Java ProducerPerformance in scripts/bench.sh, send the same number
// of records:
//
//	go test ./producer -run '^$' -bench BenchmarkPublish -benchtime 200000x
//
// Each sub-benchmark reports records/s; the ratio kbus/franz-go is the figure
// that matters (see BENCHMARKS.md). The plain variants publish from one
// goroutine, so kbus's per-event work (building, validating and encoding the
// envelope) is on the critical path; the -parallel variants publish from four
// goroutines; the -sync64 variants make 64 goroutines each wait for every
// acknowledgement (Publish, ProduceSync), as request handlers do.
func BenchmarkPublish(b *testing.B) {
	brokers := kbustest.Brokers(b)
	data := benchData()
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("pay_%d", i)
	}

	// The size of the record value kbus produces for data, for
	// scripts/bench.sh (the Java client's --record-size).
	if path := os.Getenv("KBUS_BENCH_RECORD_SIZE_FILE"); path != "" {
		e := envelope.New(context.Background(), "payment.completed", data)
		e.Producer = "bench"
		value, err := envelope.Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		_ = os.WriteFile(path, []byte(fmt.Sprint(len(value))), 0o644)
	}

	for _, mode := range []struct {
		name      string
		publisher int  // goroutines publishing; 0 means the calling goroutine alone
		sync      bool // each call waits for its acknowledgement (Publish, ProduceSync)
	}{{"", 0, false}, {"-parallel", 4, false}, {"-sync64", 64, true}} {
		b.Run("kbus"+mode.name, func(b *testing.B) {
			benchKbus(b, brokers, data, keys, mode.publisher, mode.sync, producer.SkipSchemaValidation())
		})
		if mode.name == "" {
			// The same with data checked against a schema at publish, the
			// default outside benchmarks: its cost per event.
			b.Run("kbus-validated", func(b *testing.B) {
				benchKbus(b, brokers, data, keys, 0, false)
			})
		}

		b.Run("franz-go"+mode.name, func(b *testing.B) {
			topic := kbustest.Topic(b, 3)
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx := context.Background()
			if err := cl.Ping(ctx); err != nil {
				b.Fatal(err)
			}
			// The same bytes kbus sends: one distinct envelope (its own id and
			// time) per record, with its headers, encoded before the clock starts.
			recs := make([]*kgo.Record, b.N)
			for i := range recs {
				e := envelope.New(ctx, topic, data)
				e.Producer = "bench"
				value, err := envelope.Marshal(e)
				if err != nil {
					b.Fatal(err)
				}
				var hs []kgo.RecordHeader
				for _, h := range e.Headers() {
					hs = append(hs, kgo.RecordHeader(h))
				}
				recs[i] = &kgo.Record{Topic: topic, Key: []byte(keys[i%len(keys)]), Value: value, Headers: hs}
			}
			var failed atomic.Int64
			done := func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
			}
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			if mode.sync {
				loop(b, mode.publisher, func(i int) { done(recs[i], cl.ProduceSync(ctx, recs[i]).FirstErr()) })
			} else {
				loop(b, mode.publisher, func(i int) { cl.Produce(ctx, recs[i], done) })
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d produces failed", n)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// loop calls f(i) for i in [0, b.N), from the calling goroutine when
// goroutines is 0, else from that many goroutines sharing the work.
func loop(b *testing.B, goroutines int, f func(i int)) {
	if goroutines == 0 {
		for i := 0; i < b.N; i++ {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < b.N; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// benchKbus is one kbus sub-benchmark of BenchmarkPublish.
func benchKbus(b *testing.B, brokers []string, data []byte, keys []string, publisher int, waitEach bool, opts ...producer.Option) {
	topic := kbustest.Topic(b, 3)
	opts = append(opts, producer.Brokers(brokers...), producer.Name("bench"), producer.Schemas(benchCatalog(b, topic)))
	p, err := producer.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if err := p.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	var failed atomic.Int64
	done := func(_ producer.Receipt, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	if waitEach {
		loop(b, publisher, func(i int) { _, err := p.Publish(ctx, topic, keys[i%len(keys)], data); done(producer.Receipt{}, err) })
	} else {
		loop(b, publisher, func(i int) { p.PublishAsync(ctx, topic, keys[i%len(keys)], data, done) })
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d publishes failed", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// benchCatalog is a schema catalog in which topic has the schema of
// benchData: payment.completed 1.0's required fields and the padding.
func benchCatalog(b *testing.B, topic string) *schemas.Registry {
	const schema = `{"type":"record","name":"PaymentCompleted","namespace":"kbus.bench","fields":[
		{"name":"payment_id","type":"string"},{"name":"amount","type":"long"},{"name":"currency","type":"string"},
		{"name":"merchant_id","type":"string"},{"name":"note","type":"string"}]}`
	reg, err := schemas.Load(fstest.MapFS{topic + "/1.0.avsc": {Data: []byte(schema)}})
	if err != nil {
		b.Fatal(err)
	}
	return reg
}
