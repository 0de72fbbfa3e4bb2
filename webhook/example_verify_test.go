package webhook_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/kbus-dev/kbus/webhook"
)

// The sender signs the timestamp and the body with the endpoint's secret.
func ExampleSign() {
	body := []byte(`{"a":1}`)
	fmt.Println(webhook.Sign("key", 1614265330, body))
	// Output:
	// sha256=8f5581542a67b1f461ff28b4b331aa509941d0b0aa9877315774e6f26e8a4103
}

// The receiver checks the X-Webhook-Signature and X-Webhook-Timestamp
// headers against the secret it was given, and tells a tampered body from a
// stale delivery.
func ExampleVerify() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","type":"payment.completed"}`)

	// What the dispatcher sends:
	now := time.Now().Unix()
	timestamp := strconv.FormatInt(now, 10)
	signature := webhook.Sign(secret, now, body)

	// What the receiver does with the headers:
	fmt.Println(webhook.Verify(secret, body, timestamp, signature, 0))

	tampered := []byte(strings.Replace(string(body), "completed", "refunded", 1))
	err := webhook.Verify(secret, tampered, timestamp, signature, 0)
	fmt.Println(errors.Is(err, webhook.ErrBadSignature), err)

	hourAgo := now - 3600
	err = webhook.Verify(secret, body, strconv.FormatInt(hourAgo, 10), webhook.Sign(secret, hourAgo, body), 0)
	fmt.Println(errors.Is(err, webhook.ErrTooOld))
	// Output:
	// <nil>
	// true webhook: signature mismatch
	// true
}

// A receiver wraps its handler in the Verifier's middleware: unverifiable
// requests get 401 before they reach it.
func ExampleVerifier_Middleware() {
	v := &webhook.Verifier{Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // verified, and restored by the middleware
		fmt.Printf("handling %s: %s\n", r.Header.Get(webhook.HeaderID), body)
	}))

	body := `{"amount":4999}`
	r := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
	webhook.SetHeaders(r.Header, "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", time.Now().Unix(), []byte(body), v.Secrets, false)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code)

	forged := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(`{"amount":1}`))
	forged.Header = r.Header.Clone()
	w = httptest.NewRecorder()
	h.ServeHTTP(w, forged)
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// handling msg_01HM6AQH5VX7K9PAYM3NTQ8RSW: {"amount":4999}
	// 200
	// 401 {"error":{"code":"invalid_signature","message":"webhook: signature mismatch"}}
}

// The dispatcher's client dials through a DialGuard, so that an endpoint
// URL cannot reach the internal network, whatever its host name resolves to.
func ExampleDialGuard() {
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: webhook.DialGuard{}.Control}
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext: dialer.DialContext,
			Proxy:       nil, // through a proxy, the guard would see only the proxy's address
		},
	}
	_, err := client.Post("http://169.254.169.254/latest/meta-data/", "application/json", nil)
	fmt.Println(errors.Is(err, webhook.ErrForbiddenAddress))
	// Output: true
}
