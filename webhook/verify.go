package webhook

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verification errors, returned by Verify, VerifyStandard and
// Verifier.VerifyRequest, wrapped with details: test them with [errors.Is].
// Each names the check that failed; the checks run in this order, so
// ErrTooOld and ErrTooNew are only returned for correctly signed requests
// (a genuine but stale delivery, or a clock out of step).
var (
	// ErrNoSignature reports a request without a signature: the signature
	// header is absent or empty.
	ErrNoSignature = errors.New("webhook: no signature")

	// ErrTimestamp reports a timestamp header that is absent or not a
	// decimal number of unix seconds.
	ErrTimestamp = errors.New("webhook: missing or malformed timestamp")

	// ErrBadSignature reports that no signature matches the body under any
	// accepted secret: the body was altered, the secret is wrong, or the
	// signature is malformed.
	ErrBadSignature = errors.New("webhook: signature mismatch")

	// ErrTooOld reports a correctly signed request whose timestamp is older
	// than the tolerance allows: possibly a replay.
	ErrTooOld = errors.New("webhook: timestamp too old")

	// ErrTooNew reports a correctly signed request whose timestamp is
	// further in the future than the tolerance allows.
	ErrTooNew = errors.New("webhook: timestamp too far in the future")

	// ErrBodyTooLarge reports a request body over the Verifier's limit;
	// the signature is not checked.
	ErrBodyTooLarge = errors.New("webhook: request body too large")
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock, either way, when no tolerance is given.
const DefaultTolerance = 5 * time.Minute

// DefaultMaxBodyBytes is the largest request body a Verifier reads when
// its MaxBodyBytes is zero: 1 MiB.
const DefaultMaxBodyBytes = 1 << 20

// Verify checks a delivery signed with Sign. signature is the
// X-Webhook-Signature value, possibly several signatures separated by
// commas (during a rotation); timestamp is the X-Webhook-Timestamp value.
// It succeeds if any sha256= signature equals the HMAC of timestamp and body
// under secret (compared in constant time) and the timestamp is within
// tolerance of the current time. A tolerance of zero or less means
// DefaultTolerance; it is applied in whole seconds.
//
// The error wraps ErrNoSignature, ErrTimestamp, ErrBadSignature, ErrTooOld
// or ErrTooNew. An empty secret never verifies. Signatures of other schemes
// than sha256= are ignored, so senders may add schemes later.
func Verify(secret string, body []byte, timestamp, signature string, tolerance time.Duration) error {
	return verifyKbus([]string{secret}, body, timestamp, signature, tolerance, time.Now())
}

// VerifyStandard checks a delivery signed the Standard Webhooks way
// (SignStandard). id, timestamp and signatures are the webhook-id,
// webhook-timestamp and webhook-signature values; signatures may hold
// several space-separated "v1,<base64>" values, and values of other
// versions are ignored. The secret is decoded as SignStandard describes;
// tolerance and errors are as for Verify. An empty id is rejected with
// ErrBadSignature, since the id is part of what is signed.
func VerifyStandard(secret, id, timestamp, signatures string, body []byte, tolerance time.Duration) error {
	return verifyStandard([]string{secret}, id, body, timestamp, signatures, tolerance, time.Now())
}

// A Verifier verifies incoming deliveries on the receiver side.
//
// It accepts a delivery signed with any of its Secrets, so a secret can be
// rotated without losing deliveries: add the new secret, switch the sender
// (which signs with both during the overlap), then remove the old one.
//
// A Verifier is safe for concurrent use as long as its fields are not
// changed after first use.
type Verifier struct {
	// Secrets are the accepted secrets. With none, every request fails with
	// ErrBadSignature.
	Secrets []string

	// Tolerance is how far a delivery's timestamp may be from Now, either
	// way. Zero means DefaultTolerance.
	Tolerance time.Duration

	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time

	// MaxBodyBytes bounds the body VerifyRequest reads; a larger body fails
	// with ErrBodyTooLarge. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// VerifyRequest reads r's body (at most MaxBodyBytes, by default 1 MiB) and
// verifies it against r's signature headers: the X-Webhook-* set when
// X-Webhook-Signature or X-Webhook-Timestamp is present, else the Standard
// Webhooks set (webhook-id, webhook-timestamp, webhook-signature). It
// returns the body, and replaces r.Body with a reader of the same bytes so
// that later handlers can read it again; it does so also when verification
// fails, but not when the body could not be read or was too large.
//
// The error wraps one of the package's verification errors (see
// ErrNoSignature), or is the error from reading the body.
func (v *Verifier) VerifyRequest(r *http.Request) ([]byte, error) {
	limit := v.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("webhook: reading request body: %w", err)
		}
		if int64(len(body)) > limit {
			return nil, fmt.Errorf("%w: over %d bytes", ErrBodyTooLarge, limit)
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }

	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	h := r.Header
	if h.Get(HeaderSignature) != "" || h.Get(HeaderTimestamp) != "" ||
		(h.Get(StdHeaderSignature) == "" && h.Get(StdHeaderTimestamp) == "") {
		return body, verifyKbus(v.Secrets, body, h.Get(HeaderTimestamp), h.Get(HeaderSignature), v.Tolerance, now)
	}
	return body, verifyStandard(v.Secrets, h.Get(StdHeaderID), body, h.Get(StdHeaderTimestamp), h.Get(StdHeaderSignature), v.Tolerance, now)
}

// Middleware returns a handler that verifies each request with
// VerifyRequest before passing it to next, with the body restored.
//
// A request that fails verification gets 401 Unauthorized with the JSON
// body {"error":{"code":"invalid_signature","message":"..."}}, the message
// naming the failed check; a body over the limit gets 413 with code
// "body_too_large", and a body that cannot be read gets 400 with code
// "bad_request". next is not called for any of them.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := v.VerifyRequest(r)
		switch {
		case err == nil:
			next.ServeHTTP(w, r)
		case errors.Is(err, ErrBodyTooLarge):
			writeVerifyError(w, http.StatusRequestEntityTooLarge, "body_too_large", err)
		case isVerifyError(err):
			writeVerifyError(w, http.StatusUnauthorized, "invalid_signature", err)
		default:
			writeVerifyError(w, http.StatusBadRequest, "bad_request", err)
		}
	})
}

func isVerifyError(err error) bool {
	for _, e := range []error{ErrNoSignature, ErrTimestamp, ErrBadSignature, ErrTooOld, ErrTooNew} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// writeVerifyError writes the house error body {"error":{"code","message"}}.
func writeVerifyError(w http.ResponseWriter, status int, code string, err error) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(struct {
		Error body `json:"error"`
	}{body{code, err.Error()}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// verifyKbus verifies the X-Webhook-* scheme against any of secrets.
func verifyKbus(secrets []string, body []byte, timestamp, signature string, tolerance time.Duration, now time.Time) error {
	if strings.TrimSpace(signature) == "" {
		return fmt.Errorf("%w: %s is missing", ErrNoSignature, HeaderSignature)
	}
	ts, err := parseSigTimestamp(timestamp)
	if err != nil {
		return err
	}
	var cands [][]byte
	for _, s := range strings.Split(signature, ",") {
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(s), SignaturePrefix)
		if !ok {
			continue
		}
		if mac, err := hex.DecodeString(hexSig); err == nil {
			cands = append(cands, mac)
		}
	}
	tried := 0
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		tried++
		if anyEqual(cands, signMAC([]byte(secret), timestamp, body)) {
			return checkWindow(ts, tolerance, now)
		}
	}
	return mismatch(tried)
}

// verifyStandard verifies the Standard Webhooks scheme against any of secrets.
func verifyStandard(secrets []string, id string, body []byte, timestamp, signatures string, tolerance time.Duration, now time.Time) error {
	if strings.TrimSpace(signatures) == "" {
		return fmt.Errorf("%w: %s is missing", ErrNoSignature, StdHeaderSignature)
	}
	ts, err := parseSigTimestamp(timestamp)
	if err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("%w: %s is missing", ErrBadSignature, StdHeaderID)
	}
	var cands [][]byte
	for _, s := range strings.Fields(signatures) {
		b64, ok := strings.CutPrefix(s, stdSignaturePrefix)
		if !ok {
			continue
		}
		if mac, err := base64.StdEncoding.DecodeString(b64); err == nil {
			cands = append(cands, mac)
		}
	}
	tried := 0
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		tried++
		if anyEqual(cands, signStdMAC(standardKey(secret), id, timestamp, body)) {
			return checkWindow(ts, tolerance, now)
		}
	}
	return mismatch(tried)
}

// mismatch returns the error for a signature that matched none of n secrets.
func mismatch(n int) error {
	if n == 0 {
		return fmt.Errorf("%w: no secret configured", ErrBadSignature)
	}
	return ErrBadSignature
}

// anyEqual reports whether any candidate equals mac, comparing each in
// constant time.
func anyEqual(cands [][]byte, mac []byte) bool {
	ok := false
	for _, c := range cands {
		if hmac.Equal(c, mac) {
			ok = true
		}
	}
	return ok
}

// maxTimestampDigits bounds a timestamp header: 12 digits reach the year
// 33658, and keep all arithmetic far from overflow.
const maxTimestampDigits = 12

// parseSigTimestamp parses a timestamp header: 1 to 12 ASCII digits.
func parseSigTimestamp(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: header is missing", ErrTimestamp)
	}
	if len(s) > maxTimestampDigits {
		return 0, fmt.Errorf("%w: %q is not unix seconds", ErrTimestamp, truncate(s, 20))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: %q is not unix seconds", ErrTimestamp, truncate(s, 20))
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not unix seconds", ErrTimestamp, s)
	}
	return ts, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// checkWindow checks that ts (unix seconds) is within tolerance of now.
func checkWindow(ts int64, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	maxSkew := int64(tolerance / time.Second)
	switch age := now.Unix() - ts; {
	case age > maxSkew:
		return fmt.Errorf("%w: sent %ds ago, tolerance %s", ErrTooOld, age, tolerance)
	case -age > maxSkew:
		return fmt.Errorf("%w: sent %ds ahead of this clock, tolerance %s", ErrTooNew, -age, tolerance)
	}
	return nil
}
