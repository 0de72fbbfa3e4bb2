package webhook_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/webhook"
)

const (
	testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	testID     = "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW"
	testBody   = `{"id":"msg_01HM6AQH5VX7K9PAYM3NTQ8RSW","type":"payment.completed","data":{"amount":4999}}`
)

func TestVerify(t *testing.T) {
	now := time.Now().Unix()
	ts := strconv.FormatInt(now, 10)
	sig := webhook.Sign(testSecret, now, []byte(testBody))
	old := strconv.FormatInt(now-int64(webhook.DefaultTolerance/time.Second)-60, 10)
	future := strconv.FormatInt(now+int64(webhook.DefaultTolerance/time.Second)+60, 10)
	signAt := func(ts string) string {
		n, _ := strconv.ParseInt(ts, 10, 64)
		return webhook.Sign(testSecret, n, []byte(testBody))
	}

	tests := []struct {
		name      string
		secret    string
		body      string
		ts, sig   string
		tolerance time.Duration
		want      error
	}{
		{"valid", testSecret, testBody, ts, sig, 0, nil},
		{"valid among several", testSecret, testBody, ts, "sha256=00ff, " + sig + ",sha512=abc", 0, nil},
		{"upper-case hex", testSecret, testBody, ts, "sha256=" + strings.ToUpper(strings.TrimPrefix(sig, "sha256=")), 0, nil},
		{"tampered body", testSecret, strings.Replace(testBody, "4999", "1", 1), ts, sig, 0, webhook.ErrBadSignature},
		{"wrong secret", "whsec_other", testBody, ts, sig, 0, webhook.ErrBadSignature},
		{"empty secret", "", testBody, ts, webhook.Sign("", now, []byte(testBody)), 0, webhook.ErrBadSignature},
		{"timestamp not the signed one", testSecret, testBody, strconv.FormatInt(now-1, 10), sig, 0, webhook.ErrBadSignature},
		{"garbage signature", testSecret, testBody, ts, "sha256=zz", 0, webhook.ErrBadSignature},
		{"unknown scheme only", testSecret, testBody, ts, strings.Replace(sig, "sha256=", "md5=", 1), 0, webhook.ErrBadSignature},
		{"missing signature", testSecret, testBody, ts, "", 0, webhook.ErrNoSignature},
		{"blank signature", testSecret, testBody, ts, "  ", 0, webhook.ErrNoSignature},
		{"missing timestamp", testSecret, testBody, "", sig, 0, webhook.ErrTimestamp},
		{"malformed timestamp", testSecret, testBody, "12:30", sig, 0, webhook.ErrTimestamp},
		{"signed timestamp", testSecret, testBody, "-" + ts, sig, 0, webhook.ErrTimestamp},
		{"huge timestamp", testSecret, testBody, "99999999999999999999", sig, 0, webhook.ErrTimestamp},
		{"too old", testSecret, testBody, old, signAt(old), 0, webhook.ErrTooOld},
		{"too new", testSecret, testBody, future, signAt(future), 0, webhook.ErrTooNew},
		{"old but within a wide tolerance", testSecret, testBody, old, signAt(old), time.Hour, nil},
		{"recent but outside a narrow tolerance", testSecret, testBody, strconv.FormatInt(now-30, 10), signAt(strconv.FormatInt(now-30, 10)), 10 * time.Second, webhook.ErrTooOld},
	}
	sentinels := []error{webhook.ErrNoSignature, webhook.ErrTimestamp, webhook.ErrBadSignature, webhook.ErrTooOld, webhook.ErrTooNew}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(tt.secret, []byte(tt.body), tt.ts, tt.sig, tt.tolerance)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
			for _, s := range sentinels {
				if s != tt.want && errors.Is(err, s) {
					t.Errorf("Verify: %v also matches %v", err, s)
				}
			}
		})
	}
}

func TestVerifyStandard(t *testing.T) {
	// The Standard Webhooks published vector, verified at its own time.
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		id     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		body   = `{"test": 2432232314}`
		sig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	v := &webhook.Verifier{Secrets: []string{secret}, Now: func() time.Time { return time.Unix(1614265330+10, 0) }}
	req := func(id, ts, sig, body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
		for k, val := range map[string]string{webhook.StdHeaderID: id, webhook.StdHeaderTimestamp: ts, webhook.StdHeaderSignature: sig} {
			if val != "" {
				r.Header.Set(k, val)
			}
		}
		return r
	}
	tests := []struct {
		name             string
		id, ts, sig, bod string
		want             error
	}{
		{"published vector", id, "1614265330", sig, body, nil},
		{"several versions", id, "1614265330", "v1a,abc v1,AAAA " + sig, body, nil},
		{"tampered body", id, "1614265330", sig, `{"test": 1}`, webhook.ErrBadSignature},
		{"other id", "msg_other", "1614265330", sig, body, webhook.ErrBadSignature},
		{"missing id", "", "1614265330", sig, body, webhook.ErrBadSignature},
		{"missing signature", id, "1614265330", "", body, webhook.ErrNoSignature},
		{"missing timestamp", id, "", sig, body, webhook.ErrTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.VerifyRequest(req(tt.id, tt.ts, tt.sig, tt.bod))
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("VerifyRequest: %v, want %v", err, tt.want)
			}
			if string(got) != tt.bod {
				t.Errorf("body = %q, want %q", got, tt.bod)
			}
		})
	}

	// The function, with the real clock: the vector is years old.
	if err := webhook.VerifyStandard(secret, id, "1614265330", sig, []byte(body), 0); !errors.Is(err, webhook.ErrTooOld) {
		t.Errorf("VerifyStandard(now) = %v, want ErrTooOld", err)
	}
	if err := webhook.VerifyStandard(secret, id, "1614265330", sig, []byte(body), 100*365*24*time.Hour); err != nil {
		t.Errorf("VerifyStandard(wide tolerance) = %v", err)
	}
}

// signedRequest returns a POST of body signed at ts with secrets, with
// the X-Webhook-* headers, and the Standard set too when std is true.
func signedRequest(body string, ts int64, std bool, secrets ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	webhook.SetHeaders(r.Header, testID, ts, []byte(body), secrets, std)
	return r
}

func TestVerifierRotation(t *testing.T) {
	const oldS, newS = "whsec_b2xkIHNlY3JldCBvbGQgc2VjcmV0IG9sZCE=", "whsec_bmV3IHNlY3JldCBuZXcgc2VjcmV0IG5ldyE="
	now := time.Unix(1705314600, 0)
	clock := func() time.Time { return now }
	both := &webhook.Verifier{Secrets: []string{oldS, newS}, Now: clock}
	onlyOld := &webhook.Verifier{Secrets: []string{oldS}, Now: clock}
	onlyNew := &webhook.Verifier{Secrets: []string{newS}, Now: clock}
	none := &webhook.Verifier{Now: clock}

	tests := []struct {
		name    string
		v       *webhook.Verifier
		signers []string
		want    error
	}{
		{"receiver knows both, sender old", both, []string{oldS}, nil},
		{"receiver knows both, sender new", both, []string{newS}, nil},
		{"receiver old, sender both", onlyOld, []string{oldS, newS}, nil},
		{"receiver new, sender both", onlyNew, []string{oldS, newS}, nil},
		{"receiver new, sender old", onlyNew, []string{oldS}, webhook.ErrBadSignature},
		{"receiver without secrets", none, []string{oldS}, webhook.ErrBadSignature},
	}
	for _, tt := range tests {
		for _, std := range []bool{false, true} {
			r := signedRequest(testBody, now.Unix(), std, tt.signers...)
			if std {
				r.Header.Del(webhook.HeaderSignature)
				r.Header.Del(webhook.HeaderTimestamp)
			}
			if _, err := tt.v.VerifyRequest(r); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("%s (standard headers %v): %v, want %v", tt.name, std, err, tt.want)
			}
		}
	}
}

func TestVerifierRequest(t *testing.T) {
	now := time.Unix(1705314600, 0)
	v := &webhook.Verifier{Secrets: []string{testSecret}, Now: func() time.Time { return now }, MaxBodyBytes: 1000}

	r := signedRequest(testBody, now.Unix(), true, testSecret)
	body, err := v.VerifyRequest(r)
	if err != nil || string(body) != testBody {
		t.Fatalf("VerifyRequest = %q, %v", body, err)
	}
	again, _ := io.ReadAll(r.Body)
	if string(again) != testBody || r.ContentLength != int64(len(testBody)) {
		t.Errorf("restored body = %q (ContentLength %d)", again, r.ContentLength)
	}

	for _, tc := range []struct {
		name string
		edit func(r *http.Request)
		want error
	}{
		{"no headers", func(r *http.Request) { r.Header = http.Header{} }, webhook.ErrNoSignature},
		{"no signature", func(r *http.Request) { r.Header.Del(webhook.HeaderSignature) }, webhook.ErrNoSignature},
		{"no timestamp", func(r *http.Request) { r.Header.Del(webhook.HeaderTimestamp) }, webhook.ErrTimestamp},
		{"too old", func(r *http.Request) { v.Now = func() time.Time { return now.Add(time.Hour) } }, webhook.ErrTooOld},
		{"too new", func(r *http.Request) { v.Now = func() time.Time { return now.Add(-time.Hour) } }, webhook.ErrTooNew},
	} {
		r := signedRequest(testBody, now.Unix(), false, testSecret)
		v.Now = func() time.Time { return now }
		tc.edit(r)
		if _, err := v.VerifyRequest(r); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		// The body is restored even when verification fails.
		if b, _ := io.ReadAll(r.Body); string(b) != testBody {
			t.Errorf("%s: restored body %q", tc.name, b)
		}
	}
	v.Now = func() time.Time { return now }

	big := strings.Repeat("x", 1001)
	if _, err := v.VerifyRequest(signedRequest(big, now.Unix(), false, testSecret)); !errors.Is(err, webhook.ErrBodyTooLarge) {
		t.Errorf("large body: %v, want ErrBodyTooLarge", err)
	}
	exact := strings.Repeat("x", 1000)
	if _, err := v.VerifyRequest(signedRequest(exact, now.Unix(), false, testSecret)); err != nil {
		t.Errorf("body at the limit: %v", err)
	}
}

func TestMiddleware(t *testing.T) {
	now := time.Unix(1705314600, 0)
	v := &webhook.Verifier{Secrets: []string{testSecret}, Now: func() time.Time { return now }, MaxBodyBytes: 1 << 10}
	var calls int
	var seen string
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		b, _ := io.ReadAll(r.Body)
		seen = string(b)
		w.WriteHeader(http.StatusNoContent)
	}))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(testBody, now.Unix(), false, testSecret))
	if w.Code != http.StatusNoContent || calls != 1 || seen != testBody {
		t.Fatalf("signed: status %d, calls %d, body %q", w.Code, calls, seen)
	}

	for _, tc := range []struct {
		name   string
		r      *http.Request
		status int
		code   string
	}{
		{"wrong secret", signedRequest(testBody, now.Unix(), false, "whsec_wrong"), 401, "invalid_signature"},
		{"unsigned", httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(testBody)), 401, "invalid_signature"},
		{"stale", signedRequest(testBody, now.Unix()-3600, false, testSecret), 401, "invalid_signature"},
		{"too large", signedRequest(strings.Repeat("x", 2<<10), now.Unix(), false, testSecret), 413, "body_too_large"},
	} {
		calls = 0
		w := httptest.NewRecorder()
		h.ServeHTTP(w, tc.r)
		if w.Code != tc.status || calls != 0 {
			t.Errorf("%s: status %d, calls %d; want %d, 0", tc.name, w.Code, calls, tc.status)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
		var got struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Error.Code != tc.code || got.Error.Message == "" {
			t.Errorf("%s: body %s (%v), want code %q", tc.name, w.Body, err, tc.code)
		}
	}
}
