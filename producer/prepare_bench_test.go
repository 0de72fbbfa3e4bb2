package producer_test

import (
	"context"
	"testing"

	"github.com/kbus-dev/kbus/producer"
)

// BenchmarkPrepare is the CPU-only part of a publish, without the broker:
// building, validating and encoding the envelope of benchData and its
// headers (Producer.Prepare), with and without the check of the data
// against its schema. It is the steady signal behind BenchmarkPublish's
// one-goroutine rows, which move with the machine's load.
func BenchmarkPrepare(b *testing.B) {
	data := benchData()
	const topic = "bench.prepare"
	for _, v := range []struct {
		name string
		opts []producer.Option
	}{{"skip-schema", []producer.Option{producer.SkipSchemaValidation()}}, {"schema-validated", nil}} {
		b.Run(v.name, func(b *testing.B) {
			opts := append(v.opts, producer.Name("bench"), producer.Schemas(benchCatalog(b, topic)))
			p, err := producer.New(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, _, err := p.Prepare(ctx, topic, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
