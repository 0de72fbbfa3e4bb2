package apikey

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Limits on what [Store.Create] accepts.
const (
	// MaxTenantIDLen is the longest tenant id, in bytes.
	MaxTenantIDLen = 255
	// MaxNameLen is the longest key name, in bytes.
	MaxNameLen = 200
)

// An Option configures a [Store]. Options are applied in order; a later
// option overrides an earlier one.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	logger *slog.Logger
}

func defaultConfig() config {
	return config{logger: slog.New(slog.DiscardHandler)}
}

// Logger sets the logger for errors that [Store.Middleware] answers with
// 500 (the database failing while a key is checked). Failed authentications
// are not logged: they are the client's error, answered with 401. The
// default discards logs; a nil logger keeps the default.
func Logger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// Store creates, checks, lists and revokes API keys in the api_keys table
// (migration 002, applied by kbus's migrations; see `kbus migrate`).
//
// There is no cache: every [Store.Authenticate] reads the key's row, so a
// revocation takes effect for every request that starts after Revoke
// returns. A request already authenticated (an open SSE stream, say) is not
// interrupted; long-lived handlers that must notice a revocation call
// Authenticate again from time to time.
//
// A Store is safe for concurrent use by multiple goroutines.
type Store struct {
	db  *pgxpool.Pool
	cfg config
}

// NewStore returns a Store over db. It does no I/O: the table must exist
// (apply kbus's migrations first) when the Store is used.
func NewStore(db *pgxpool.Pool, opts ...Option) *Store {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	return &Store{db: db, cfg: cfg}
}

// dummyHash stands in for the stored hash of an id that names no key, so
// that Authenticate hashes and compares in both cases.
var dummyHash = sha256.Sum256([]byte("kbus apikey: no such key"))

// Create makes a key and returns its description and the full key string
// ("kbus_<id>_<secret>"). The key string is returned only here, once: only
// the SHA-256 of the secret is stored, so a lost key cannot be recovered,
// only revoked and replaced.
//
// A tenant key has tenantID set and admin false; an admin key has admin true
// and tenantID "". Anything else, a tenantID longer than [MaxTenantIDLen]
// bytes or holding white space or control characters, or a name longer than
// [MaxNameLen] bytes or holding control characters, fails with an error
// wrapping [ErrInvalidArgument] before any I/O.
func (s *Store) Create(ctx context.Context, tenantID, name string, admin bool) (Key, string, error) {
	if err := checkCreate(tenantID, name, admin); err != nil {
		return Key{}, "", err
	}
	id, err := newID()
	if err != nil {
		return Key{}, "", err
	}
	secret, err := newSecret()
	if err != nil {
		return Key{}, "", err
	}
	full := format(id, secret)
	_, hash, err := parse(full)
	if err != nil { // cannot happen: format and parse agree
		return Key{}, "", fmt.Errorf("apikey: made an unparsable key: %w", err)
	}
	var tenant *string
	if tenantID != "" {
		tenant = &tenantID
	}
	k := Key{ID: id, TenantID: tenantID, Name: name, Admin: admin}
	err = s.db.QueryRow(ctx,
		`INSERT INTO api_keys (id, tenant_id, admin, secret_hash, name) VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
		id, tenant, admin, hash[:], name).Scan(&k.CreatedAt)
	if err != nil {
		return Key{}, "", fmt.Errorf("apikey: create key: %w", err)
	}
	return k, full, nil
}

func checkCreate(tenantID, name string, admin bool) error {
	switch {
	case admin && tenantID != "":
		return fmt.Errorf("%w: an admin key has no tenant (it sees every tenant)", ErrInvalidArgument)
	case !admin && tenantID == "":
		return fmt.Errorf("%w: a key needs a tenant unless it is an admin key", ErrInvalidArgument)
	case len(tenantID) > MaxTenantIDLen:
		return fmt.Errorf("%w: tenant id longer than %d bytes", ErrInvalidArgument, MaxTenantIDLen)
	case !cleanText(tenantID, true):
		return fmt.Errorf("%w: tenant id %q holds white space, control characters or invalid UTF-8", ErrInvalidArgument, tenantID)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: name longer than %d bytes", ErrInvalidArgument, MaxNameLen)
	case !cleanText(name, false):
		return fmt.Errorf("%w: name %q holds control characters or invalid UTF-8", ErrInvalidArgument, name)
	}
	return nil
}

// cleanText reports whether s is valid UTF-8 without control characters
// and, if noSpace, without white space.
func cleanText(s string, noSpace bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || (noSpace && unicode.IsSpace(r))
	}) < 0
}

// Authenticate checks a key string and returns who it authenticates.
//
// A malformed key, an id that names no key and a wrong secret all fail with
// an error wrapping [ErrInvalidKey]; a right secret for a revoked key fails
// with one wrapping [ErrRevoked]. The secret's hash is compared with
// [subtle.ConstantTimeCompare], and hashed and compared against a dummy
// hash when the id names no key, so that timing does not tell which ids
// exist. Other errors come from the database (or ctx) and mean the key could
// not be checked.
//
// The key is checked against the table every time (there is no cache).
func (s *Store) Authenticate(ctx context.Context, key string) (Principal, error) {
	id, hash, err := parse(key)
	if err != nil {
		return Principal{}, err
	}
	var (
		tenant  *string
		admin   bool
		stored  []byte
		revoked *time.Time
		found   = true
	)
	err = s.db.QueryRow(ctx,
		`SELECT tenant_id, admin, secret_hash, revoked_at FROM api_keys WHERE id = $1`, id).
		Scan(&tenant, &admin, &stored, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		found, stored = false, dummyHash[:]
	} else if err != nil {
		return Principal{}, fmt.Errorf("apikey: look up key %s: %w", id, err)
	}
	match := subtle.ConstantTimeCompare(hash[:], stored) == 1
	if !found || !match {
		return Principal{}, ErrInvalidKey
	}
	if revoked != nil {
		return Principal{}, fmt.Errorf("%w: key %s revoked at %s", ErrRevoked, id, revoked.UTC().Format(time.RFC3339))
	}
	p := Principal{KeyID: id, Admin: admin}
	if tenant != nil {
		p.TenantID = *tenant
	}
	return p, nil
}

// List returns the keys of tenant tenantID, or every key (admin keys
// included) when tenantID is "", revoked keys included, oldest first.
// Secrets are never returned: they are not stored.
func (s *Store) List(ctx context.Context, tenantID string) ([]Key, error) {
	rows, err := s.db.Query(ctx,
		`SELECT id, coalesce(tenant_id, ''), name, admin, created_at, revoked_at FROM api_keys
		 WHERE $1 = '' OR tenant_id = $1 ORDER BY created_at, id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("apikey: list keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Key, error) {
		var k Key
		err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Admin, &k.CreatedAt, &k.RevokedAt)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("apikey: list keys: %w", err)
	}
	return keys, nil
}

// Revoke revokes the key with the given id (either case), so that
// [Store.Authenticate] refuses it with [ErrRevoked] from now on. Revoking a
// revoked key does nothing and keeps its first revocation time. An id that
// names no key fails with an error wrapping [ErrNotFound]. Keys are never
// deleted, so that their ids stay meaningful in logs.
func (s *Store) Revoke(ctx context.Context, id string) error {
	tag, err := s.db.Exec(ctx,
		`UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, strings.ToLower(id))
	if err != nil {
		return fmt.Errorf("apikey: revoke key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return nil
}
