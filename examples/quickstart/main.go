// Command quickstart is the smallest kbus program: it publishes sample
// payment.completed events through the kbus producer onto a real Kafka
// broker, reads them back with a plain franz-go consumer, and prints each
// envelope. It exits non-zero if any event is missing or altered. The whole
// story (consumers, DLQ, webhooks, SSE) is examples/demo, run by `make demo`.
//
//	KAFKA_BROKERS=127.0.0.1:9092 DATABASE_URL=postgres://... go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/internal/migrations"
	"github.com/kbus-dev/kbus/producer"
)

const topic = "payment.completed"

type payment struct {
	PaymentID  string `json:"payment_id"`
	Amount     int64  `json:"amount"`
	Currency   string `json:"currency"`
	MerchantID string `json:"merchant_id"`
	OrderID    string `json:"order_id"`
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context) error {
	brokers := strings.Split(env("KAFKA_BROKERS", "127.0.0.1:9092"), ",")
	dbURL := env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable")

	// 1. The database: kbus applies its own migrations.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	if err := migrations.Apply(ctx, conn, ""); err != nil {
		return err
	}
	latest, _ := migrations.Latest()
	fmt.Printf("✓ PostgreSQL ready, kbus schema at migration %d\n", latest)

	// 2. The producer, and the topic (one per event type).
	p, err := producer.New(producer.Brokers(brokers...), producer.Name("payment-service"))
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Ping(ctx); err != nil {
		return err
	}
	if err := p.EnsureTopics(ctx, producer.TopicSpec{Name: topic, Partitions: 3, ReplicationFactor: 1}); err != nil {
		return err
	}
	fmt.Printf("✓ Kafka ready at %s, topic %s (3 partitions)\n\n", strings.Join(brokers, ","), topic)

	// 3. Publish: each payment keyed by its id, each with the correlation id
	// of the API request that caused it.
	payments := []payment{
		{"pay_x7k9", 4999, "USD", "merch_abc", "ord_1001"},
		{"pay_m2q4", 1250, "EUR", "merch_abc", "ord_1002"},
		{"pay_b8n1", 89900, "USD", "merch_xyz", "ord_1003"},
		{"pay_r5t7", 300, "GBP", "merch_xyz", "ord_1004"},
		{"pay_k3w6", 15000, "USD", "merch_abc", "ord_1005"},
	}
	fmt.Println("Publishing (Publish waits for acks=all):")
	sent := map[string]producer.Receipt{}
	start := map[int32]int64{}
	for i, pay := range payments {
		data, _ := json.Marshal(pay)
		reqCtx := envelope.WithCorrelationID(ctx, fmt.Sprintf("req_%03d", i+1))
		r, err := p.Publish(reqCtx, topic, pay.PaymentID, data)
		if err != nil {
			return err
		}
		sent[r.MessageID] = r
		if off, ok := start[r.Partition]; !ok || r.Offset < off {
			start[r.Partition] = r.Offset
		}
		fmt.Printf("  → %s  key=%s  partition=%d offset=%d\n", r.MessageID, pay.PaymentID, r.Partition, r.Offset)
	}

	// 4. Consume them back with a plain franz-go consumer, from the offsets
	// just written: the envelope and its headers arrive intact.
	offsets := map[int32]kgo.Offset{}
	for part, off := range start {
		offsets[part] = kgo.NewOffset().At(off)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		return err
	}
	defer cl.Close()

	fmt.Println("\nConsuming:")
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  PARTITION\tMESSAGE ID\tCORRELATION\tAMOUNT\tMERCHANT\tHEADERS")
	got := 0
	for got < len(sent) {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("consume: %w (read %d of %d)", err, got, len(sent))
		}
		for _, rec := range fs.Records() {
			e, err := envelope.Unmarshal(rec.Value)
			if err != nil {
				return fmt.Errorf("partition %d offset %d: %w", rec.Partition, rec.Offset, err)
			}
			if _, ok := sent[e.MessageID]; !ok {
				continue // an event from another run sharing these partitions
			}
			var pay payment
			if err := json.Unmarshal(e.Data, &pay); err != nil {
				return err
			}
			hs := make([]envelope.Header, len(rec.Headers))
			for i, h := range rec.Headers {
				hs[i] = envelope.Header(h)
			}
			if envelope.ParseHeaders(hs).MessageID != e.MessageID {
				return errors.New("headers do not mirror the envelope")
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%d %s\t%s\t%d\n", rec.Partition, e.MessageID,
				e.Metadata.CorrelationID, pay.Amount, pay.Currency, pay.MerchantID, len(rec.Headers))
			got++
		}
	}
	tw.Flush()
	fmt.Printf("\n✓ %d events published and consumed, every envelope and header intact\n", got)
	return nil
}
