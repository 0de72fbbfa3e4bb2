package webhook

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// FuzzSecretSealing: a secret sealed with a key opens with it to the same
// secret, and fails with ErrSecretKey under another key; an arbitrary
// stored value (as read from the database) never panics, is returned as it
// is when it is not sealed, and when sealed opens only if it is a sealing
// made with the key: a mutation of one fails. ParseSecretKey takes only
// 32 bytes of base64.
func FuzzSecretSealing(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := newSealer(key)
	if err != nil {
		f.Fatal(err)
	}
	const known = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	// A sealing as seal makes it, with a fixed nonce, so that every fuzzing
	// process has the same one.
	nonce := make([]byte, s.aead.NonceSize())
	knownRaw := s.aead.Seal(nonce, nonce, []byte(known), []byte(sealedPrefix))
	sealed := sealedPrefix + base64.StdEncoding.EncodeToString(knownRaw)
	for _, v := range []string{sealed, sealed[:len(sealed)-4], sealed + "A", sealedPrefix, sealedPrefix + "AAAA", sealedPrefix + "!",
		known, "", "enc:v2:AAAA", strings.Replace(sealed, "A", "B", 1)} {
		f.Add(known, v)
	}
	other, err := newSealer(bytes.Repeat([]byte{8}, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, secret, stored string) {
		if got, err := s.open(s.seal(secret)); err != nil || got != secret {
			t.Fatalf("seal then open %q: %q, %v", secret, got, err)
		}
		if _, err := other.open(s.seal(secret)); !errors.Is(err, ErrSecretKey) {
			t.Fatalf("opened with another key: %v", err)
		}
		got, err := s.open(stored)
		b64, isSealed := strings.CutPrefix(stored, sealedPrefix)
		switch {
		case !isSealed:
			if err != nil || got != stored {
				t.Fatalf("open(%q) of a plain secret: %q, %v", stored, got, err)
			}
		case err != nil:
			if !errors.Is(err, ErrSecretKey) || len(err.Error()) > 100 { // it never echoes the value
				t.Fatalf("open(%q): %v", stored, err)
			}
		default:
			raw, _ := base64.StdEncoding.DecodeString(b64)
			if got != known || !bytes.Equal(raw, knownRaw) {
				t.Fatalf("open(%q) = %q: a value not sealed with the key opened", stored, got)
			}
		}
		if k, err := ParseSecretKey(stored); err == nil && len(k) != 32 {
			t.Fatalf("ParseSecretKey(%q) = %d bytes", stored, len(k))
		}
	})
}
