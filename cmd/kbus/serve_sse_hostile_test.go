package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/kbustest"
)

// startKbusServer runs `kbus <args>` (a serve command) in-process until the
// test ends, and returns the base URL it prints and its standard error (the
// JSON logs).
func startKbusServer(t *testing.T, args ...string) (base string, logs *syncBuffer) {
	t.Helper()
	var stdout syncBuffer
	logs = &syncBuffer{}
	root := newRootCmd(&stdout, logs)
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("kbus %s returned %v", args[len(args)-1], err)
			}
		case <-time.After(60 * time.Second):
			t.Error("the server did not stop within 60 s of its context ending")
		}
	})
	addrRE := regexp.MustCompile(`on (http://[0-9.:]+)`)
	for deadline := time.Now().Add(60 * time.Second); ; {
		if m := addrRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], logs
		}
		select {
		case err := <-done:
			t.Fatalf("the server exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start:\n%s\n%s", stdout.String(), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// doReq sends method url with headers and returns the status, the headers
// and up to 1 MiB of the body (none of an event stream).
func doReq(t *testing.T, method, rawURL string, hdr http.Header) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %.80s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, resp.Header, ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, string(b)
}

// waitClosedByServer reads conn until the server closes it, failing if it
// is still open after d.
func waitClosedByServer(t *testing.T, conn net.Conn, what string, d time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("%s: the server kept the connection open for %s", what, d)
	}
}

// checkMetricsEndpoint checks /metrics of base: GET and HEAD without a key
// (scrapers do not send one), 405 for other methods, huge query strings
// bounded by the server's header limit of maxHeader bytes; it returns the
// metrics.
func checkMetricsEndpoint(t *testing.T, base string, maxHeader int, want string) string {
	t.Helper()
	status, _, body := doReq(t, "GET", base+"/metrics", nil)
	if status != 200 || !strings.Contains(body, want) {
		t.Fatalf("GET /metrics without a key: %d, want 200 with %s:\n%.300s", status, want, body)
	}
	if status, _, _ := doReq(t, "HEAD", base+"/metrics", nil); status != 200 {
		t.Errorf("HEAD /metrics: %d", status)
	}
	if status, _, _ := doReq(t, "GET", base+"/metrics", http.Header{"Authorization": {"Bearer kbus_garbage"}}); status != 200 {
		t.Errorf("GET /metrics with a garbage key: %d, want 200 (no key needed)", status)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"} {
		status, h, _ := doReq(t, m, base+"/metrics", nil)
		if status != http.StatusMethodNotAllowed || !strings.Contains(h.Get("Allow"), "GET") {
			t.Errorf("%s /metrics: %d (Allow %q), want 405", m, status, h.Get("Allow"))
		}
	}
	// A query string within the header limit is ignored, one beyond is 431
	// (net/http allows 4 KiB more than MaxHeaderBytes).
	if status, _, _ := doReq(t, "GET", base+"/metrics?q="+strings.Repeat("x", maxHeader/2)+"&name[]=kbus_%00%ff", nil); status != 200 {
		t.Errorf("GET /metrics with a %d-byte query: %d, want 200", maxHeader/2, status)
	}
	if status, _, _ := doReq(t, "GET", base+"/metrics?q="+strings.Repeat("x", maxHeader+8<<10), nil); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("GET /metrics with a %d-byte query: %d, want 431", maxHeader+8<<10, status)
	}
	return body
}

// noSecrets fails when any key's secret part occurs in text.
func noSecrets(t *testing.T, what, text string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		sec := k[len("kbus_")+26+1:] // after the id (a ULID); a secret may hold "_"
		if strings.Contains(text, sec) {
			t.Errorf("a key's secret %.8s… occurs in %s", sec, what)
		}
	}
}

func TestServeSSEHostileConnections(t *testing.T) {
	db := kbustest.DB(t)
	topic := kbustest.Topic(t, 1)
	ctx := context.Background()
	keys := apikey.NewStore(db.Pool)
	_, key, err := keys.Create(ctx, "merch_a", "dashboard", false)
	if err != nil {
		t.Fatal(err)
	}
	revokedKey, revoked, err := keys.Create(ctx, "merch_a", "revoked", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Revoke(ctx, revokedKey.ID); err != nil {
		t.Fatal(err)
	}
	const maxHeader = 8 << 10
	base, logs := startKbusServer(t, "--brokers", strings.Join(kbustest.Brokers(t), ","), "--database-url", db.URL,
		"serve", "sse", "--addr", "127.0.0.1:0", "--event-types", topic, "--key-check-interval", "200ms",
		"--read-header-timeout", "200ms", "--idle-timeout", "200ms", "--max-header-bytes", fmt.Sprint(maxHeader))
	host := strings.TrimPrefix(base, "http://")
	stream := base + "/events/stream?types=" + topic

	t.Run("slow headers are cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Trickle a header a byte at a time, never ending it.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			msg := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 10_000)
			for i := range len(msg) {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := conn.Write([]byte{msg[i]}); err != nil {
					return
				}
			}
		})
		waitClosedByServer(t, conn, "a client trickling its headers", 10*time.Second)
		close(stop)
		wg.Wait()
	})

	t.Run("idle unauthenticated connections are closed", func(t *testing.T) {
		var conns []net.Conn
		for range 50 {
			c, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns = append(conns, c)
		}
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Go(func() { waitClosedByServer(t, c, fmt.Sprint("silent connection ", i), 10*time.Second) })
		}
		wg.Wait()
	})

	t.Run("kept-alive connections are closed when idle", func(t *testing.T) {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("GET /healthz: %d, close %v", resp.StatusCode, resp.Close)
		}
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := br.ReadByte(); err == nil {
			t.Fatal("the server sent more after the response")
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("an idle kept-alive connection is still open after 10 s")
		}
	})

	// Beyond MaxHeaderBytes and net/http's 4 KiB of slack.
	t.Run("oversized headers are refused", func(t *testing.T) {
		auth := http.Header{"Authorization": {"Bearer " + key}}
		for name, h := range map[string]http.Header{
			"Last-Event-ID": {"Last-Event-Id": {"msg_" + strings.Repeat("A", 2*maxHeader)}},
			"Authorization": {"Authorization": {"Bearer kbus_" + strings.Repeat("a", 2*maxHeader)}},
			"many headers": func() http.Header {
				h := auth.Clone()
				for i := range 2000 {
					h.Set(fmt.Sprint("X-H", i), "v")
				}
				return h
			}(),
		} {
			if status, _, _ := doReq(t, "GET", stream, h); status != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("an oversized %s: %d, want 431", name, status)
			}
		}
		if status, _, _ := doReq(t, "GET", stream+"&x="+strings.Repeat("y", 2*maxHeader), auth); status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("an oversized URL: %d, want 431", status)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		// Streams opened and refused with keys, in the header and the query.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", stream+"&access_token="+url.QueryEscape(key), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("stream: %d", resp.StatusCode)
		}
		for _, k := range []string{revoked, key + "x", "kbus_garbage"} {
			if status, _, _ := doReq(t, "GET", stream, http.Header{"Authorization": {"Bearer " + k}}); status != 401 {
				t.Errorf("key %.12s…: %d, want 401", k, status)
			}
		}
		body := checkMetricsEndpoint(t, base, maxHeader, "kbus_sse_clients 1")
		noSecrets(t, "/metrics", body, key, revoked)
	})

	t.Run("a revoked key's stream ends", func(t *testing.T) {
		_, k2, err := keys.Create(ctx, "merch_a", "to revoke", false)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", stream, nil)
		req.Header.Set("Authorization", "Bearer "+k2)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		id := strings.Split(k2, "_")[1]
		if err := keys.Revoke(ctx, id); err != nil {
			t.Fatal(err)
		}
		ended := make(chan string, 1)
		go func() { b, _ := io.ReadAll(resp.Body); ended <- string(b) }()
		select {
		case b := <-ended:
			if !strings.Contains(b, "API key revoked") {
				t.Errorf("the stream ended without saying why: %q", b)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the stream of a revoked key is open 15 s after --key-check-interval 200ms")
		}
		noSecrets(t, "the logs", logs.String(), k2)
	})
	noSecrets(t, "the logs", logs.String(), key, revoked)
}

func TestServeWebhooksMetricsHostile(t *testing.T) {
	db, topic, group, key := webhookFixture(t, "merch_a")
	base, logs := startKbusServer(t, "--brokers", strings.Join(kbustest.Brokers(t), ","), "--database-url", db.URL,
		"serve", "webhooks", "--addr", "127.0.0.1:0", "--event-types", topic, "--group", group)
	for _, k := range []string{key, key + "x", "kbus_garbage"} {
		doReq(t, "GET", base+"/webhooks", http.Header{"Authorization": {"Bearer " + k}})
	}
	body := checkMetricsEndpoint(t, base, apiLimits.maxHeader, "kbus_webhook_attempt_duration_seconds")
	noSecrets(t, "/metrics", body, key)
	noSecrets(t, "the logs", logs.String(), key)
}
