package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// sealedPrefix starts a signing secret stored encrypted.
const sealedPrefix = "enc:v1:"

// ErrSecretKey reports a signing secret that cannot be read: it is stored
// encrypted and no SecretKey, or another key, is configured.
var ErrSecretKey = errors.New("webhook: cannot decrypt the endpoint's signing secret")

// ParseSecretKey decodes a key for APIConfig.SecretKey and
// DispatcherConfig.SecretKey from its standard base64 form (32 random bytes,
// e.g. `openssl rand -base64 32`).
func ParseSecretKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("webhook: secret key: not base64: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("webhook: secret key: %d bytes, want 32", len(key))
	}
	return key, nil
}

// sealer encrypts signing secrets at rest with AES-256-GCM. A nil sealer
// stores them as they are.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) == 0 {
		return nil, nil
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("webhook: SecretKey is %d bytes, want 32 (AES-256)", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("webhook: SecretKey: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("webhook: SecretKey: %w", err)
	}
	return &sealer{aead}, nil
}

// seal returns secret as stored: encrypted when s has a key.
func (s *sealer) seal(secret string) string {
	if s == nil {
		return secret
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	out := s.aead.Seal(nonce, nonce, []byte(secret), []byte(sealedPrefix))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out)
}

// open returns the secret stored as stored. Secrets stored before a key was
// configured are plain and returned as they are.
func (s *sealer) open(stored string) (string, error) {
	b64, ok := strings.CutPrefix(stored, sealedPrefix)
	if !ok {
		return stored, nil
	}
	if s == nil {
		return "", fmt.Errorf("%w: it is encrypted and no secret key is configured", ErrSecretKey)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", fmt.Errorf("%w: malformed", ErrSecretKey)
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], []byte(sealedPrefix))
	if err != nil {
		return "", fmt.Errorf("%w: wrong key", ErrSecretKey)
	}
	return string(plain), nil
}
