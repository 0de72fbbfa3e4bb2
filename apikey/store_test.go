package apikey_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kbus-dev/kbus/apikey"
	"github.com/kbus-dev/kbus/kbustest"
)

func newStore(t *testing.T) (*apikey.Store, *kbustest.Database) {
	t.Helper()
	db := kbustest.DB(t)
	return apikey.NewStore(db.Pool), db
}

func TestCreateAuthenticate(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)

	before := time.Now().Add(-time.Minute)
	k, key, err := s.Create(ctx, "merch_abc", "checkout", false)
	if err != nil {
		t.Fatal(err)
	}
	if k.TenantID != "merch_abc" || k.Name != "checkout" || k.Admin || k.RevokedAt != nil || k.CreatedAt.Before(before) {
		t.Errorf("Create returned %+v", k)
	}
	if want := apikey.Prefix + k.ID + "_"; !strings.HasPrefix(key, want) {
		t.Errorf("key %q does not start with %q", key, want)
	}
	if k.ID != strings.ToLower(k.ID) || len(k.ID) != 26 {
		t.Errorf("id %q is not a lower-case ULID", k.ID)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(key, apikey.Prefix+k.ID+"_"))
	if err != nil || len(raw) != 32 {
		t.Errorf("secret of %q: %d bytes, %v; want 32 bytes of base64url", key, len(raw), err)
	}

	p, err := s.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if want := (apikey.Principal{KeyID: k.ID, TenantID: "merch_abc"}); p != want {
		t.Errorf("Authenticate = %+v, want %+v", p, want)
	}

	ak, akey, err := s.Create(ctx, "", "ops", true)
	if err != nil {
		t.Fatal(err)
	}
	p, err = s.Authenticate(ctx, akey)
	if err != nil {
		t.Fatal(err)
	}
	if want := (apikey.Principal{KeyID: ak.ID, Admin: true}); p != want {
		t.Errorf("Authenticate(admin) = %+v, want %+v", p, want)
	}

	// Two keys never share an id or a secret.
	if ak.ID == k.ID || akey[len(akey)-43:] == key[len(key)-43:] {
		t.Errorf("two keys share parts: %q %q", key, akey)
	}
}

func TestCreateInvalid(t *testing.T) {
	s, db := newStore(t)
	ctx := context.Background()
	for _, c := range []struct {
		tenant string
		admin  bool
	}{{"", false}, {"merch_abc", true}, {"merch abc", false}} {
		if _, _, err := s.Create(ctx, c.tenant, "", c.admin); !errors.Is(err, apikey.ErrInvalidArgument) {
			t.Errorf("Create(%q, admin=%v) = %v, want ErrInvalidArgument", c.tenant, c.admin, err)
		}
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM api_keys`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows after refused creations (%v)", n, err)
	}
}

func TestAuthenticateInvalid(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	k, key, err := s.Create(ctx, "merch_abc", "", false)
	if err != nil {
		t.Fatal(err)
	}
	secret := key[len(apikey.Prefix+k.ID+"_"):]
	k2, key2, err := s.Create(ctx, "merch_abc", "", false)
	if err != nil {
		t.Fatal(err)
	}
	other := key2[len(apikey.Prefix+k2.ID+"_"):] // well formed, but another key's
	unknown := "01jf3kq9x8e5m2v7c4n6t0b1ar"

	for name, bad := range map[string]string{
		"wrong secret":    apikey.Prefix + k.ID + "_" + other,
		"zero secret":     apikey.Prefix + k.ID + "_" + strings.Repeat("A", 43),
		"unknown id":      apikey.Prefix + unknown + "_" + secret,
		"no prefix":       strings.TrimPrefix(key, apikey.Prefix),
		"other prefix":    "sk_" + strings.TrimPrefix(key, apikey.Prefix),
		"missing secret":  apikey.Prefix + k.ID,
		"missing id":      apikey.Prefix + secret,
		"empty secret":    apikey.Prefix + k.ID + "_",
		"empty":           "",
		"bad base64":      apikey.Prefix + k.ID + "_" + secret[:42] + "*",
		"std base64":      apikey.Prefix + k.ID + "_" + strings.Repeat("+", 43),
		"truncated":       key[:len(key)-1],
		"extra":           key + "A",
		"bad id":          apikey.Prefix + "not-a-ulid-not-a-ulid-nota" + "_" + secret,
		"whitespace":      key + " ",
		"swapped parts":   apikey.Prefix + secret + "_" + k.ID,
		"secret as key":   secret,
		"id of a key":     k.ID,
		"doubled":         key + key,
		"prefix only":     apikey.Prefix,
		"underscore only": "_",
	} {
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, apikey.ErrInvalidKey) {
			t.Errorf("%s: Authenticate(%q) = %v, want ErrInvalidKey", name, bad, err)
		}
	}
	// The id may be sent in upper case.
	if _, err := s.Authenticate(ctx, apikey.Prefix+strings.ToUpper(k.ID)+"_"+secret); err != nil {
		t.Errorf("upper-case id: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	k, key, err := s.Create(ctx, "merch_abc", "", false)
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := s.Create(ctx, "merch_abc", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, key); !errors.Is(err, apikey.ErrRevoked) {
		t.Errorf("revoked key: %v, want ErrRevoked", err)
	}
	// A wrong secret for a revoked key says nothing about the revocation.
	wrong := key[:len(key)-2] + "AA"
	if wrong == key {
		wrong = key[:len(key)-2] + "BA"
	}
	if _, err := s.Authenticate(ctx, wrong); !errors.Is(err, apikey.ErrInvalidKey) {
		t.Errorf("wrong secret of a revoked key: %v, want ErrInvalidKey", err)
	}
	// The other key of the tenant still works.
	if _, err := s.Authenticate(ctx, other); err != nil {
		t.Errorf("other key: %v", err)
	}

	keys, err := s.List(ctx, "merch_abc")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != k.ID || keys[0].RevokedAt == nil || keys[1].RevokedAt != nil {
		t.Fatalf("List after revoke = %+v", keys)
	}
	first := *keys[0].RevokedAt

	// Again (and in upper case): nothing changes.
	if err := s.Revoke(ctx, strings.ToUpper(k.ID)); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	keys, _ = s.List(ctx, "merch_abc")
	if !keys[0].RevokedAt.Equal(first) {
		t.Errorf("second revoke moved revoked_at from %v to %v", first, keys[0].RevokedAt)
	}

	for _, id := range []string{"01jf3kq9x8e5m2v7c4n6t0b1ar", "", "nope"} {
		if err := s.Revoke(ctx, id); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("Revoke(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if keys, err := s.List(ctx, ""); err != nil || len(keys) != 0 {
		t.Fatalf("List of nothing = %v, %v", keys, err)
	}
	a1, _, _ := s.Create(ctx, "merch_a", "one", false)
	b1, _, _ := s.Create(ctx, "merch_b", "", false)
	ad, _, _ := s.Create(ctx, "", "ops", true)
	a2, _, err := s.Create(ctx, "merch_a", "two", false)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(keys []apikey.Key) string {
		var out []string
		for _, k := range keys {
			out = append(out, k.ID)
		}
		return strings.Join(out, ",")
	}
	for tenant, want := range map[string][]apikey.Key{
		"":        {a1, b1, ad, a2},
		"merch_a": {a1, a2},
		"merch_b": {b1},
		"merch_c": nil,
	} {
		got, err := s.List(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != ids(want) {
			t.Errorf("List(%q) = %s, want %s", tenant, ids(got), ids(want))
		}
	}
	all, _ := s.List(ctx, "")
	for i, k := range all {
		if i == 2 && (!k.Admin || k.TenantID != "" || k.Name != "ops") {
			t.Errorf("admin key listed as %+v", k)
		}
		if i == 0 && (k.Admin || k.TenantID != "merch_a" || k.Name != "one" || !k.CreatedAt.Equal(a1.CreatedAt)) {
			t.Errorf("tenant key listed as %+v, created as %+v", k, a1)
		}
	}
}

// TestSecretNotStored reads the table itself: no column holds the secret,
// in any spelling; secret_hash is the SHA-256 of its bytes.
func TestSecretNotStored(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	k, key, err := s.Create(ctx, "merch_abc", "n", false)
	if err != nil {
		t.Fatal(err)
	}
	secret := key[len(apikey.Prefix+k.ID+"_"):]
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}

	var row string
	var hash []byte
	if err := db.Pool.QueryRow(ctx, `SELECT t::text, secret_hash FROM api_keys t WHERE id = $1`, k.ID).Scan(&row, &hash); err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{secret, key, string(raw), base64.StdEncoding.EncodeToString(raw), strings.ToLower(hexOf(raw))} {
		if strings.Contains(row, leak) || strings.Contains(strings.ToLower(row), strings.ToLower(leak)) {
			t.Fatalf("the stored row %q holds the secret (as %q)", row, leak)
		}
	}
	if sum := sha256.Sum256(raw); !bytes.Equal(hash, sum[:]) {
		t.Errorf("secret_hash = %x, want sha256 of the secret %x", hash, sum)
	}
	if bytes.Contains(hash, raw) {
		t.Error("secret_hash contains the secret")
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestAuthenticateConcurrent(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	_, key, err := s.Create(ctx, "merch_abc", "", false)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			k := key
			if i%2 == 1 {
				k = key[:len(key)-1] + "x"
			}
			_, err := s.Authenticate(ctx, k)
			if (i%2 == 0) != (err == nil) {
				t.Errorf("goroutine %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}

func TestAuthenticateCancelled(t *testing.T) {
	s, _ := newStore(t)
	_, key, err := s.Create(context.Background(), "merch_abc", "", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Authenticate(ctx, key)
	if err == nil || errors.Is(err, apikey.ErrInvalidKey) || !errors.Is(err, context.Canceled) {
		t.Errorf("Authenticate with a cancelled context = %v, want context.Canceled", err)
	}
}
