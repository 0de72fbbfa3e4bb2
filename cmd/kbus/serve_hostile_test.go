package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/dlq"
	"github.com/kbus-dev/kbus/kbustest"
)

func TestHTTPLimitsDefaults(t *testing.T) {
	for name, l := range map[string]httpLimits{"apiLimits": apiLimits, "streamLimits": streamLimits} {
		if l.readHeader <= 0 || l.readHeader > 30*time.Second || l.idle <= 0 || l.maxHeader <= 0 || l.maxHeader > 1<<20 {
			t.Errorf("%s %+v: every server needs a header timeout, an idle timeout and a header limit", name, l)
		}
	}
	if apiLimits.read <= 0 {
		t.Errorf("apiLimits %+v: the webhook API needs a ReadTimeout against trickled bodies", apiLimits)
	}
	if streamLimits.read != 0 {
		t.Errorf("streamLimits %+v: a ReadTimeout would cancel every stream's context when it runs out", streamLimits)
	}
}

// webhookFixture is what a `kbus serve webhooks` test needs: a database
// schema, a topic, a consumer group (its DLQ topic deleted at cleanup) and
// an API key of tenant.
func webhookFixture(t *testing.T, tenant string) (db *kbustest.Database, topic, group, key string) {
	t.Helper()
	db = kbustest.DB(t)
	topic = kbustest.Topic(t, 1)
	group = kbustest.Name(t, "webhooks.")
	adm := kbustest.Admin(t)
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), dlq.Topic(group)) })
	_, key, err := apikey.NewStore(db.Pool).Create(context.Background(), tenant, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	return db, topic, group, key
}

// TestServeWebhooksHostileConnections runs `kbus serve webhooks` with small
// limits and sends it slow headers, an idle kept-alive connection, a
// trickled body, oversized headers and a 10 MiB body: each is cut off or
// refused, and the server goes on serving.
func TestServeWebhooksHostileConnections(t *testing.T) {
	db, topic, group, key := webhookFixture(t, "merch_a")
	const maxHeader = 8 << 10
	base, logs := startKbusServer(t, "--brokers", strings.Join(kbustest.Brokers(t), ","), "--database-url", db.URL,
		"serve", "webhooks", "--addr", "127.0.0.1:0", "--event-types", topic, "--group", group,
		"--allow-http-hosts", "127.0.0.1,0x7f000001,localhost", "--read-header-timeout", "200ms", "--read-timeout", "1s",
		"--idle-timeout", "300ms", "--max-header-bytes", fmt.Sprint(maxHeader))
	host := strings.TrimPrefix(base, "http://")
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// trickle writes one byte of b every interval until it is written or
	// the connection fails.
	trickle := func(c net.Conn, b []byte, interval time.Duration) {
		go func() {
			for i := range b {
				if _, err := c.Write(b[i : i+1]); err != nil {
					return
				}
				time.Sleep(interval)
			}
		}()
	}

	t.Run("headers sent byte by byte", func(t *testing.T) {
		c := dial()
		if _, err := io.WriteString(c, "GET /webhooks HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		// Each byte comes well within 200 ms; all of them would take 20 s.
		trickle(c, []byte("X-Slow: "+strings.Repeat("a", 400)+"\r\n\r\n"), 50*time.Millisecond)
		waitClosedByServer(t, c, "headers trickled for longer than --read-header-timeout", 10*time.Second)
	})

	t.Run("idle kept-alive connection", func(t *testing.T) {
		c := dial()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("GET /healthz: %d (close %v), want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		waitClosedByServer(t, c, "a connection idle for longer than --idle-timeout", 10*time.Second)
	})

	t.Run("body sent byte by byte", func(t *testing.T) {
		c := dial()
		body := `{"url":"https://a.example/x","events":["` + topic + `"],"description":"` + strings.Repeat("a", 200) + `"}`
		fmt.Fprintf(c, "POST /webhooks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", key, len(body))
		// 100 ms a byte: the whole body would take 30 s.
		trickle(c, []byte(body), 100*time.Millisecond)
		_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Errorf("a body trickled for longer than --read-timeout: no answer (%v), want 408", err)
		} else if resp.Body.Close(); resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("a body trickled for longer than --read-timeout: %d, want 408", resp.StatusCode)
		}
		waitClosedByServer(t, c, "a body trickled for longer than --read-timeout", 15*time.Second)
	})

	t.Run("oversized headers", func(t *testing.T) {
		for _, h := range []http.Header{
			{"X-Big": {strings.Repeat("a", 4*maxHeader)}},
			{"Authorization": {"Bearer " + strings.Repeat("k", 4*maxHeader)}},
			{"Cookie": {strings.Repeat("c=1; ", maxHeader)}},
		} {
			status, _, _ := doReq(t, "GET", base+"/webhooks", h)
			if status != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("%d bytes of headers: %d, want 431", 4*maxHeader, status)
			}
		}
		if status, _, _ := doReq(t, "GET", base+"/webhooks/"+strings.Repeat("w", 4*maxHeader), http.Header{"Authorization": {"Bearer " + key}}); status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a %d-byte path: %d, want 431", 4*maxHeader, status)
		}
	})

	t.Run("10 MiB body", func(t *testing.T) {
		c := dial()
		const size = 10 << 20
		fmt.Fprintf(c, "POST /webhooks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", key, size)
		go func() {
			_, _ = io.WriteString(c, `{"url":"https://a.example/x","description":"`)
			chunk := []byte(strings.Repeat("a", 64<<10))
			for sent := 0; sent < size; sent += len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to a 10 MiB body: %v", err)
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Code != "too_large" {
			t.Errorf("a 10 MiB body: %d %+v, want 413 too_large", resp.StatusCode, e)
		}
		waitClosedByServer(t, c, "the connection of a refused 10 MiB body", 10*time.Second)
	})

	t.Run("SSRF at registration", func(t *testing.T) {
		for _, u := range []string{"http://127.0.0.1:9/x", "http://0x7f000001/x", "http://localhost/x", "https://[::1]/x", "https://169.254.169.254/x"} {
			req, _ := http.NewRequest("POST", base+"/webhooks", strings.NewReader(fmt.Sprintf(`{"url":%q,"events":[%q]}`, u, topic)))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e struct {
				Error struct{ Code, Message, Field string }
			}
			_ = json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if resp.StatusCode != 400 || e.Error.Field != "url" || !strings.Contains(e.Error.Message, "not a public destination") {
				t.Errorf("register %s without --allow-loopback: %d %+v, want 400 on url", u, resp.StatusCode, e)
			}
		}
	})

	// The server still serves, logged no error, and no key.
	if status, _, _ := doReq(t, "GET", base+"/webhooks", http.Header{"Authorization": {"Bearer " + key}}); status != 200 {
		t.Errorf("GET /webhooks after the attacks: %d", status)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("the attacks logged errors:\n%s", logs.String())
	}
	noSecrets(t, "the logs", logs.String(), key)
}
