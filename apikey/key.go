package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefix starts every key. It makes keys easy to recognise in logs and for
// secret scanners.
const Prefix = "kbus_"

// The parts of a key string Prefix + id + "_" + secret.
const (
	idLen       = 26                                  // a ULID
	secretBytes = 32                                  // from crypto/rand
	secretLen   = (secretBytes*8 + 5) / 6             // base64url, no padding: 43
	keyLen      = len(Prefix) + idLen + 1 + secretLen // 75
)

// secretEncoding encodes secrets: base64url without padding, strict, so
// that a secret has exactly one spelling.
var secretEncoding = base64.RawURLEncoding.Strict()

// Key describes an API key. It never holds the secret: that is returned once
// by [Store.Create] and only its SHA-256 is stored.
//
// A key is either bound to one tenant (TenantID set, Admin false) or an admin
// key (Admin true, TenantID empty), never both.
type Key struct {
	// ID identifies the key: a lower-case ULID, the <id> part of the key
	// string. It is not secret; use it to list and revoke keys.
	ID string `json:"id"`
	// TenantID is the tenant the key acts for (the merchant_id of the
	// events), or "" for an admin key.
	TenantID string `json:"tenant_id"`
	// Name is a free-form label chosen at creation ("checkout-prod").
	Name string `json:"name"`
	// Admin keys may see and act for every tenant.
	Admin bool `json:"admin"`
	// CreatedAt is when the key was made.
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is when the key was revoked, or nil if it is active.
	RevokedAt *time.Time `json:"revoked_at"`
}

// newID returns a new key id: a lower-case ULID for now with 80 random bits
// from crypto/rand.
func newID() (string, error) {
	u, err := ulid.New(ulid.Timestamp(time.Now()), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("apikey: make id: %w", err)
	}
	return strings.ToLower(u.String()), nil
}

// newSecret returns secretBytes random bytes from crypto/rand, encoded.
func newSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("apikey: make secret: %w", err)
	}
	return secretEncoding.EncodeToString(b), nil
}

// format returns the key string for id and secret.
func format(id, secret string) string {
	return Prefix + id + "_" + secret
}

// parse splits a key string into its lower-case id and the SHA-256 of its
// secret's 32 decoded bytes (what secret_hash stores). It fails with ErrInvalidKey, without saying why beyond a short
// reason, when key is not Prefix, a ULID, "_" and a base64url secret of
// secretBytes bytes. ULIDs are accepted in either case.
func parse(key string) (id string, hash [sha256.Size]byte, err error) {
	if len(key) != keyLen {
		return "", hash, fmt.Errorf("%w: wrong length", ErrInvalidKey)
	}
	rest, ok := strings.CutPrefix(key, Prefix)
	if !ok {
		return "", hash, fmt.Errorf("%w: missing %q prefix", ErrInvalidKey, Prefix)
	}
	// A ULID has a fixed length; the secret (base64url) may itself contain
	// "_", so the key is split by position, not by separator.
	idPart, secret := rest[:idLen], rest[idLen:]
	secret, ok = strings.CutPrefix(secret, "_")
	if !ok {
		return "", hash, fmt.Errorf("%w: no \"_\" after the id", ErrInvalidKey)
	}
	u, err := ulid.ParseStrict(idPart)
	if err != nil {
		return "", hash, fmt.Errorf("%w: bad id", ErrInvalidKey)
	}
	raw, err := secretEncoding.DecodeString(secret)
	if err != nil || len(raw) != secretBytes {
		return "", hash, fmt.Errorf("%w: bad secret encoding", ErrInvalidKey)
	}
	return strings.ToLower(u.String()), sha256.Sum256(raw), nil
}
