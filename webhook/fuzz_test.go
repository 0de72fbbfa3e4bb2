package webhook

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzNow is the receiver's clock in the verification fuzz targets.
var fuzzNow = time.Unix(1_705_314_600, 0)

// FuzzParseRetryAfter: any Retry-After value gives a delay in [0, 24h]; a
// positive number of seconds gives that many seconds (capped at 24h, however
// many digits it has) and an HTTP date gives the time until it.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "1", "120", "-5", "+5", "soon", " 12", "12 ", "1.5", "86400", "86401",
		"9223372036", "9223372037", "9999999999", "99999999999999999999", "0x10",
		"Mon, 15 Jan 2024 10:31:30 GMT", "Monday, 15-Jan-24 10:31:30 GMT", "Mon Jan 15 10:31:30 2024",
		"Mon, 15 Jan 2024 10:29:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 15 Jan 2024 25:00:00 GMT"} {
		f.Add(s, int64(1_705_314_600))
	}
	f.Add("Mon, 15 Jan 2024 10:31:30 GMT", int64(-1<<62))
	f.Fuzz(func(t *testing.T, v string, nowUnix int64) {
		now := time.Unix(nowUnix, 0)
		got := parseRetryAfter(v, now)
		if got < 0 || got > 24*time.Hour {
			t.Fatalf("parseRetryAfter(%q) = %v, outside [0, 24h]", v, got)
		}
		if isDigits(v) {
			want := 24 * time.Hour
			if n, err := strconv.ParseUint(v, 10, 64); err == nil && n < 86400 {
				want = time.Duration(n) * time.Second
			}
			if got != want {
				t.Fatalf("parseRetryAfter(%q) = %v, want %v", v, got, want)
			}
		}
		// A delay sent as a date: the time until it.
		now = time.Unix(1_000_000_000+nowUnix%(200*365*86400), 0) // 1954 to 2200, as HTTP dates go
		delay := time.Duration(len(v)*3607) * time.Second
		date := now.Add(delay).UTC().Format(http.TimeFormat)
		if got, want := parseRetryAfter(date, now), min(delay, 24*time.Hour); got != want {
			t.Fatalf("parseRetryAfter(%q) at %v = %v, want %v", date, now, got, want)
		}
	})
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// FuzzSignVerify: whatever the secret, body, id and time, a delivery signed
// with SetHeaders (or Sign, SignStandard) verifies with its secret, also
// beside other signatures as during a rotation, and fails with
// ErrBadSignature under another secret (one with a different HMAC key) or
// with an altered body.
func FuzzSignVerify(f *testing.F) {
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_other", []byte(`{"type":"payment.completed"}`), "msg_01HM6AQH5VX7K9PAYM3NTQ8RSW", int64(1_705_314_600), "sha256=00")
	f.Add("s", "s ", []byte{}, "i", int64(0), "")
	f.Add("whsec_QQ==", "whsec_QQ", []byte("\x00\xff"), "a b", int64(999_999_999_999), "v1,AAAA sha256=zz, ,")
	f.Add("whsec_", "", []byte("x"), "", int64(-5), "sha256=")
	f.Add("whsec_not base64!", "not base64!", []byte("."), "id.1", int64(1<<40), "v2,x")
	f.Fuzz(func(t *testing.T, secret, other string, body []byte, id string, ts int64, extra string) {
		ts = min(max(ts, 0), 999_999_999_999) // what a timestamp header can say
		now := time.Unix(ts, 0)
		tsText := strconv.FormatInt(ts, 10)
		if secret == "" {
			if err := verifyKbus([]string{""}, body, tsText, Sign("", ts, body), 0, now); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("an empty secret verified: %v", err)
			}
			return
		}
		sig := Sign(secret, ts, body)
		if err := verifyKbus([]string{secret}, body, tsText, sig, 0, now); err != nil {
			t.Fatalf("Sign then Verify: %v", err)
		}
		if err := verifyKbus([]string{secret}, body, tsText, extra+", "+sig+","+extra, 0, now); err != nil {
			t.Fatalf("Verify among other signatures %q: %v", extra, err)
		}
		if err := verifyKbus([]string{secret}, append(body[:len(body):len(body)], 'x'), tsText, sig, 0, now); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("altered body: %v, want ErrBadSignature", err)
		}
		if err := verifyKbus([]string{other}, body, tsText, sig, 0, now); (err == nil) != (other != "" && hmacKey([]byte(other)) == hmacKey([]byte(secret))) ||
			(err != nil && !errors.Is(err, ErrBadSignature)) {
			t.Fatalf("secret %q verified a signature made with %q: %v", other, secret, err)
		}
		if id != "" {
			std := SignStandard(secret, id, ts, body)
			if err := verifyStandard([]string{secret}, id, body, tsText, std, 0, now); err != nil {
				t.Fatalf("SignStandard then VerifyStandard: %v", err)
			}
			if err := verifyStandard([]string{secret}, id, body, tsText, extra+" "+std+" "+extra, 0, now); err != nil {
				t.Fatalf("VerifyStandard among other signatures %q: %v", extra, err)
			}
			sameKey := hmacKey(standardKey(other)) == hmacKey(standardKey(secret))
			if err := verifyStandard([]string{other}, id, body, tsText, std, 0, now); (err == nil) != (other != "" && sameKey) {
				t.Fatalf("secret %q (key %x) and a signature made with %q (key %x): %v", other, standardKey(other), secret, standardKey(secret), err)
			}
		}
		// Through the headers of a request, signed with two secrets as
		// during a rotation.
		for _, stdHeaders := range []bool{false, true} {
			r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(string(body)))
			SetHeaders(r.Header, id, ts, body, []string{other + "!", secret}, stdHeaders)
			if stdHeaders { // make VerifyRequest take the Standard Webhooks set
				r.Header.Del(HeaderSignature)
				r.Header.Del(HeaderTimestamp)
			}
			v := &Verifier{Secrets: []string{secret}, Now: func() time.Time { return now }, MaxBodyBytes: int64(len(body) + 1)}
			got, err := v.VerifyRequest(r)
			if stdHeaders && id == "" {
				if !errors.Is(err, ErrBadSignature) {
					t.Fatalf("Standard Webhooks request without an id: %v", err)
				}
				continue
			}
			if err != nil || string(got) != string(body) {
				t.Fatalf("VerifyRequest (standard %v): %v, body %q", stdHeaders, err, got)
			}
		}
	})
}

// FuzzVerifyHeaders feeds arbitrary header values to the verifiers: they
// never panic, fail with one of the package's errors and a short message
// (it may be logged or sent back), and succeed only when a signature in the
// header is the right HMAC: no header string verifies without the secret.
func FuzzVerifyHeaders(f *testing.F) {
	body := []byte(`{"amount":4999}`)
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	good := Sign(secret, 1_705_314_600, body)
	goodStd := SignStandard(secret, "msg_1", 1_705_314_600, body)
	for _, h := range [][4]string{
		{"1705314600", good, "msg_1", goodStd},
		{"1705314600", strings.ToUpper(good[len(SignaturePrefix):]), "msg_1", strings.TrimPrefix(goodStd, "v1,")},
		{"1705314600", "sha256=" + strings.ToUpper(good[len(SignaturePrefix):]), "", goodStd},
		{"1705314000", good, "msg_1", goodStd + "=="},
		{"", "", "", ""},
		{"0", "sha256=", "x", "v1,"},
		{"-1", "sha256=zz", "x", "v1,!!!!"},
		{"1705314600 ", " " + good + " ,", "msg_1", "\t" + goodStd + "\n"},
		{"017053146000", "sha256=00, md5=1, ,,,", "msg\x00", "v2,AAAA v1,AAAA"},
		{"99999999999999999999", strings.Repeat("sha256=ab,", 100), strings.Repeat("i", 1000), strings.Repeat("v1,AAAA ", 100)},
		{"1e9", "\xff\xfe", "\xff", "v1,\xff"},
	} {
		f.Add(secret, body, h[0], h[1], h[2], h[3])
	}
	f.Add("", body, "1705314600", good, "msg_1", goodStd)
	f.Fuzz(func(t *testing.T, secret string, body []byte, timestamp, signature, id, stdSigs string) {
		err := verifyKbus([]string{secret}, body, timestamp, signature, 0, fuzzNow)
		checkVerifyError(t, err)
		if err == nil || errors.Is(err, ErrTooOld) || errors.Is(err, ErrTooNew) {
			want := hex.EncodeToString(signMAC([]byte(secret), timestamp, body))
			if secret == "" || !containsFold(strings.Split(signature, ","), func(s string) bool {
				return strings.EqualFold(strings.TrimSpace(s), SignaturePrefix+want)
			}) {
				t.Fatalf("Verify(%q, ts %q, sig %q) = %v without the right signature", secret, timestamp, signature, err)
			}
		}
		err = verifyStandard([]string{secret}, id, body, timestamp, stdSigs, 0, fuzzNow)
		checkVerifyError(t, err)
		if err == nil || errors.Is(err, ErrTooOld) || errors.Is(err, ErrTooNew) {
			want := stdSignaturePrefix + base64.StdEncoding.EncodeToString(signStdMAC(standardKey(secret), id, timestamp, body))
			if secret == "" || id == "" || !containsFold(strings.Fields(stdSigs), func(s string) bool { return s == want }) {
				t.Fatalf("VerifyStandard(%q, id %q, ts %q, sigs %q) = %v without the right signature", secret, id, timestamp, stdSigs, err)
			}
		}
		// The middleware answers every request with a JSON error or next.
		r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(string(body)))
		for k, v := range map[string]string{HeaderTimestamp: timestamp, HeaderSignature: signature,
			StdHeaderID: id, StdHeaderTimestamp: timestamp, StdHeaderSignature: stdSigs} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		w := httptest.NewRecorder()
		v := &Verifier{Secrets: []string{secret}, Now: func() time.Time { return fuzzNow }}
		v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })).ServeHTTP(w, r)
		switch w.Code {
		case http.StatusNoContent, http.StatusRequestEntityTooLarge:
		case http.StatusUnauthorized:
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code != "invalid_signature" {
				t.Fatalf("401 body %q: %v", w.Body, err)
			}
		default:
			t.Fatalf("middleware answered %d %q", w.Code, w.Body)
		}
	})
}

// hmacKey returns the HMAC-SHA256 key equivalent to k: HMAC hashes a key
// longer than the block and pads a shorter one with zeros, so "k" and
// "k\x00" sign alike.
func hmacKey(k []byte) string {
	if len(k) > sha256.BlockSize {
		h := sha256.Sum256(k)
		k = h[:]
	}
	return strings.TrimRight(string(k), "\x00")
}

func checkVerifyError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if !isVerifyError(err) {
		t.Fatalf("error %v wraps none of the verification errors", err)
	}
	if len(err.Error()) > 200 {
		t.Fatalf("error message of %d bytes: %.300q", len(err.Error()), err.Error())
	}
}

func containsFold(parts []string, match func(string) bool) bool {
	for _, p := range parts {
		if match(p) {
			return true
		}
	}
	return false
}

// TestParseRetryAfterHugeNumbers: inputs FuzzParseRetryAfter found. A
// number of seconds whose Duration overflowed int64 came out as 0 (retry on
// the normal schedule) instead of the 24h cap.
func TestParseRetryAfterHugeNumbers(t *testing.T) {
	for _, v := range []string{"9223372037", "9999999999", "99999999999999999999", "86401"} {
		if got := parseRetryAfter(v, fuzzNow); got != 24*time.Hour {
			t.Errorf("parseRetryAfter(%q) = %v, want 24h", v, got)
		}
	}
}
