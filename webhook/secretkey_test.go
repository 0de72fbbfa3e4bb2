package webhook_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/webhook"
)

// With a SecretKey the signing secret is stored encrypted: the database
// never holds it in clear, a dispatcher without the key cannot sign (and
// sends nothing), and one with the key signs verifiably, also after a
// rotation.
func TestSecretsEncryptedAtRest(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	w := newWorld(t, func(c *webhook.APIConfig) { c.SecretKey = key })
	rcv := newReceiver(t, 200)
	ep := w.register(w.keyA, rcv.URL+"/hooks")

	var stored string
	if err := w.db.Pool.QueryRow(context.Background(), `SELECT secret FROM webhook_endpoints WHERE id = $1`, ep.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "enc:v1:") || strings.Contains(stored, strings.TrimPrefix(ep.Secret, "whsec_")) {
		t.Fatalf("stored secret %q: want it encrypted", stored)
	}

	// No key: nothing is sent.
	w.publish("merch_a", 100)
	stop := run(t, w.dispatcher().Run)
	time.Sleep(time.Second)
	stop()
	if n := rcv.count(); n != 0 {
		t.Fatalf("a dispatcher without the key sent %d requests", n)
	}

	// The key: delivered, signed with the secret the API returned.
	run(t, w.dispatcher(func(c *webhook.DispatcherConfig) { c.SecretKey = key }).Run)
	waitFor(t, "the delivery", func() bool { return rcv.count() == 1 })
	rcv.mu.Lock()
	req, body := rcv.got[0], rcv.body[0]
	rcv.mu.Unlock()
	if err := webhook.Verify(ep.Secret, body, req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature), 0); err != nil {
		t.Errorf("Verify: %v", err)
	}

	// A rotation stores the new secret encrypted too; both sign in the grace period.
	var rot struct {
		Secret string `json:"secret"`
	}
	if code := w.call(w.keyA, "POST", "/webhooks/"+ep.ID+"/rotate-secret", nil, &rot); code != http.StatusOK {
		t.Fatalf("rotate: %d", code)
	}
	var cur, prev string
	if err := w.db.Pool.QueryRow(context.Background(), `SELECT secret, previous_secret FROM webhook_endpoints WHERE id = $1`, ep.ID).Scan(&cur, &prev); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cur, "enc:v1:") || prev != stored {
		t.Fatalf("after rotation: secret %q previous %q", cur, prev)
	}
	w.publish("merch_a", 200)
	waitFor(t, "the second delivery", func() bool { return rcv.count() == 2 })
	rcv.mu.Lock()
	req, body = rcv.got[1], rcv.body[1]
	rcv.mu.Unlock()
	for _, secret := range []string{rot.Secret, ep.Secret} {
		if err := webhook.Verify(secret, body, req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature), 0); err != nil {
			t.Errorf("Verify with %s…: %v", secret[:10], err)
		}
	}
}

func TestParseSecretKey(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	if k, err := webhook.ParseSecretKey(good + "\n"); err != nil || len(k) != 32 {
		t.Errorf("ParseSecretKey(32 bytes) = %d bytes, %v", len(k), err)
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		if _, err := webhook.ParseSecretKey(bad); err == nil {
			t.Errorf("ParseSecretKey(%q): no error", bad)
		}
	}
	if _, err := webhook.NewAPI(webhook.APIConfig{SecretKey: make([]byte, 16)}); err == nil {
		t.Error("NewAPI with a 16-byte SecretKey: no error")
	}
}
