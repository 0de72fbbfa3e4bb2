package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/webhook"
)

const benchWorkers = 16

// BenchmarkDispatch measures deliveries per second to a local receiver that
// answers 200 at once, and, as peers in the same run, the same number of
// POSTs of the same body to the same receiver with the same concurrency (16):
//
//   - kbus: a Dispatcher claiming due deliveries from PostgreSQL (FOR UPDATE
//     SKIP LOCKED, leases), signing and POSTing them, and logging every
//     attempt and outcome in the database; the clock stops when the
//     dispatcher has stopped and every attempt is recorded;
//
//   - http-client: the POSTs alone, nothing claimed or logged;
//
//   - hand-rolled: what a team would write instead of kbus: 16 goroutines
//     taking deliveries from a channel, signing them with Sign, POSTing them
//     with one keep-alive http.Client, retrying failures with exponential
//     backoff, and inserting one attempt row per POST into a PostgreSQL table.
//     It reports kbus/hand-rolled, the kbus rate of the same repetition over
//     its own.
//
// The kbus and hand-rolled variants use pools built like kbustest.DB's
// (pgxpool defaults; for hand-rolled, one connection per worker) with a
// tracer that counts database round trips (statements, batches, BEGIN and
// COMMIT, and the pool's liveness pings), and report db-round-trips/delivery.
//
//	go test ./webhook -run '^$' -bench BenchmarkDispatch -benchtime 5000x
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
	var kbusRate float64 // deliveries/s of the last kbus run, for kbus/hand-rolled

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
		trips := &roundTrips{}
		pool := countingPool(b, db.URL, trips, 0)
		d, err := webhook.NewDispatcher(webhook.DispatcherConfig{DB: pool, Kafka: kbustest.Client(b), Workers: benchWorkers,
			BatchSize: 128, AllowNetworks: webhook.AllowLoopback()})
		if err != nil {
			b.Fatal(err)
		}
		before := received.Load()
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		trips.n.Store(0)
		b.ResetTimer()
		go func() { done <- d.Run(runCtx) }()
		for d.Stats().Succeeded < int64(b.N) {
			time.Sleep(time.Millisecond)
		}
		// Run returns once the attempts in flight are recorded.
		cancel()
		<-done
		b.StopTimer()
		dbTrips := trips.n.Load()
		var logged int
		_ = db.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_attempts WHERE success`).Scan(&logged)
		if got := received.Load() - before; got != int64(b.N) || logged != b.N {
			b.Fatalf("received %d, logged %d, want %d", got, logged, b.N)
		}
		kbusRate = float64(b.N) / b.Elapsed().Seconds()
		b.ReportMetric(kbusRate, "deliveries/s")
		b.ReportMetric(float64(dbTrips)/float64(b.N), "db-round-trips/delivery")
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

	b.Run("hand-rolled", func(b *testing.B) {
		db := kbustest.DB(b)
		ctx := context.Background()
		// One connection per worker, as a team would size it: with pgxpool's
		// default (4 on this class of machine) the workers queue for the pool.
		trips := &roundTrips{}
		pool := countingPool(b, db.URL, trips, benchWorkers)
		if _, err := pool.Exec(ctx, `CREATE TABLE bench_webhook_attempts (
			id bigserial PRIMARY KEY,
			delivery_id text NOT NULL,
			attempt int NOT NULL,
			attempted_at timestamptz NOT NULL,
			duration_ms int NOT NULL,
			response_status int,
			success boolean NOT NULL,
			error text)`); err != nil {
			b.Fatal(err)
		}
		h := &handRolled{
			db:      pool,
			client:  &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers}},
			url:     rcv.URL,
			secret:  secret,
			retries: 5,
			backoff: 100 * time.Millisecond,
		}
		deliveries := make(chan handRolledDelivery, b.N)
		for i := range b.N {
			deliveries <- handRolledDelivery{id: fmt.Sprint("msg_", i+1), body: body}
		}
		close(deliveries)
		before := received.Load()
		trips.n.Store(0)
		b.ResetTimer()
		var wg sync.WaitGroup
		for range benchWorkers {
			wg.Go(func() {
				for dlv := range deliveries {
					if err := h.deliver(ctx, dlv); err != nil {
						b.Error(err)
					}
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		dbTrips := trips.n.Load()
		var logged int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM bench_webhook_attempts WHERE success`).Scan(&logged); err != nil {
			b.Fatal(err)
		}
		if got := received.Load() - before; got != int64(b.N) || logged != b.N {
			b.Fatalf("received %d, logged %d, want %d", got, logged, b.N)
		}
		rate := float64(b.N) / b.Elapsed().Seconds()
		b.ReportMetric(rate, "deliveries/s")
		b.ReportMetric(float64(dbTrips)/float64(b.N), "db-round-trips/delivery")
		if kbusRate > 0 {
			b.ReportMetric(kbusRate/rate, "kbus/hand-rolled")
		}
	})
}

// handRolled is the webhook sender a team would write without kbus: sign,
// POST on a shared keep-alive client, log one attempt row per POST, retry
// with exponential backoff. It claims nothing and leases nothing: the
// deliveries come from memory.
type handRolled struct {
	db      *pgxpool.Pool
	client  *http.Client
	url     string
	secret  string
	retries int           // attempts per delivery
	backoff time.Duration // before the second attempt, doubled after each
}

type handRolledDelivery struct {
	id   string
	body []byte
}

// deliver makes up to h.retries attempts of dlv and logs each one.
func (h *handRolled) deliver(ctx context.Context, dlv handRolledDelivery) error {
	wait := h.backoff
	for attempt := 1; ; attempt++ {
		at := time.Now()
		status, err := h.post(ctx, dlv, at)
		ok := err == nil && status >= 200 && status < 300
		if logErr := h.log(ctx, dlv.id, attempt, at, status, err); logErr != nil {
			return logErr
		}
		switch {
		case ok:
			return nil
		case attempt == h.retries:
			return fmt.Errorf("delivery %s: gave up after %d attempts: status %d, %v", dlv.id, attempt, status, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// post makes one signed POST at and returns the response status.
func (h *handRolled) post(ctx context.Context, dlv handRolledDelivery, at time.Time) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(dlv.body))
	if err != nil {
		return 0, err
	}
	ts := at.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderID, dlv.id)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(h.secret, ts, dlv.body))
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body) // let the connection be reused
	resp.Body.Close()
	return resp.StatusCode, nil
}

// log inserts the attempt row of the POST made at.
func (h *handRolled) log(ctx context.Context, id string, attempt int, at time.Time, status int, postErr error) error {
	var errText *string
	if postErr != nil {
		s := postErr.Error()
		errText = &s
	}
	var st *int
	if status != 0 {
		st = &status
	}
	_, err := h.db.Exec(ctx, `INSERT INTO bench_webhook_attempts (delivery_id, attempt, attempted_at, duration_ms, response_status, success, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, attempt, at, time.Since(at).Milliseconds(), st, postErr == nil && status >= 200 && status < 300, errText)
	return err
}

// roundTrips counts the database round trips of a pool: statements (Exec,
// Query, QueryRow, BEGIN and COMMIT included), batches (one round trip each,
// however many statements they carry), COPYs, and the liveness pings pgxpool
// makes before handing out a connection idle for over a second. The
// preparation of a statement the first time a connection runs it is not
// counted.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (r *roundTrips) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// countingPool returns a pool on url configured as kbustest.DB's (pgxpool
// defaults) whose round trips trips counts, with at most maxConns
// connections if maxConns > 0. It is closed at cleanup.
func countingPool(tb testing.TB, url string, trips *roundTrips, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.Tracer = trips
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool {
		ping := p.IdleDuration > time.Second // pgxpool's default rule
		if ping {
			trips.n.Add(1)
		}
		return ping
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}
