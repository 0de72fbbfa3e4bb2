package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/kbustest"
	"github.com/kbus-dev/kbus/producer"
	"github.com/kbus-dev/kbus/webhook"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestServeWebhooksEndToEnd(t *testing.T) {
	db, topic, group, key := webhookFixture(t, "merch_abc")
	got := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer rcv.Close()

	// Signing secrets encrypted at rest with a key from a file.
	keyFile := filepath.Join(t.TempDir(), "webhook.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	root := newRootCmd(&stdout, &stderr)
	root.SetArgs([]string{"--brokers", strings.Join(kbustest.Brokers(t), ","), "--database-url", db.URL,
		"serve", "webhooks", "--addr", "127.0.0.1:0", "--event-types", topic, "--group", group,
		"--allow-http-hosts", "127.0.0.1", "--allow-loopback", "--schedule", "50ms,50ms", "--secret-key-file", keyFile})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve webhooks returned %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("serve webhooks did not stop within 60 s of its context ending")
		}
	}()

	addrRE := regexp.MustCompile(`on (http://[0-9.:]+)`)
	var base string
	for deadline := time.Now().Add(30 * time.Second); base == ""; {
		if m := addrRE.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the server did not start:\n%s\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	req, _ := http.NewRequest("POST", base+"/webhooks", strings.NewReader(fmt.Sprintf(`{"url":%q,"events":[%q]}`, rcv.URL, topic)))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ep struct{ ID, Secret string }
	_ = json.NewDecoder(resp.Body).Decode(&ep)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || ep.Secret == "" {
		t.Fatalf("register: %d %+v", resp.StatusCode, ep)
	}
	var stored string
	if err := db.Pool.QueryRow(context.Background(), `SELECT secret FROM webhook_endpoints WHERE id = $1`, ep.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "enc:v1:") {
		t.Errorf("stored secret %.20q…: want it encrypted with --secret-key-file's key", stored)
	}

	p, err := producer.New(producer.Brokers(kbustest.Brokers(t)...), producer.Name("payment-service"), producer.SkipSchemaValidation())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rcpt, err := p.Publish(context.Background(), topic, "pay_1", []byte(`{"payment_id":"pay_1","amount":4999,"merchant_id":"merch_abc"}`))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		body := <-bodies
		if r.Header.Get(webhook.HeaderID) != rcpt.MessageID {
			t.Fatalf("X-Webhook-Id %q, want %q", r.Header.Get(webhook.HeaderID), rcpt.MessageID)
		}
		if err := webhook.Verify(ep.Secret, body, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), 0); err != nil {
			t.Fatalf("signature: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no delivery within 60 s\n%s", stderr.String())
	}

	// The dispatcher counts the attempt once the receiver's answer is read:
	// poll briefly.
	var metrics []byte
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err = http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(metrics), "kbus_consumer_processed_total") &&
			strings.Contains(string(metrics), `kbus_webhook_attempts_total{outcome="success"} 1`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks the consumer's or the dispatcher's metrics:\n%.800s", metrics)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
