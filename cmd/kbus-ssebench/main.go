package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/producer"
)

type config struct {
	scenario, url, brokers, dbURL, topic, key, parser string
	clients, rate, payload, serverPID, connConc       int
	duration, drain                                   time.Duration
	targetP99                                         float64
}

// result is the JSON line printed at the end. Times are in milliseconds,
// memory in MiB (per connection in KiB), CPU in seconds and in percent of
// one core.
type result struct {
	Scenario   string  `json:"scenario"`
	Parser     string  `json:"parser"`
	Clients    int     `json:"clients"`
	Connected  int64   `json:"connected"`
	ConnectErr int64   `json:"connect_errors"`
	ConnectS   float64 `json:"connect_s"`
	Rate       int     `json:"rate"`
	DurationS  float64 `json:"duration_s"`
	PayloadB   int     `json:"payload_bytes"`

	Published     int64   `json:"published"`
	PublishErrors int64   `json:"publish_errors"`
	Expected      int64   `json:"expected_deliveries"`
	Deliveries    int64   `json:"deliveries"`
	DeliveredPct  float64 `json:"delivered_pct"`
	ExpectedPerS  float64 `json:"expected_per_s"`
	DeliveredPerS float64 `json:"deliveries_per_s"`

	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`

	Disconnected     int64  `json:"disconnected"`
	SlowDisconnected int64  `json:"slow_disconnects"`
	FirstDisconnect  string `json:"first_disconnect_error,omitempty"`

	ServerRSSBefore    float64 `json:"server_rss_before_mib"`
	ServerRSSConnected float64 `json:"server_rss_connected_mib"`
	ServerRSSAfter     float64 `json:"server_rss_after_mib"`
	ServerHWM          float64 `json:"server_rss_peak_mib"`
	KiBPerConn         float64 `json:"server_kib_per_conn"`
	ServerCPUS         float64 `json:"server_cpu_s"`
	ServerCPUPct       float64 `json:"server_cpu_pct"`
	ServerConnectCPUS  float64 `json:"server_connect_cpu_s"`

	ClientCPUS      float64 `json:"client_cpu_s"`
	ClientCPUPct    float64 `json:"client_cpu_pct"`
	ClientUSPerDel  float64 `json:"client_cpu_us_per_delivery"`
	ClientSchedP99  float64 `json:"client_sched_p99_ms"`
	ClientSchedMax  float64 `json:"client_sched_max_ms"`
	ClientCPUBound  bool    `json:"client_cpu_bound"`
	MachineBusyPct  float64 `json:"machine_busy_pct"`
	OtherCPUPct     float64 `json:"other_cpu_pct"`
	WindowS         float64 `json:"window_s"`
	ServerSent      float64 `json:"server_events_sent"`
	ServerSlowTotal float64 `json:"server_slow_disconnects"`
	CPUs            int     `json:"cpus"`
	TargetP99       float64 `json:"target_p99_ms"`
	TargetMet       bool    `json:"target_met"`
}

type bench struct {
	cfg      config
	hist     histogram
	slow     atomic.Int64
	disc     atomic.Int64
	stopping atomic.Bool
	firstErr sync.Once
	errText  atomic.Value
}

type stream struct {
	b   *bench
	idx int
}

func (s stream) event(idMS int64, recv time.Time) {
	lat := recv.UnixMicro() - idMS*1000
	if lat < 0 {
		lat = 0
	}
	s.b.hist.Record(s.idx, uint64(lat))
}

func (s stream) comment(text []byte) {
	if strings.HasPrefix(string(text), "too slow") {
		s.b.slow.Add(1)
	}
}

func main() {
	var c config
	flag.StringVar(&c.scenario, "scenario", "", "scenario name, copied into the result")
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8081", "base URL of `kbus serve sse`")
	flag.StringVar(&c.brokers, "brokers", envOr("KAFKA_BROKERS", "127.0.0.1:9092"), "Kafka brokers")
	flag.StringVar(&c.dbURL, "database-url", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kbus?sslmode=disable"), "PostgreSQL, to create the admin key")
	flag.StringVar(&c.topic, "topic", "", "event type (topic) to publish and subscribe to (required)")
	flag.StringVar(&c.key, "key", "", "API key to use; default: create an admin key and revoke it at the end")
	flag.StringVar(&c.parser, "parser", "fast", "stream parser: fast (minimal, allocation-free) or sse (sse.Reader)")
	flag.IntVar(&c.clients, "clients", 1000, "concurrent streams")
	flag.IntVar(&c.rate, "rate", 10, "events published per second")
	flag.IntVar(&c.payload, "payload-bytes", 200, "size of each event's JSON data")
	flag.IntVar(&c.serverPID, "server-pid", 0, "pid of the server, for its RSS and CPU time")
	flag.IntVar(&c.connConc, "connect-concurrency", 64, "streams being opened at once")
	flag.DurationVar(&c.duration, "duration", 30*time.Second, "publishing time")
	flag.DurationVar(&c.drain, "drain", 10*time.Second, "longest wait for deliveries after publishing ends")
	flag.Float64Var(&c.targetP99, "target-p99-ms", 0, "p99 target, for the result's target_met (with no disconnects)")
	markdown := flag.String("markdown", "", "instead of running: print the Markdown table of this file of JSON results")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("kbus-ssebench: ")
	if *markdown != "" {
		if err := writeMarkdown(os.Stdout, *markdown); err != nil {
			log.Fatal(err)
		}
		return
	}
	if c.topic == "" {
		log.Fatal("-topic is required")
	}
	if c.parser != "fast" && c.parser != "sse" {
		log.Fatal("-parser is fast or sse")
	}
	res, err := run(c)
	if err != nil {
		log.Fatal(err)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func raiseNOFILE() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Printf("getrlimit: %v", err)
		return
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		log.Printf("setrlimit: %v", err)
	}
	log.Printf("RLIMIT_NOFILE %d", rl.Cur)
}

func run(c config) (*result, error) {
	raiseNOFILE()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := &result{Scenario: c.scenario, Parser: c.parser, Clients: c.clients, Rate: c.rate, DurationS: c.duration.Seconds(), PayloadB: c.payload}
	b := &bench{cfg: c}

	key := c.key
	if key == "" {
		pool, err := pgxpool.New(ctx, c.dbURL)
		if err != nil {
			return nil, err
		}
		defer pool.Close()
		store := apikey.NewStore(pool)
		k, full, err := store.Create(ctx, "", "ssebench", true)
		if err != nil {
			return nil, err
		}
		defer func() { _ = store.Revoke(context.Background(), k.ID) }()
		key = full
	}

	// The producer, warmed up (metadata, producer id) before anything is
	// measured: one event nobody is subscribed to yet.
	prod, err := producer.New(producer.Brokers(strings.Split(c.brokers, ",")...), producer.Name("ssebench"), producer.SkipSchemaValidation())
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	payload := makePayload(c.payload)
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = prod.Publish(pctx, c.topic, "warmup", payload(0))
	pcancel()
	if err != nil {
		return nil, fmt.Errorf("warm-up publish: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // let the server read it before streams open

	res.ServerRSSBefore = rssMiB(c.serverPID, "VmRSS")
	srvCPU0 := procCPU(c.serverPID)

	// Open the streams.
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		DisableCompression:  true,
		MaxIdleConnsPerHost: -1,
		ReadBufferSize:      8 << 10,
	}
	hc := &http.Client{Transport: tr}
	streamURL := strings.TrimSuffix(c.url, "/") + "/events/stream?types=" + c.topic
	var connected, connErrs atomic.Int64
	var firstConnErr atomic.Value
	t0 := time.Now()
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for w := 0; w < c.connConc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= c.clients {
					return
				}
				resp, err := openStream(ctx, hc, streamURL, key)
				if err != nil {
					connErrs.Add(1)
					firstConnErr.CompareAndSwap(nil, err.Error())
					continue
				}
				connected.Add(1)
				go b.read(i, resp)
			}
		}()
	}
	wg.Wait()
	res.ConnectS = time.Since(t0).Seconds()
	res.Connected, res.ConnectErr = connected.Load(), connErrs.Load()
	if e := firstConnErr.Load(); e != nil {
		log.Printf("connect errors: %d, first: %v", res.ConnectErr, e)
	}
	log.Printf("%d streams connected in %.1fs", res.Connected, res.ConnectS)
	if res.Connected == 0 {
		return nil, errors.New("no stream connected")
	}
	time.Sleep(2 * time.Second) // let the server settle (GC) before reading its RSS
	res.ServerRSSConnected = rssMiB(c.serverPID, "VmRSS")
	if res.Connected > 0 && c.serverPID > 0 {
		res.KiBPerConn = (res.ServerRSSConnected - res.ServerRSSBefore) * 1024 / float64(res.Connected)
	}

	// Publish at a steady rate, measuring the window.
	srvCPU1 := procCPU(c.serverPID)
	res.ServerConnectCPUS = srvCPU1 - srvCPU0
	self0 := selfCPU()
	mach0 := machineCPU()
	sched0 := schedHist()
	var published, pubErrs, acked atomic.Int64
	done := func(_ producer.Receipt, err error) {
		if err != nil {
			pubErrs.Add(1)
		} else {
			acked.Add(1)
		}
	}
	stopProgress := make(chan struct{})
	go b.progress(&published, &connected, stopProgress)
	start := time.Now()
	total := int(c.duration.Seconds() * float64(c.rate))
	interval := time.Second / time.Duration(c.rate)
	for i := 0; i < total; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		prod.PublishAsync(ctx, c.topic, strconv.Itoa(i%64), payload(i+1), done)
		published.Add(1)
	}
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	_ = prod.Flush(fctx)
	fcancel()
	pubEnd := time.Now()

	// Drain: wait until every live stream has every event, or -drain.
	res.Published = published.Load()
	for deadline := time.Now().Add(c.drain); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, n, _ := b.hist.snapshot()
		alive := res.Connected - b.disc.Load()
		if int64(n) >= res.Published*alive {
			break
		}
	}
	end := time.Now()
	b.stopping.Store(true)
	window := end.Sub(start).Seconds()
	res.WindowS = window
	res.ServerCPUS = procCPU(c.serverPID) - srvCPU1
	res.ServerCPUPct = 100 * res.ServerCPUS / window
	res.ClientCPUS = selfCPU() - self0
	res.ClientCPUPct = 100 * res.ClientCPUS / window
	busy, all := machineCPU().sub(mach0)
	if all > 0 {
		res.MachineBusyPct = 100 * busy / all * float64(runtime.NumCPU())
		res.OtherCPUPct = res.MachineBusyPct - res.ServerCPUPct - res.ClientCPUPct
	}
	res.ClientSchedP99, res.ClientSchedMax = schedDelta(sched0, schedHist())
	close(stopProgress)
	res.ServerRSSAfter = rssMiB(c.serverPID, "VmRSS")
	res.ServerHWM = rssMiB(c.serverPID, "VmHWM")
	res.ServerSent = scrape(hc, c.url, "kbus_sse_events_sent_total")
	res.ServerSlowTotal = scrape(hc, c.url, "kbus_sse_slow_client_disconnects_total")

	counts, n, maxv := b.hist.snapshot()
	res.Deliveries = int64(n)
	res.PublishErrors = pubErrs.Load()
	res.Expected = res.Published * res.Connected
	if res.Expected > 0 {
		res.DeliveredPct = 100 * float64(res.Deliveries) / float64(res.Expected)
	}
	res.ExpectedPerS = float64(res.Connected) * float64(c.rate)
	// Deliveries per second over the publishing time (the tail that
	// arrives during the drain is counted, as it belongs to those events).
	res.DeliveredPerS = float64(res.Deliveries) / pubEnd.Sub(start).Seconds()
	ms := func(us uint64) float64 { return math.Round(float64(us)/10) / 100 }
	res.P50 = ms(quantile(counts, n, maxv, 0.50))
	res.P90 = ms(quantile(counts, n, maxv, 0.90))
	res.P99 = ms(quantile(counts, n, maxv, 0.99))
	res.P999 = ms(quantile(counts, n, maxv, 0.999))
	res.Max = ms(maxv)
	res.Disconnected = b.disc.Load()
	res.SlowDisconnected = b.slow.Load()
	if e, ok := b.errText.Load().(string); ok {
		res.FirstDisconnect = e
	}
	if res.Deliveries > 0 {
		res.ClientUSPerDel = res.ClientCPUS * 1e6 / float64(res.Deliveries)
	}
	// The client is the limit when its own goroutines wait long to run:
	// then the latencies it records include its own queueing.
	res.ClientCPUBound = res.ClientSchedP99 > 20 || res.ClientSchedP99 > res.P99/4 && res.P99 > 20
	res.CPUs, res.TargetP99 = runtime.NumCPU(), c.targetP99
	res.TargetMet = res.Connected == int64(c.clients) && res.Disconnected == 0 && res.DeliveredPct >= 99.9 &&
		(c.targetP99 <= 0 || res.P99 <= c.targetP99)
	round(&res.ServerRSSBefore, &res.ServerRSSConnected, &res.ServerRSSAfter, &res.ServerHWM, &res.KiBPerConn,
		&res.ServerCPUS, &res.ServerCPUPct, &res.ClientCPUS, &res.ClientCPUPct, &res.ClientUSPerDel,
		&res.MachineBusyPct, &res.OtherCPUPct, &res.DeliveredPct, &res.DeliveredPerS, &res.ExpectedPerS,
		&res.ConnectS, &res.WindowS, &res.ServerConnectCPUS, &res.ClientSchedP99, &res.ClientSchedMax)
	tr.CloseIdleConnections()
	return res, nil
}

func round(fs ...*float64) {
	for _, f := range fs {
		*f = math.Round(*f*100) / 100
	}
}

func openStream(ctx context.Context, hc *http.Client, url, key string) (*http.Response, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := hc.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		return resp, nil
	}
	return nil, lastErr
}

// read parses one stream until it ends; an end before the run is over is
// a disconnect.
func (b *bench) read(i int, resp *http.Response) {
	defer resp.Body.Close()
	s := stream{b: b, idx: i}
	var err error
	if b.cfg.parser == "sse" {
		err = readSSE(resp.Body, s)
	} else {
		err = readFast(resp.Body, s)
	}
	if !b.stopping.Load() {
		b.disc.Add(1)
		b.firstErr.Do(func() { b.errText.Store(fmt.Sprint(err)) })
	}
}

func (b *bench) progress(published, connected *atomic.Int64, stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last uint64
	cpu := selfCPU()
	for s := 1; ; s++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		_, n, _ := b.hist.snapshot()
		c := selfCPU()
		log.Printf("t=%ds published=%d deliveries/s=%d streams=%d disconnected=%d client_cpu=%.0f%%",
			s, published.Load(), n-last, connected.Load()-b.disc.Load(), b.disc.Load(), 100*(c-cpu))
		last, cpu = n, c
	}
}

func makePayload(size int) func(seq int) []byte {
	return func(seq int) []byte {
		d := fmt.Appendf(nil, `{"payment_id":"pay_%08d","amount":4999,"currency":"EUR","merchant_id":"merch_bench","pad":"`, seq)
		for len(d) < size-2 {
			d = append(d, 'x')
		}
		return append(d, '"', '}')
	}
}

// rssMiB reads a field (VmRSS, VmHWM) of /proc/<pid>/status, in MiB.
func rssMiB(pid int, field string) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// procCPU is the user+system CPU time of pid, in seconds.
func procCPU(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields after the command: state is f[0], utime f[11], stime f[12].
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

type cpuTimes struct{ busy, all float64 }

func machineCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var t cpuTimes
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseFloat(f, 64)
		if i >= 8 { // guest times are already in user
			break
		}
		t.all += v
		if i != 3 && i != 4 { // idle, iowait
			t.busy += v
		}
	}
	return t
}

func (t cpuTimes) sub(o cpuTimes) (busy, all float64) { return t.busy - o.busy, t.all - o.all }

func schedHist() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram()
}

// schedDelta returns the p99 and the largest bucket reached of the
// goroutine scheduling latencies between two readings, in ms.
func schedDelta(a, b *metrics.Float64Histogram) (p99, max float64) {
	if a == nil || b == nil {
		return 0, 0
	}
	var total uint64
	d := make([]uint64, len(b.Counts))
	for i := range b.Counts {
		d[i] = b.Counts[i] - a.Counts[i]
		total += d[i]
	}
	if total == 0 {
		return 0, 0
	}
	rank := uint64(0.99 * float64(total))
	var seen uint64
	p99 = -1
	for i, c := range d {
		seen += c
		if p99 < 0 && seen > rank {
			p99 = b.Buckets[i+1] * 1000
		}
		if c > 0 {
			max = b.Buckets[i+1] * 1000
		}
	}
	last := b.Buckets[len(b.Buckets)-2] * 1000
	if math.IsInf(max, 1) {
		max = last
	}
	if math.IsInf(p99, 1) {
		p99 = last
	}
	return p99, max
}

// scrape returns the value of an unlabelled metric from the server's
// /metrics, or -1.
func scrape(hc *http.Client, base, name string) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return -1
}
