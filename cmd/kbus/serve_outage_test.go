package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kbus-dev/kbus/kbustest"
)

// gate is a TCP proxy to target that refuses every connection (accepts and
// closes it at once, as a server going down does) until open is called:
// a service that is down, then comes back, at a fixed address.
type gate struct {
	ln     net.Listener
	target string
	up     atomic.Bool
	wg     sync.WaitGroup
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target}
	g.wg.Go(g.accept)
	t.Cleanup(func() { _ = ln.Close(); g.wg.Wait() })
	return g
}

func (g *gate) addr() string { return g.ln.Addr().String() }
func (g *gate) open()        { g.up.Store(true) }

func (g *gate) accept() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		if !g.up.Load() {
			_ = c.Close()
			continue
		}
		g.wg.Go(func() {
			defer c.Close()
			s, err := net.Dial("tcp", g.target)
			if err != nil {
				return
			}
			defer s.Close()
			go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
			_, _ = io.Copy(c, s)
		})
	}
}

// TestServersWaitOutOutagesAtStart starts `kbus serve webhooks` and `kbus
// serve sse` while PostgreSQL and Kafka cannot be reached, then brings back
// PostgreSQL, then Kafka: neither server exits; each logs that it is
// retrying, and serves once both are back.
func TestServersWaitOutOutagesAtStart(t *testing.T) {
	db := kbustest.DB(t)
	brokers := kbustest.Brokers(t)
	topic := kbustest.Topic(t, 1)
	for _, kind := range []string{"webhooks", "sse"} {
		t.Run(kind, func(t *testing.T) {
			pg := newGate(t, mustURLHost(t, db.URL))
			kafka := newGate(t, brokers[0])
			dbURL, err := url.Parse(db.URL)
			if err != nil {
				t.Fatal(err)
			}
			dbURL.Host = pg.addr()
			args := []string{"--brokers", kafka.addr(), "--database-url", dbURL.String(), "serve", kind,
				"--addr", "127.0.0.1:0", "--event-types", topic}
			if kind == "webhooks" {
				args = append(args, "--group", kbustest.Name(t, "webhooks."))
			}
			var stdout, stderr syncBuffer
			root := newRootCmd(&stdout, &stderr)
			root.SetArgs(args)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- root.ExecuteContext(ctx) }()
			defer func() {
				cancel()
				select {
				case <-done:
				case <-time.After(60 * time.Second):
					t.Error("the server did not stop within 60 s of its context ending")
				}
			}()

			// until waits up to d for cond, failing the test if the server
			// exits meanwhile (while is what is down) or cond never holds.
			until := func(d time.Duration, while, what string, cond func() bool) {
				t.Helper()
				for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
					select {
					case err := <-done:
						done <- err // for the deferred wait
						t.Fatalf("serve %s exited while %s: %v\n%s", kind, while, err, stderr.String())
					default:
					}
					if time.Now().After(deadline) {
						t.Fatalf("serve %s: %s within %s, while %s:\n%s", kind, what, d, while, stderr.String())
					}
				}
			}
			logged := func(s string) func() bool { return func() bool { return strings.Contains(stderr.String(), s) } }
			stillUp := func(while string) {
				t.Helper()
				end := time.Now().Add(2 * time.Second)
				until(3*time.Second, while, "still running", func() bool { return time.Now().After(end) })
			}

			// Down: the server must keep trying, not exit.
			until(30*time.Second, "PostgreSQL was down", "no retry logged", logged("PostgreSQL unreachable; retrying"))
			stillUp("PostgreSQL was down")

			// PostgreSQL back, Kafka still down: still no exit.
			pg.open()
			if kind == "webhooks" {
				until(30*time.Second, "Kafka was down", "no retry logged", logged("no broker answers; retrying"))
			}
			stillUp("Kafka was down")

			// Both back: it serves.
			kafka.open()
			addrRE := regexp.MustCompile(`on (http://[0-9.:]+)`)
			var base string
			until(60*time.Second, "the services were back", "not serving", func() bool {
				if m := addrRE.FindStringSubmatch(stdout.String()); m != nil {
					base = m[1]
				}
				return base != ""
			})
			resp, err := http.Get(base + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/healthz: %s", resp.Status)
			}
		})
	}
}

func mustURLHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestPgUnavailable: the errors of a PostgreSQL restarting (as after the
// crash the soak injects: "the database system is not yet accepting
// connections") keep a server waiting; a wrong password or a failing
// migration does not.
func TestPgUnavailable(t *testing.T) {
	for code, want := range map[string]bool{
		"57P03": true,  // cannot_connect_now: starting up
		"57P01": true,  // admin_shutdown
		"57P02": true,  // crash_shutdown
		"53300": true,  // too_many_connections
		"08006": true,  // connection_failure
		"28P01": false, // invalid_password
		"3D000": false, // invalid_catalog_name: no such database
		"42601": false, // syntax_error (a migration)
	} {
		if got := pgUnavailable(&pgconn.PgError{Code: code}); got != want {
			t.Errorf("pgUnavailable(%s) = %v, want %v", code, got, want)
		}
	}
}
