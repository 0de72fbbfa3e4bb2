package apikey

import "errors"

// Sentinel errors. Errors returned by this package match one of these with
// [errors.Is], or wrap an error of the database (a connection failure, a
// cancelled context), which callers should treat as "try again later".
//
// [ErrInvalidKey] and [ErrRevoked] are the only outcomes of a failed
// [Store.Authenticate]; [Store.Middleware] turns both into 401 Unauthorized.
var (
	// ErrInvalidKey reports a key that does not authenticate: malformed
	// (not "kbus_<id>_<secret>"), an id that names no key, or a secret that
	// does not match. The three cases are deliberately indistinguishable, so
	// that a caller learns nothing about which ids exist. Returned by
	// [Store.Authenticate].
	ErrInvalidKey = errors.New("apikey: invalid API key")

	// ErrRevoked reports a key whose secret is right but which has been
	// revoked with [Store.Revoke]. A wrong secret for a revoked key is
	// ErrInvalidKey, so only the holder of the key learns that it was
	// revoked. Returned by [Store.Authenticate].
	ErrRevoked = errors.New("apikey: API key revoked")

	// ErrNotFound reports an id that names no key. Returned by [Store.Revoke].
	ErrNotFound = errors.New("apikey: no such API key")

	// ErrInvalidArgument reports a bad argument to [Store.Create]: a key
	// that is neither admin nor bound to a tenant, an admin key with a
	// tenant, or a tenant id or name that is too long or holds control
	// characters.
	ErrInvalidArgument = errors.New("apikey: invalid argument")
)
