package consumer_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kbus-dev/kbus/consumer"
	"github.com/kbus-dev/kbus/envelope"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
)

// The scaling benchmarks answer two questions users ask as they grow, for
// scripts/bench-scale.sh (BENCHMARKS.md, "Scaling"):
//
//   - BenchmarkGroupScaling: does adding instances of one group speed up a
//     backlog on 12 partitions?
//   - BenchmarkDedupGrowth: does exactly-once processing slow down as
//     processed_events grows to millions of rows?
//
// Both run kbus in Transactional mode with a trivial handler that inserts one
// row, so that what is measured is kbus's own per-event work (fetch, decode,
// dedup row, transaction, offset commit) and the database under it. One
// benchmark operation is one whole run over a fixed number of events; run
// them with -benchtime 1x. Environment:
//
//   - BENCH_SCALE_EVENTS: events in the 12-partition backlog (default 50000);
//   - BENCH_DEDUP_EVENTS: new events processed at each table size (default 50000);
//   - BENCH_DEDUP_ROWS: the largest table size measured (default 1000000;
//     the steps are 0, 100k, 1M and 10M rows, up to it).

// scaleEnv returns the positive integer in the environment variable name, or
// def.
func scaleEnv(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return n
}

// publishBacklog publishes n payment events (distinct payment ids, so
// spread over the partitions) to topic and waits for every acknowledgement.
func publishBacklog(b *testing.B, topic string, n int) {
	b.Helper()
	p, err := producer.New(producer.Brokers(kbustest.Brokers(b)...), producer.Name("bench"),
		producer.SkipSchemaValidation(), producer.Linger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	var failed atomic.Int64
	for i := range n {
		id := fmt.Sprintf("pay_%d", i)
		p.PublishAsync(ctx, topic, id, fmt.Appendf(nil, `{"payment_id":%q,"amount":%d,"currency":"USD","merchant_id":"merch_%d"}`, id, i+1, i%50),
			func(_ producer.Receipt, err error) {
				if err != nil {
					failed.Add(1)
				}
			})
	}
	if err := p.Flush(ctx); err != nil || failed.Load() > 0 {
		b.Fatalf("publishing the benchmark's events: %v (%d failed)", err, failed.Load())
	}
}

// effectsTable is the handler's table: one row per event, no index, so that
// the handler's own write costs as little as a write can.
const effectsTable = `CREATE TABLE IF NOT EXISTS bench_effects (message_id text NOT NULL, amount bigint NOT NULL)`

// insertEffect is the trivial HandleTx of the scaling benchmarks.
func insertEffect(ctx context.Context, tx pgx.Tx, e envelope.Envelope) error {
	_, err := tx.Exec(ctx, `INSERT INTO bench_effects (message_id, amount) VALUES ($1, $2)`, e.MessageID, len(e.Data))
	return err
}

// scaleRun is one timed run of a group of consumers over a backlog.
type scaleRun struct {
	total  time.Duration // from Run to the last event processed, joins included
	steady time.Duration // from the moment every instance has processed an event
	// steadyEvents is the number of events processed in the steady window.
	steadyEvents int64
	// busy and all are the machine's busy and total CPU time over the run
	// (jiffies from /proc/stat, zero where it cannot be read); self is this
	// process's CPU time: the consumers and the benchmark's polling.
	busy, all uint64
	self      time.Duration
}

// machineCPU returns the busy and total jiffies of all CPUs since boot, from
// /proc/stat's first line; zeros if it cannot be read.
func machineCPU() (busy, all uint64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0
	}
	for i, f := range fields[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		if i >= 8 { // guest time is already counted in user time
			break
		}
		all += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, all
}

// selfCPU returns the CPU time (user and system) this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runGroup starts one consumer per pool, all in group on topic, and waits
// until n events are processed in all. The returned durations are measured
// inside; the caller owns the benchmark timer.
func runGroup(b *testing.B, group, topic string, pools []*pgxpool.Pool, n int64) scaleRun {
	b.Helper()
	cs := make([]*consumer.Consumer, len(pools))
	for i, pool := range pools {
		c, err := consumer.New(consumer.Config{Brokers: kbustest.Brokers(b), Group: group, Topics: []string{topic},
			DB: pool, SkipMigrations: true}) // kbustest.DB applied them
		if err != nil {
			b.Fatal(err)
		}
		c.HandleTx(topic, insertEffect)
		cs[i] = c
	}
	processed := func() (sum int64, all bool) {
		all = true
		for _, c := range cs {
			p := c.Stats().Processed
			sum += p
			all = all && p > 0
		}
		return sum, all
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(cs))
	busy0, all0 := machineCPU()
	self0 := selfCPU()
	start := time.Now()
	for _, c := range cs {
		go func() { done <- c.Run(ctx) }()
	}
	var steadyAt time.Time
	var atSteady int64
	deadline := start.Add(10 * time.Minute)
	for {
		sum, all := processed()
		now := time.Now()
		if all && steadyAt.IsZero() {
			steadyAt, atSteady = now, sum
		}
		if sum >= n {
			break
		}
		if now.After(deadline) {
			cancel()
			b.Fatalf("only %d of %d events processed after 10 minutes", sum, n)
		}
		time.Sleep(time.Millisecond)
	}
	end := time.Now()
	self1 := selfCPU()
	busy1, all1 := machineCPU()
	cancel()
	for range cs {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	var st consumer.Stats
	for _, c := range cs {
		s := c.Stats()
		st.Processed += s.Processed
		st.Duplicates += s.Duplicates
		st.DeadLettered += s.DeadLettered
	}
	if st.Processed != n || st.Duplicates != 0 || st.DeadLettered != 0 {
		b.Fatalf("want %d events processed once, got %+v", n, st)
	}
	return scaleRun{total: end.Sub(start), steady: end.Sub(steadyAt), steadyEvents: n - atSteady,
		busy: busy1 - busy0, all: all1 - all0, self: self1 - self0}
}

// baselines keeps, per benchmark, the rates of the variant the others are
// compared with (1 instance, the empty table), when it ran in this process.
var baselines = map[string][]float64{}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// reportRates reports events/s and steady-events/s over the timed runs, and
// their ratio to the baseline's median when there is one; also how busy the
// machine's CPUs were (machine-cpu-%: 100 is every core busy) and how many
// cores this process used on average (kbus-cores; the broker and PostgreSQL
// used the rest). isBase records the
// rates as the baseline.
func reportRates(b *testing.B, key string, isBase bool, events int64, runs []scaleRun) {
	var total, steady, self time.Duration
	var steadyEvents int64
	var busy, all uint64
	for _, r := range runs {
		total += r.total
		steady += r.steady
		steadyEvents += r.steadyEvents
		busy += r.busy
		all += r.all
		self += r.self
	}
	if all > 0 {
		b.ReportMetric(100*float64(busy)/float64(all), "machine-cpu-%")
	}
	b.ReportMetric(self.Seconds()/total.Seconds(), "kbus-cores")
	rate := float64(events*int64(len(runs))) / total.Seconds()
	srate := float64(steadyEvents) / steady.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(srate, "steady-events/s")
	if isBase {
		baselines[key] = append(baselines[key], rate)
	}
	if base := median(baselines[key]); base > 0 {
		b.ReportMetric(rate/base, "x-baseline")
	}
}

// BenchmarkGroupScaling processes a backlog of BENCH_SCALE_EVENTS events on
// a 12-partition topic with 1, 2 and 4 instances of one consumer group in
// this process (Transactional, default Concurrency 4 and MaxBatch 500, each
// with its own pool of database connections, as separate processes would
// have). The clock runs from the instances' Run (joins and rebalances
// included) until every event is processed. Metrics: events/s; the same
// over the window after every instance has processed its first event
// (steady-events/s); and events/s relative to 1 instance (x-baseline).
//
//	go test ./consumer -run '^$' -bench BenchmarkGroupScaling -benchtime 1x -count 3
func BenchmarkGroupScaling(b *testing.B) {
	n := scaleEnv(b, "BENCH_SCALE_EVENTS", 50000)
	for _, m := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("instances=%d", m), func(b *testing.B) {
			db := kbustest.DB(b)
			if _, err := db.Pool.Exec(context.Background(), effectsTable); err != nil {
				b.Fatal(err)
			}
			pools := make([]*pgxpool.Pool, m)
			for i := range pools {
				pool, err := pgxpool.New(context.Background(), db.URL)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(pool.Close)
				pools[i] = pool
			}
			var runs []scaleRun
			b.StopTimer()
			for range b.N {
				topic := kbustest.Topic(b, 12)
				publishBacklog(b, topic, n)
				b.StartTimer()
				runs = append(runs, runGroup(b, kbustest.Name(b, "bench."), topic, pools, int64(n)))
				b.StopTimer()
			}
			b.ReportMetric(float64(m), "instances")
			reportRates(b, "group", m == 1, int64(n), runs)
		})
	}
}

// fillProcessedEvents grows processed_events from rows to target rows of
// group, with message ids shaped like kbus's (msg_ and 26 characters)
// but older than any new one, since ids begin with their time, and
// processed_at in the past, one row per millisecond. Then it vacuums and
// checkpoints, so that the measurement that follows does not pay for the
// fill.
func fillProcessedEvents(b *testing.B, pool *pgxpool.Pool, group string, rows, target int) {
	b.Helper()
	if target <= rows {
		return
	}
	ctx := context.Background()
	started := time.Now()
	const chunk = 1_000_000 // bounds one statement's WAL and memory
	for from := rows; from < target; from += chunk {
		to := min(from+chunk, target)
		if _, err := pool.Exec(ctx, `
			INSERT INTO processed_events (consumer_group, message_id, topic, "partition", "offset", processed_at)
			SELECT $1, 'msg_00' || lpad(i::text, 8, '0') || upper(substr(md5(i::text), 1, 16)), 'bench.fill', i % 12, i / 12,
			       now() - interval '30 days' + i * interval '1 ms'
			FROM generate_series($2::bigint, $3::bigint - 1) AS i`, group, from, to); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE) processed_events`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `CHECKPOINT`); err != nil {
		b.Logf("checkpoint (needs superuser or pg_checkpoint; the run goes on): %v", err)
	}
	b.Logf("processed_events: %d → %d rows in %v", rows, target, time.Since(started).Round(time.Second))
}

// BenchmarkDedupGrowth measures Transactional processing of a fixed batch of
// BENCH_DEDUP_EVENTS new events (one consumer, a 4-partition topic, the
// trivial handler) while processed_events holds 0, 100k, 1M and 10M rows of
// the same group (up to BENCH_DEDUP_ROWS), grown once and kept across the
// steps and repetitions: every run also adds its batch's rows. Metrics:
// events/s from Run to the last event; steady-events/s after the first
// event, which leaves out the group join; rows, the table's size when the
// run started; x-baseline, events/s relative to the empty table.
//
//	BENCH_DEDUP_ROWS=10000000 go test ./consumer -run '^$' -bench BenchmarkDedupGrowth -benchtime 1x -count 3
func BenchmarkDedupGrowth(b *testing.B) {
	events := scaleEnv(b, "BENCH_DEDUP_EVENTS", 50000)
	maxRows := scaleEnv(b, "BENCH_DEDUP_ROWS", 1_000_000)
	db := kbustest.DB(b)
	if _, err := db.Pool.Exec(context.Background(), effectsTable); err != nil {
		b.Fatal(err)
	}
	// One group fills the table and processes the new events: its rows are
	// the ones the dedup insert's index probes go through.
	group := kbustest.Name(b, "bench.")
	filled, added := 0, 0 // rows from the fill, rows added by measured runs
	for _, size := range []int{0, 100_000, 1_000_000, 10_000_000} {
		if size > maxRows {
			break
		}
		b.Run(fmt.Sprintf("rows=%d", size), func(b *testing.B) {
			b.StopTimer()
			fillProcessedEvents(b, db.Pool, group, filled, size)
			filled = max(filled, size)
			var runs []scaleRun
			rows := filled + added
			for range b.N {
				topic := kbustest.Topic(b, 4)
				publishBacklog(b, topic, events)
				b.StartTimer()
				runs = append(runs, runGroup(b, group, topic, []*pgxpool.Pool{db.Pool}, int64(events)))
				b.StopTimer()
				added += events
			}
			b.ReportMetric(float64(rows), "rows")
			reportRates(b, "dedup", size == 0, int64(events), runs)
		})
	}
}
