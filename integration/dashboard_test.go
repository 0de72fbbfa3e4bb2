package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/sse"
)

// TestDashboardResumesAfterServerRestart opens the dashboard page
// (examples/dashboard/static, served by `kbus serve sse --static`) in headless
// Chromium and checks, through the page's DOM, what a person would see: live
// events; then, after the SSE server is killed and events are published while
// it is down, that the browser's EventSource reconnects by itself to the
// restarted server and the page shows the missed events exactly once, then
// live ones again.
func TestDashboardResumesAfterServerRestart(t *testing.T) {
	chromium := chromiumPath(t)
	brokers := kbustest.Brokers(t)
	completed, failed := kbustest.Topic(t, 3), kbustest.Topic(t, 3)
	db := kbustest.DB(t)
	root := repoRoot(t)
	bin := buildKbus(t, root)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, key, err := apikey.NewStore(db.Pool).Create(ctx, "merch_abc", "dashboard", false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := producer.New(producer.Brokers(brokers...), producer.Name("dashboard-test"), producer.SkipSchemaValidation())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	n := 0
	publish := func(topic, merchant string) string {
		t.Helper()
		n++
		data := fmt.Sprintf(`{"payment_id":"pay_%d","amount":%d,"currency":"eur","merchant_id":%q}`, n, 1000+n, merchant)
		r, err := p.Publish(ctx, topic, fmt.Sprintf("pay_%d", n), []byte(data))
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		return r.MessageID
	}

	srv := &sseServer{t: t, bin: bin, addr: freeAddr(t), args: []string{
		"serve", "sse", "--event-types", completed + "," + failed,
		"--static", filepath.Join(root, "examples", "dashboard", "static"),
		"--brokers", strings.Join(brokers, ","), "--database-url", db.URL,
	}}
	srv.start()
	t.Cleanup(srv.stop)

	page := newBrowser(t, ctx, chromium)
	pageURL := "http://" + srv.addr + "/?" + url.Values{"key": {key}, "types": {completed + "," + failed}}.Encode()
	if err := chromedp.Do(page, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("open %s: %v", pageURL, err)
	}
	waitFor(t, page, "the page connects", 20*time.Second, func(s pageState) bool { return s.State == "open" })

	// Live events: the tenant's own, of both types; another tenant's is not shown.
	var want []string
	for _, topic := range []string{completed, failed, completed, completed, failed} {
		want = append(want, publish(topic, "merch_abc"))
	}
	other := publish(completed, "merch_other")
	want = append(want, publish(failed, "merch_abc")) // after the other tenant's: it was filtered, not late
	s := waitFor(t, page, "the live events", 20*time.Second, hasAll(want))
	checkExactly(t, s, want, other)
	checkRow(t, page, want[0], completed, "10.01 EUR", "merch_abc")

	// The server dies; events are published while it is down.
	began := time.Now()
	srv.kill()
	waitFor(t, page, "the page notices", 10*time.Second, func(s pageState) bool { return s.State != "open" })
	var missed []string
	for _, topic := range []string{failed, completed, completed, failed} {
		missed = append(missed, publish(topic, "merch_abc"))
	}
	srv.start() // on the same port

	// EventSource reconnects by itself (retry: 3000) with Last-Event-ID, and
	// the new server replays what the page missed from Kafka.
	want = append(want, missed...)
	s = waitFor(t, page, "the missed events", 20*time.Second, hasAll(want))
	t.Logf("missed events shown %v after the kill (reconnections %d, EventSources recreated by the page %d)",
		time.Since(began).Round(100*time.Millisecond), s.Opens-1, s.Recreated)
	if s.State != "open" {
		t.Errorf("state %q after the resume, want open", s.State)
	}

	// Live again after the resume.
	want = append(want, publish(completed, "merch_abc"))
	waitFor(t, page, "a live event after the resume", 20*time.Second, hasAll(want))
	time.Sleep(time.Second) // a late duplicate would show by now
	s = state(t, page)
	checkExactly(t, s, want, other)
	if s.Opens != 2 || s.Recreated != 0 {
		// A recreated EventSource means the browser gave up on its own (a
		// non-200 answer while the server was starting); the page then resumes
		// with ?last_event_id=. Worth knowing, not a failure of the resume.
		t.Logf("EventSource opened %d times, recreated by the page %d times", s.Opens, s.Recreated)
	}
}

// pageState is what the page exposes of itself.
type pageState struct {
	State     string   `json:"state"`
	IDs       []string `json:"ids"`       // data-id of the rows (message ids), in the page's order (newest first)
	EventIDs  []string `json:"event_ids"` // data-event-id of the rows (SSE event ids), in the same order
	Opens     int      `json:"opens"`
	Recreated int      `json:"recreated"`
}

const stateJS = `JSON.stringify({
	state: document.getElementById("state").dataset.state,
	ids: Array.from(document.querySelectorAll("#events li")).map(li => li.dataset.id),
	event_ids: Array.from(document.querySelectorAll("#events li")).map(li => li.dataset.eventId),
	opens: Number(document.body.dataset.opens || 0),
	recreated: Number(document.body.dataset.recreated || 0),
})`

func state(t *testing.T, page context.Context) pageState {
	t.Helper()
	raw, err := chromedp.Run(page, chromedp.Evaluate[string](stateJS))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	var s pageState
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatalf("page state %q: %v", raw, err)
	}
	return s
}

// waitFor polls the page until ok, and fails the test after timeout.
func waitFor(t *testing.T, page context.Context, what string, timeout time.Duration, ok func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := state(t, page)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; the page has state %q, opens %d, recreated %d, rows %v",
				what, timeout, s.State, s.Opens, s.Recreated, s.IDs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func hasAll(ids []string) func(pageState) bool {
	return func(s pageState) bool {
		for _, id := range ids {
			if !slices.Contains(s.IDs, id) {
				return false
			}
		}
		return true
	}
}

// checkExactly fails unless the page lists each of want exactly once and
// nothing else (in particular not absent).
func checkExactly(t *testing.T, s pageState, want []string, absent ...string) {
	t.Helper()
	// Each row's message id is the first part of its SSE event id, which
	// carries a position after it (what the page resends to resume).
	for i, id := range s.IDs {
		if i >= len(s.EventIDs) || sse.MessageID(s.EventIDs[i]) != id || len(s.EventIDs[i]) <= len(id)+1 {
			t.Errorf("row %d: message id %q, event id %q", i, id, s.EventIDs[min(i, len(s.EventIDs)-1)])
		}
	}
	seen := map[string]int{}
	for _, id := range s.IDs {
		seen[id]++
	}
	for id, c := range seen {
		if c > 1 {
			t.Errorf("event %s shown %d times", id, c)
		}
		if !slices.Contains(want, id) {
			t.Errorf("event %s shown, not expected", id)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("event %s not shown", id)
		}
	}
	for _, id := range absent {
		if seen[id] > 0 {
			t.Errorf("event %s of another tenant shown", id)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// checkRow checks what the row of one event shows.
func checkRow(t *testing.T, page context.Context, id, typ, amount, merchant string) {
	t.Helper()
	js := fmt.Sprintf(`Array.from(document.querySelector('#events li[data-id=%q]').children).map(c => c.textContent)`, id)
	cells, err := chromedp.Run(page, chromedp.Evaluate[[]string](js))
	if err != nil {
		t.Fatalf("row of %s: %v", id, err)
	}
	if want := []string{typ, id, amount, merchant}; !slices.Equal(cells, want) {
		t.Errorf("row of %s shows %q, want %q", id, cells, want)
	}
}

// sseServer is `kbus serve sse` as a child process.
type sseServer struct {
	t    *testing.T
	bin  string
	addr string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer // both runs' output, logged when the test fails
}

func (s *sseServer) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(b)
}

// start runs the server and waits until it answers /healthz.
func (s *sseServer) start() {
	t := s.t
	t.Helper()
	cmd := exec.Command(s.bin, append(s.args, "--addr", s.addr)...)
	cmd.Stdout, cmd.Stderr = s, s
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kbus serve sse: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(s.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-s.done:
			t.Fatalf("kbus serve sse exited: %s\n%s", cmd.ProcessState, s.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kbus serve sse does not answer on %s: %v\n%s", s.addr, err, s.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the server abruptly (SIGKILL: no goodbye to the streams).
func (s *sseServer) kill() {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Fatal("kbus serve sse did not die")
	}
}

func (s *sseServer) stop() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.t.Failed() {
		s.t.Logf("kbus serve sse output:\n%s", s.output())
	}
}

func (s *sseServer) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// newBrowser starts headless Chromium with the flags this machine's closed
// network needs and a fresh profile, and returns a tab's context.
func newBrowser(t *testing.T, ctx context.Context, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	page, cancelPage := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelPage(); cancelAlloc() })
	// The first call starts the browser, which lives as long as its context:
	// no timeout of its own here (the test's context bounds it).
	if err := chromedp.Do(page); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return page
}

// chromiumPath returns the browser to drive: $KBUS_CHROMIUM or
// /usr/bin/chromium. Without it the test skips, or fails under
// KBUS_REQUIRE_SERVICES=1.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("KBUS_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		msg := fmt.Sprintf("Chromium is not available: %v (bash scripts/chromium.sh installs it)", err)
		if os.Getenv(kbustest.RequireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (set " + kbustest.RequireEnv + "=1 to fail instead)")
	}
	return path
}

// repoRoot is the kbus repository: this module's parent directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "kbus")); err != nil {
		t.Fatalf("not the kbus repository: %s: %v", root, err)
	}
	return root
}

// buildKbus builds the kbus binary from the repository's source.
func buildKbus(t *testing.T, root string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kbus")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kbus")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kbus: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
