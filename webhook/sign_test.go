package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/kbus-dev/kbus/webhook"
)

// refSign is the X-Webhook-Signature scheme written out from its
// description: HMAC-SHA256 over timestamp + "." + body, hex, "sha256=" prefix.
func refSign(secret string, timestamp int64, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10) + "." + body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// refSignStandard is the Standard Webhooks v1 scheme written out from the
// specification: the key is the base64 decoding of the secret after
// "whsec_", the content id + "." + timestamp + "." + body, the signature
// "v1," + standard base64.
func refSignStandard(t *testing.T, secret, id string, timestamp int64, body string) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "." + body))
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestSignKnownAnswer(t *testing.T) {
	tests := []struct {
		secret string
		ts     int64
		body   string
	}{
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1614265330, `{"test": 2432232314}`},
		{"s3cret", 1705314600, `{"id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","type":"payment.completed"}`},
		{"k", 0, ""},
	}
	for _, tt := range tests {
		want := refSign(tt.secret, tt.ts, tt.body)
		if got := webhook.Sign(tt.secret, tt.ts, []byte(tt.body)); got != want {
			t.Errorf("Sign(%q, %d, %q) = %s, want %s", tt.secret, tt.ts, tt.body, got, want)
		}
	}

	// A fixed vector, so that a change of scheme cannot hide behind a
	// reference function changed the same way. Computed with
	//   printf '1614265330.{"a":1}' | openssl dgst -sha256 -hmac key
	const want = "sha256=8f5581542a67b1f461ff28b4b331aa509941d0b0aa9877315774e6f26e8a4103"
	if got := webhook.Sign("key", 1614265330, []byte(`{"a":1}`)); got != want {
		t.Errorf("Sign fixed vector = %s, want %s", got, want)
	}
}

func TestSignStandardKnownAnswer(t *testing.T) {
	// The test vector published with the Standard Webhooks reference
	// libraries (also checked with openssl).
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = 1614265330
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	if got := webhook.SignStandard(secret, id, ts, []byte(body)); got != want {
		t.Errorf("SignStandard = %s, want %s", got, want)
	}
	if got := refSignStandard(t, secret, id, ts, body); got != want {
		t.Errorf("reference = %s, want %s", got, want)
	}
	// A secret from NewSecret signs like the reference too.
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := webhook.SignStandard(s, id, ts, []byte(body)), refSignStandard(t, s, id, ts, body); got != want {
		t.Errorf("SignStandard(NewSecret()) = %s, want %s", got, want)
	}
}

func TestSignStandardNonBase64Secret(t *testing.T) {
	// "not base64!" cannot be decoded: its raw bytes after the prefix are
	// the key.
	m := hmac.New(sha256.New, []byte("not base64!"))
	m.Write([]byte("msg_1.100.body"))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	if got := webhook.SignStandard("whsec_not base64!", "msg_1", 100, []byte("body")); got != want {
		t.Errorf("SignStandard = %s, want %s", got, want)
	}
	if err := webhook.VerifyStandard("whsec_not base64!", "msg_1", "100", want, []byte("body"), 1<<62); err != nil {
		t.Errorf("VerifyStandard: %v", err)
	}
}

func TestSetHeaders(t *testing.T) {
	const id, ts, body = "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", int64(1705314600), `{"a":1}`
	old, cur := "whsec_b2xkIHNlY3JldCBvbGQgc2VjcmV0IG9sZCE=", "whsec_bmV3IHNlY3JldCBuZXcgc2VjcmV0IG5ldyE="

	h := http.Header{}
	h.Set(webhook.HeaderSignature, "stale")
	webhook.SetHeaders(h, id, ts, []byte(body), []string{old, "", cur}, false)
	if got := h.Get(webhook.HeaderID); got != id {
		t.Errorf("id = %q", got)
	}
	if got := h.Get(webhook.HeaderTimestamp); got != "1705314600" {
		t.Errorf("timestamp = %q", got)
	}
	wantSig := refSign(old, ts, body) + ", " + refSign(cur, ts, body)
	if got := h.Get(webhook.HeaderSignature); got != wantSig {
		t.Errorf("signature = %q, want %q", got, wantSig)
	}
	if h.Get(webhook.StdHeaderSignature) != "" || h.Get(webhook.StdHeaderID) != "" {
		t.Errorf("standard headers set with std=false: %v", h)
	}

	webhook.SetHeaders(h, id, ts, []byte(body), []string{old, cur}, true)
	if got := h.Get(webhook.StdHeaderID); got != id {
		t.Errorf("webhook-id = %q", got)
	}
	if got := h.Get(webhook.StdHeaderTimestamp); got != "1705314600" {
		t.Errorf("webhook-timestamp = %q", got)
	}
	wantStd := refSignStandard(t, old, id, ts, body) + " " + refSignStandard(t, cur, id, ts, body)
	if got := h.Get(webhook.StdHeaderSignature); got != wantStd {
		t.Errorf("webhook-signature = %q, want %q", got, wantStd)
	}

	// No secret: no signature header, not a stale one.
	webhook.SetHeaders(h, id, ts, []byte(body), nil, true)
	if got := h.Values(webhook.HeaderSignature); len(got) != 0 {
		t.Errorf("signature without secrets = %q", got)
	}
	if got := h.Values(webhook.StdHeaderSignature); len(got) != 0 {
		t.Errorf("webhook-signature without secrets = %q", got)
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		s, err := webhook.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := strings.CutPrefix(s, "whsec_")
		if !ok {
			t.Fatalf("%q lacks the whsec_ prefix", s)
		}
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			t.Fatalf("%q: not standard padded base64: %v", s, err)
		}
		if len(key) < 24 || len(key) > 32 {
			t.Errorf("%q: %d key bytes, want 24..32", s, len(key))
		}
		if seen[s] {
			t.Fatalf("NewSecret repeated %q", s)
		}
		seen[s] = true
	}
}
