package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/internal/migrations"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/producer/outbox"
)

const topic = "payment.completed"

type config struct {
	kbus, root, brokers, dbURL, dir, jsonOut string
	markdown                                 string
	about                                    stringList
	events, outboxEvents, partitions         int
	duration, faultEvery, drainTimeout       time.Duration
	tenants, hookTenants, publishers         int
	short                                    bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		if err := worker(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "kbus-soak worker:", err)
			os.Exit(1)
		}
		return
	}
	var c config
	flag.StringVar(&c.kbus, "kbus", "kbus", "the kbus binary (for kbus serve webhooks|sse)")
	flag.StringVar(&c.root, "root", ".", "the project's root (for scripts/kafka.sh and scripts/postgres.sh)")
	flag.StringVar(&c.brokers, "brokers", "127.0.0.1:29091,127.0.0.1:29092,127.0.0.1:29093", "the three-node cluster")
	flag.StringVar(&c.dbURL, "database-url", "postgres://postgres@127.0.0.1:5433/kbus_soak?sslmode=disable", "the soak's own PostgreSQL (its public schema is dropped)")
	flag.StringVar(&c.dir, "dir", ".soak/run", "where process logs go")
	flag.StringVar(&c.jsonOut, "json", "", "write the figures as JSON to this file")
	flag.StringVar(&c.markdown, "markdown", "", "write the figures into this Markdown file, between its kbus-soak markers (RELIABILITY.md)")
	flag.Var(&c.about, "about", "a line on the machine or the services for -markdown (repeatable)")
	flag.IntVar(&c.events, "events", 50000, "events published with producer.Publish")
	flag.IntVar(&c.outboxEvents, "outbox", 5000, "events published through the outbox")
	flag.IntVar(&c.partitions, "partitions", 12, "partitions of the topic")
	flag.IntVar(&c.tenants, "tenants", 8, "tenants (merchant_id values); each has an SSE client")
	flag.IntVar(&c.hookTenants, "webhook-tenants", 4, "tenants with a webhook endpoint")
	flag.IntVar(&c.publishers, "publishers", 8, "goroutines calling Publish")
	flag.DurationVar(&c.duration, "duration", 4*time.Minute, "how long publishing and faults last")
	flag.DurationVar(&c.faultEvery, "fault-every", 5*time.Second, "a process is killed this often")
	flag.DurationVar(&c.drainTimeout, "drain-timeout", 4*time.Minute, "how long to wait for the system to drain")
	flag.BoolVar(&c.short, "short", false, "CI's form: 3,000+500 events over 60 s, one fault of each kind")
	flag.Parse()
	if c.short {
		c.events, c.outboxEvents, c.duration = 3000, 500, 60*time.Second
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := run(ctx, c)
	if r != nil {
		r.print(os.Stdout)
		if c.jsonOut != "" {
			b, _ := json.MarshalIndent(r, "", "  ")
			_ = os.WriteFile(c.jsonOut, append(b, '\n'), 0o644)
		}
		if c.markdown != "" {
			if err := writeMarkdown(c.markdown, c, r, c.about); err != nil {
				fmt.Fprintln(os.Stderr, "kbus-soak: -markdown:", err)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kbus-soak:", err)
		os.Exit(1)
	}
	if !r.Passed {
		fmt.Fprintln(os.Stderr, "kbus-soak: FAILED: "+strings.Join(r.Failures, "; "))
		os.Exit(1)
	}
	fmt.Println("kbus-soak: PASSED")
}

// soak is one run's state.
type soak struct {
	c     config
	log   *slog.Logger
	pool  *pgxpool.Pool
	env   []string
	procs map[string]*proc

	mu       sync.Mutex
	acked    map[string]string // message id → tenant
	outboxed map[string]string
	poison   int
	faults   []fault
	lastTime time.Time // end of the last fault

	publishRetries atomic.Int64
	rv             *receiver
	clients        []*sseClient
}

type fault struct {
	At       string  `json:"at"`
	AtSec    float64 `json:"at_seconds"`
	Kind     string  `json:"kind"`
	Target   string  `json:"target"`
	Downtime float64 `json:"downtime_seconds"`
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, "; ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func tenantOf(i int, n int) string { return fmt.Sprintf("merch_%02d", i%n) }

func run(ctx context.Context, c config) (*report, error) {
	s := &soak{c: c, log: slog.New(slog.NewTextHandler(os.Stderr, nil)), procs: map[string]*proc{},
		acked: map[string]string{}, outboxed: map[string]string{}, rv: newReceiver()}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s.env = []string{"KAFKA_BROKERS=" + c.brokers, "DATABASE_URL=" + c.dbURL, "KBUS_KAFKA_NODES=3"}

	// Database: a clean schema, kbus's migrations, the effects table
	// (deliberately without a unique key: a doubled effect must show).
	pool, err := pgxpool.New(ctx, c.dbURL)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	s.pool = pool
	if _, err := pool.Exec(ctx, `DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public`); err != nil {
		return nil, fmt.Errorf("reset the soak database: %w", err)
	}
	if err := migrations.ApplyPool(ctx, pool); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE soak_effects (message_id text NOT NULL, worker text NOT NULL, at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, err
	}

	p, err := producer.New(producer.Brokers(strings.Split(c.brokers, ",")...), producer.Name("kbus-soak"),
		producer.Logger(s.log.With("component", "producer")))
	if err != nil {
		return nil, err
	}
	defer p.Close()
	if err := p.EnsureTopics(ctx, producer.TopicSpec{Name: topic, Partitions: int32(c.partitions), ReplicationFactor: 3}); err != nil {
		return nil, fmt.Errorf("create %s: %w", topic, err)
	}

	// API keys, one per tenant.
	keys := apikey.NewStore(pool)
	tenantKeys := map[string]string{}
	for i := range c.tenants {
		t := tenantOf(i, c.tenants)
		_, k, err := keys.Create(ctx, t, "soak", false)
		if err != nil {
			return nil, err
		}
		tenantKeys[t] = k
	}

	// Receivers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hooks := &http.Server{Handler: s.rv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hooks.Serve(ln) }()
	defer hooks.Close()

	// Processes.
	add := func(name string, args ...string) {
		s.procs[name] = &proc{name: name, args: args, env: s.env, dir: c.dir, log: s.log}
	}
	for i := 1; i <= 3; i++ {
		n := fmt.Sprintf("consumer-tx-%d", i)
		add(n, self, "worker", "-mode", "tx", "-brokers", c.brokers, "-database-url", c.dbURL, "-group", "soak-tx", "-name", n)
	}
	runsFile := filepath.Join(c.dir, "alo-runs.txt")
	_ = os.Remove(runsFile)
	add("consumer-alo-1", self, "worker", "-mode", "alo", "-brokers", c.brokers, "-group", "soak-alo", "-runs", runsFile)
	whAddr := []string{"127.0.0.1:18181", "127.0.0.1:18182"}
	for i, a := range whAddr {
		add(fmt.Sprintf("webhooks-%d", i+1), c.kbus, "serve", "webhooks", "--event-types", topic, "--group", "soak-webhooks",
			"--addr", a, "--allow-loopback", "--allow-http-hosts", "127.0.0.1", "--timeout", "1s",
			"--schedule", "500ms,1s,2s,4s,8s,15s,30s,60s")
	}
	sseAddr := []string{"127.0.0.1:18191", "127.0.0.1:18192"}
	for i, a := range sseAddr {
		add(fmt.Sprintf("sse-%d", i+1), c.kbus, "serve", "sse", "--event-types", topic, "--addr", a)
	}
	for _, pr := range s.procs {
		if err := pr.start(); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, pr := range s.procs {
			pr.stop()
		}
	}()
	for _, a := range append(whAddr, sseAddr...) {
		if err := waitHTTP(ctx, "http://"+a+"/healthz", time.Minute); err != nil {
			return nil, err
		}
	}

	// Webhook endpoints, registered through the API with each tenant's key.
	for i := range c.hookTenants {
		t := tenantOf(i, c.tenants)
		secret, err := register(ctx, "http://"+whAddr[0], tenantKeys[t], "http://"+ln.Addr().String()+"/hook/"+t)
		if err != nil {
			return nil, err
		}
		s.rv.mu.Lock()
		s.rv.secrets[t] = secret
		s.rv.mu.Unlock()
	}

	// SSE clients, connected before anything is published.
	cctx, stopClients := context.WithCancel(ctx)
	defer stopClients()
	for i := range c.tenants {
		t := tenantOf(i, c.tenants)
		cl := &sseClient{tenant: t, key: tenantKeys[t], got: map[string]int{}}
		for j := range sseAddr {
			cl.urls = append(cl.urls, "http://"+sseAddr[(i+j)%len(sseAddr)])
		}
		s.clients = append(s.clients, cl)
		go cl.run(cctx)
	}
	for _, cl := range s.clients {
		for cl.connected == nil {
			time.Sleep(10 * time.Millisecond)
		}
		select {
		case <-cl.connected:
		case <-time.After(time.Minute):
			return nil, fmt.Errorf("SSE client of %s never connected", cl.tenant)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}

	// Publish and inject faults.
	start := time.Now()
	ob, err := outbox.New(outbox.Config{Producer: p, DB: pool, SkipMigrations: true, MaxBackoff: 2 * time.Second,
		Logger: s.log.With("component", "outbox")})
	if err != nil {
		return nil, err
	}
	octx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); _ = ob.Run(octx) }()
	defer func() { stopRelay(); <-relayDone }()

	var wg sync.WaitGroup
	wg.Go(func() { s.publish(ctx, p, start) })
	wg.Go(func() { s.enqueue(ctx, ob, start) })
	wg.Go(func() { s.injectPoison(ctx, start) })
	wg.Go(func() { s.inject(ctx, start) })
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	published := time.Since(start)
	s.log.Info("soak: publishing and faults over; draining", "elapsed", published.Round(time.Second))

	// Drain: wait until every check holds, or the timeout.
	s.mu.Lock()
	last := s.lastTime
	s.mu.Unlock()
	var r *report
	deadline := time.Now().Add(c.drainTimeout)
	for {
		r, err = s.check(ctx)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			s.log.Warn("soak: check failed; retrying", "error", err)
		} else if r.Passed || time.Now().After(deadline) {
			break
		} else {
			s.log.Info("soak: not drained yet", "failures", strings.Join(r.Failures, "; "))
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(3 * time.Second)
	}
	r.DrainSeconds = time.Since(last).Seconds()
	r.PublishSeconds = published.Seconds()
	return r, nil
}

func waitHTTP(ctx context.Context, url string, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return fmt.Errorf("%s did not answer within %s: %v", url, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func register(ctx context.Context, api, key, url string) (string, error) {
	body, _ := json.Marshal(map[string]any{"url": url, "events": []string{topic}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/webhooks", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("register webhook: %s: %s", resp.Status, b)
	}
	var out struct {
		Secret string `json:"secret"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Secret == "" {
		return "", fmt.Errorf("register webhook: no secret in %s", b)
	}
	return out.Secret, nil
}

// pace spreads n events over d: it returns how many should be out by now.
func pace(n int, d time.Duration, start time.Time) int {
	f := float64(time.Since(start)) / float64(d)
	return min(n, int(f*float64(n))+1)
}

// publish sends the events with Publish from several goroutines. A publish
// that is not acknowledged is retried under the same message id until it is,
// as the producer's documentation asks: only acknowledged events count.
func (s *soak) publish(ctx context.Context, p *producer.Producer, start time.Time) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range s.c.publishers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= s.c.events {
					return
				}
				for pace(s.c.events, s.c.duration*8/10, start) <= i && ctx.Err() == nil {
					time.Sleep(5 * time.Millisecond)
				}
				t := tenantOf(i, s.c.tenants)
				pid := fmt.Sprintf("pay_%06d", i)
				data := fmt.Appendf(nil, `{"payment_id":%q,"amount":%d,"currency":"USD","merchant_id":%q}`, pid, 100+i, t)
				var opts []producer.PublishOption
				for ctx.Err() == nil {
					pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					rcpt, err := p.Publish(pctx, topic, pid, data, opts...)
					cancel()
					if err == nil {
						s.mu.Lock()
						s.acked[rcpt.MessageID] = t
						s.mu.Unlock()
						break
					}
					s.publishRetries.Add(1)
					if rcpt.MessageID != "" {
						opts = []producer.PublishOption{producer.MessageID(rcpt.MessageID)}
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
}

// enqueue writes the outbox events in transactions of ten; the rows of a
// transaction whose COMMIT succeeded must all reach Kafka.
func (s *soak) enqueue(ctx context.Context, ob *outbox.Outbox, start time.Time) {
	for i := 0; i < s.c.outboxEvents && ctx.Err() == nil; {
		for pace(s.c.outboxEvents, s.c.duration*8/10, start) <= i && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		n := min(10, s.c.outboxEvents-i)
		ids, err := s.enqueueTx(ctx, ob, i, n)
		if err != nil {
			s.publishRetries.Add(1)
			time.Sleep(200 * time.Millisecond)
			continue // the same events again, in a new transaction
		}
		s.mu.Lock()
		for id, t := range ids {
			s.outboxed[id] = t
		}
		s.mu.Unlock()
		i += n
	}
}

func (s *soak) enqueueTx(ctx context.Context, ob *outbox.Outbox, from, n int) (map[string]string, error) {
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tx, err := s.pool.Begin(tctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(tctx) }()
	ids := map[string]string{}
	for i := from; i < from+n; i++ {
		t := tenantOf(i, s.c.tenants)
		pid := fmt.Sprintf("pay_ob_%06d", i)
		e, err := ob.Enqueue(tctx, tx, topic, pid, fmt.Appendf(nil, `{"payment_id":%q,"amount":%d,"currency":"EUR","merchant_id":%q}`, pid, 100+i, t))
		if err != nil {
			return nil, err
		}
		ids[e.MessageID] = t
	}
	return ids, tx.Commit(tctx)
}

// injectPoison writes records no consumer can decode, in the middle of the
// run: each group must dead-letter exactly these.
func (s *soak) injectPoison(ctx context.Context, start time.Time) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(s.c.duration / 2):
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(s.c.brokers, ",")...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return
	}
	defer cl.Close()
	for i := range 5 {
		rec := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "poison_%d", i), Value: []byte(`{"not": "an envelope`)}
		for ctx.Err() == nil {
			if err := cl.ProduceSync(ctx, rec).FirstErr(); err == nil {
				s.mu.Lock()
				s.poison++
				s.mu.Unlock()
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// inject runs the fault schedule: kill -9 of kbus processes every
// faultEvery, the partition leader's broker at 15% and 50% of the run (back
// 15 s later), PostgreSQL at 35% and 70% (back 8 s later). In -short: one
// fault of each kind, the broker at 20% and PostgreSQL at 55%.
func (s *soak) inject(ctx context.Context, start time.Time) {
	apps := map[string][]string{
		"consumer":   {"consumer-tx-1", "consumer-tx-2", "consumer-tx-3", "consumer-alo-1"},
		"dispatcher": {"webhooks-1", "webhooks-2"},
		"sse server": {"sse-1", "sse-2"},
	}
	type step struct {
		at   time.Duration
		kind string
	}
	var plan []step
	d := s.c.duration
	if s.c.short {
		plan = append(plan, step{d * 20 / 100, "broker"}, step{d * 55 / 100, "postgres"},
			step{d * 10 / 100, "consumer"}, step{d * 35 / 100, "dispatcher"}, step{d * 45 / 100, "sse server"})
	} else {
		plan = append(plan, step{d * 15 / 100, "broker"}, step{d * 35 / 100, "postgres"},
			step{d * 50 / 100, "broker"}, step{d * 70 / 100, "postgres"})
		kinds := []string{"consumer", "dispatcher", "sse server"}
		for t, k := s.c.faultEvery, 0; t < d*85/100; t, k = t+s.c.faultEvery, k+1 {
			plan = append(plan, step{t, kinds[k%len(kinds)]})
		}
	}
	sort.Slice(plan, func(i, j int) bool { return plan[i].at < plan[j].at })
	var wg sync.WaitGroup
	for _, st := range plan {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(start.Add(st.at))):
		}
		wg.Go(func() {
			f := fault{At: time.Since(start).Round(100 * time.Millisecond).String(), AtSec: time.Since(start).Seconds(), Kind: st.kind}
			t0 := time.Now()
			switch st.kind {
			case "broker":
				n, err := s.leaderOf(ctx, 0)
				if err != nil {
					s.log.Error("soak: no leader found", "error", err)
					return
				}
				f.Target = fmt.Sprintf("broker %d (leader of %s/0)", n, topic)
				f.Kind = "kill -9 partition leader"
				if err := script(ctx, s.c.root, s.env, "kafka.sh", "kill", fmt.Sprint(n)); err != nil {
					s.log.Error("soak: fault", "error", err)
				}
				time.Sleep(15 * time.Second)
				if err := script(ctx, s.c.root, s.env, "kafka.sh", "start", fmt.Sprint(n)); err != nil {
					s.log.Error("soak: restart broker", "error", err)
				}
			case "postgres":
				f.Kind, f.Target = "pg_ctl stop -m immediate", "PostgreSQL"
				if err := script(ctx, s.c.root, s.env, "postgres.sh", "crash"); err != nil {
					s.log.Error("soak: fault", "error", err)
				}
				time.Sleep(8 * time.Second)
				if err := script(ctx, s.c.root, s.env, "postgres.sh", "start"); err != nil {
					s.log.Error("soak: restart postgres", "error", err)
				}
			default:
				names := apps[st.kind]
				name := names[rand.IntN(len(names))]
				f.Kind, f.Target = "kill -9 "+st.kind, name
				s.procs[name].kill9(time.Duration(500+rand.IntN(1500)) * time.Millisecond)
			}
			f.Downtime = time.Since(t0).Seconds()
			s.log.Info("soak: fault over", "kind", f.Kind, "target", f.Target, "downtime", time.Since(t0).Round(100*time.Millisecond))
			s.mu.Lock()
			s.faults = append(s.faults, f)
			s.lastTime = time.Now()
			s.mu.Unlock()
		})
	}
	wg.Wait()
}

// leaderOf returns the node id leading partition p of the topic.
func (s *soak) leaderOf(ctx context.Context, p int32) (int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(s.c.brokers, ",")...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		return 0, err
	}
	pd, ok := md.Topics[topic].Partitions[p]
	if !ok {
		return 0, errors.New("partition not found")
	}
	return pd.Leader, nil
}

// inKafka reads the topic from the start to its end: message id → payment id,
// tenant.
type kafkaEvent struct{ paymentID, tenant string }

func (s *soak) inKafka(ctx context.Context) (map[string]kafkaEvent, int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(s.c.brokers, ",")...))
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, 0, err
	}
	if err := ends.Error(); err != nil {
		return nil, 0, err
	}
	parts := map[int32]kgo.Offset{}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			parts[o.Partition] = kgo.NewOffset().AtStart()
			remaining[o.Partition] = o.Offset
		}
	})
	out := map[string]kafkaEvent{}
	bad := 0
	if len(parts) == 0 {
		return out, 0, nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(s.c.brokers, ",")...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
	if err != nil {
		return nil, 0, err
	}
	defer rd.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for len(remaining) > 0 {
		fs := rd.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			return nil, 0, fmt.Errorf("read %s: %w", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			e, err := envelope.Unmarshal(r.Value)
			if err != nil {
				bad++
				return
			}
			var d struct {
				PaymentID  string `json:"payment_id"`
				MerchantID string `json:"merchant_id"`
			}
			_ = json.Unmarshal(e.Data, &d)
			out[e.MessageID] = kafkaEvent{d.PaymentID, d.MerchantID}
		})
	}
	return out, bad, nil
}

// dlqEntries counts a group's DLQ entries, and the distinct original records
// they are for.
func (s *soak) dlqEntries(ctx context.Context, group string) (entries, distinct int, err error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(s.c.brokers, ",")...))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	seen := map[string]bool{}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = dlq.Read(rctx, cl, group, func(e dlq.Entry, _ *kgo.Record, _ error) error {
		entries++
		seen[fmt.Sprintf("%d/%d", e.Partition, e.Offset)] = true
		return nil
	})
	if errors.Is(err, dlq.ErrNoTopic) {
		err = nil
	}
	return entries, len(seen), err
}
