package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/webhook"
)

const benchWorkers = 16

// BenchmarkDispatch measures deliveries per second to a local receiver that
// answers 200 at once, and, as the baseline in the same run, the same number
// of plain signed POSTs of the same body from one Go http.Client with the
// same concurrency (16).
//
//   - kbus: a Dispatcher claiming due deliveries from PostgreSQL (FOR UPDATE
//     SKIP LOCKED, leases), signing and POSTing them, and logging every
//     attempt and outcome in the database;
//
//   - http-client: the POSTs alone, nothing claimed or logged.
//
//     go test ./webhook -run '^$' -bench BenchmarkDispatch -benchtime 5000x
func BenchmarkDispatch(b *testing.B) {
	var received atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
	}))
	defer rcv.Close()
	body := []byte(`{"id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","type":"payment.completed","created_at":"2024-01-15T10:30:00.123Z",` +
		`"data":{"payment_id":"pay_x7k9","amount":4999,"currency":"USD","merchant_id":"merch_abc","order_id":"ord_1001"}}`)
	secret, _ := webhook.NewSecret()

	b.Run("kbus", func(b *testing.B) {
		db := kbustest.DB(b)
		ctx := context.Background()
		keys := apikey.NewStore(db.Pool)
		_, key, err := keys.Create(ctx, "merch_abc", "bench", false)
		if err != nil {
			b.Fatal(err)
		}
		api, err := webhook.NewAPI(webhook.APIConfig{DB: db.Pool, Keys: keys, EventTypes: []string{"payment.completed"}, AllowHTTPHosts: []string{"127.0.0.1"},
			AllowNetworks: webhook.AllowLoopback()})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(api)
		defer srv.Close()
		req, _ := http.NewRequest("POST", srv.URL+"/webhooks", bytes.NewReader(fmt.Appendf(nil,
			`{"url":%q,"events":["payment.completed"],"secret":%q}`, rcv.URL, secret)))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			b.Fatalf("register: %v %v", resp, err)
		}
		resp.Body.Close()
		// b.N due deliveries, as the fan-out would have inserted them.
		if _, err := db.Pool.Exec(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, tenant_id, message_id, event_type)
			SELECT 'dlv_' || i, (SELECT id FROM webhook_endpoints), 'merch_abc', 'msg_' || i, 'payment.completed'
			FROM generate_series(1, $1) AS i`, b.N); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Pool.Exec(ctx, `INSERT INTO webhook_delivery_bodies (delivery_id, payload, source_topic, source_partition, source_offset, source_value)
			SELECT 'dlv_' || i, $1, 'payment.completed', 0, i, $1 FROM generate_series(1, $2) AS i`, body, b.N); err != nil {
			b.Fatal(err)
		}
		d, err := webhook.NewDispatcher(webhook.DispatcherConfig{DB: db.Pool, Kafka: kbustest.Client(b), Workers: benchWorkers,
			BatchSize: 128, AllowNetworks: webhook.AllowLoopback()})
		if err != nil {
			b.Fatal(err)
		}
		before := received.Load()
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		b.ResetTimer()
		go func() { done <- d.Run(runCtx) }()
		for d.Stats().Succeeded < int64(b.N) {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cancel()
		<-done
		var logged int
		_ = db.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_attempts WHERE success`).Scan(&logged)
		if got := received.Load() - before; got != int64(b.N) || logged != b.N {
			b.Fatalf("received %d, logged %d, want %d", got, logged, b.N)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	})

	b.Run("http-client", func(b *testing.B) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers}}
		var next atomic.Int64
		before := received.Load()
		b.ResetTimer()
		var wg sync.WaitGroup
		for range benchWorkers {
			wg.Go(func() {
				for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
					req, _ := http.NewRequest("POST", rcv.URL, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					webhook.SetHeaders(req.Header, fmt.Sprint("msg_", i), time.Now().Unix(), body, []string{secret}, false)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		if got := received.Load() - before; got != int64(b.N) {
			b.Fatalf("received %d, want %d", got, b.N)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	})
}
