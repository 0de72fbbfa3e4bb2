package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

// Headers of a delivery. Every delivery carries the X-Webhook-* set; an
// endpoint may also ask for the Standard Webhooks set
// (https://www.standardwebhooks.com), so that receivers can verify with any
// Standard Webhooks library. Both sets carry the same id and timestamp.
//
// The id is the event's message id ("msg_" + ULID), the same across retries
// and replays: receivers should use it to process each event once.
const (
	HeaderID        = "X-Webhook-Id"
	HeaderTimestamp = "X-Webhook-Timestamp" // unix seconds, decimal
	HeaderSignature = "X-Webhook-Signature" // "sha256=<hex>", several separated by ", "

	StdHeaderID        = "webhook-id"
	StdHeaderTimestamp = "webhook-timestamp" // unix seconds, decimal
	StdHeaderSignature = "webhook-signature" // "v1,<base64>", several separated by " "
)

// SecretPrefix starts every secret made by NewSecret, as in Standard Webhooks.
const SecretPrefix = "whsec_"

// SignaturePrefix starts every X-Webhook-Signature value (the scheme).
const SignaturePrefix = "sha256="

// stdSignaturePrefix starts every Standard Webhooks signature (version 1,
// symmetric HMAC-SHA256).
const stdSignaturePrefix = "v1,"

// Sign returns the X-Webhook-Signature value of body sent at timestamp
// (unix seconds):
//
//	"sha256=" + hex(HMAC-SHA256(secret, "<timestamp>.<body>"))
//
// where <timestamp> is the decimal timestamp, as in X-Webhook-Timestamp. The
// HMAC key is the bytes of secret exactly as given, "whsec_" prefix included:
// receivers need no decoding step, only the string they were shown.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := signMAC([]byte(secret), strconv.FormatInt(timestamp, 10), body)
	return SignaturePrefix + hex.EncodeToString(mac)
}

// SignStandard returns a Standard Webhooks signature (webhook-signature
// value) for the message id sent at timestamp (unix seconds):
//
//	"v1," + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))
//
// with standard, padded base64. As the specification says, the key is the
// base64 decoding of the secret after its "whsec_" prefix. A secret without
// the prefix is decoded whole, as the reference libraries do. A secret
// whose remainder is not base64 (standard, padded or not) is not rejected:
// its key is the raw bytes after the prefix. Secrets from NewSecret are
// always base64.
func SignStandard(secret, id string, timestamp int64, body []byte) string {
	mac := signStdMAC(standardKey(secret), id, strconv.FormatInt(timestamp, 10), body)
	return stdSignaturePrefix + base64.StdEncoding.EncodeToString(mac)
}

// SetHeaders sets the X-Webhook-Id, X-Webhook-Timestamp and
// X-Webhook-Signature headers of a delivery on h, replacing any there. The
// signature header holds one Sign value per secret, separated by ", ", so
// that during a secret rotation a receiver that knows either the old or the
// new secret can verify:
//
//	X-Webhook-Signature: sha256=ab12..., sha256=cd34...
//
// When std is true it also sets the Standard Webhooks headers webhook-id,
// webhook-timestamp and webhook-signature, the last holding one SignStandard
// value per secret separated by spaces, as that specification requires.
//
// Empty secrets are skipped. If no secret remains, no signature header is
// set, and receivers reject the delivery with ErrNoSignature.
func SetHeaders(h http.Header, id string, timestamp int64, body []byte, secrets []string, std bool) {
	ts := strconv.FormatInt(timestamp, 10)
	var sigs, stdSigs []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		sigs = append(sigs, SignaturePrefix+hex.EncodeToString(signMAC([]byte(s), ts, body)))
		if std {
			mac := signStdMAC(standardKey(s), id, ts, body)
			stdSigs = append(stdSigs, stdSignaturePrefix+base64.StdEncoding.EncodeToString(mac))
		}
	}

	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, ts)
	h.Del(HeaderSignature)
	if len(sigs) > 0 {
		h.Set(HeaderSignature, strings.Join(sigs, ", "))
	}
	if std {
		h.Set(StdHeaderID, id)
		h.Set(StdHeaderTimestamp, ts)
		h.Del(StdHeaderSignature)
		if len(stdSigs) > 0 {
			h.Set(StdHeaderSignature, strings.Join(stdSigs, " "))
		}
	}
}

// secretBytes is the number of random bytes in a secret made by NewSecret:
// the upper end of the 24..64 bytes Standard Webhooks recommends, and the
// size of an HMAC-SHA256 output.
const secretBytes = 32

// NewSecret returns a new random signing secret: "whsec_" followed by the
// standard, padded base64 encoding of 32 random bytes (50 characters in
// all). The same secret serves both Sign (which uses the string as-is) and
// SignStandard (which decodes it), so an endpoint can be switched between
// header sets without a new secret.
//
// The error is non-nil only if the system's random source fails.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// standardKey returns the Standard Webhooks HMAC key of secret; see
// SignStandard.
func standardKey(secret string) []byte {
	rest := strings.TrimPrefix(secret, SecretPrefix)
	if key, err := base64.StdEncoding.DecodeString(rest); err == nil && len(key) > 0 {
		return key
	}
	if key, err := base64.RawStdEncoding.DecodeString(rest); err == nil && len(key) > 0 {
		return key
	}
	return []byte(rest)
}

// signMAC returns HMAC-SHA256(key, ts + "." + body).
func signMAC(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// signStdMAC returns HMAC-SHA256(key, id + "." + ts + "." + body).
func signStdMAC(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}
