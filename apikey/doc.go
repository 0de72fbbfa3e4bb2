// Package apikey holds kbus's tenants and API keys: it makes keys, checks
// them, and authenticates HTTP requests with them. The webhook registration
// API and the SSE stream both use it, so a key works the same for both.
//
// # Keys
//
// A key is a string
//
//	kbus_<id>_<secret>
//	kbus_01jf3kq9x8e5m2v7c4n6t0b1ar_Zp3...43 characters...Q
//
// where id is a lower-case ULID (the row's primary key, not secret) and
// secret is 32 bytes from crypto/rand in base64url without padding. Only the
// SHA-256 of the secret's bytes is stored (api_keys.secret_hash); checking a
// key hashes its secret and compares in constant time. A key belongs to one
// tenant (the merchant_id of the events) or is an admin key that sees every
// tenant.
//
// # Making and revoking keys
//
// Operators use the CLI, which applies kbus's migrations first:
//
//	kbus keys create --tenant merch_abc --name checkout   # prints the key once
//	kbus keys create --admin --name ops
//	kbus keys list [--tenant merch_abc]
//	kbus keys revoke 01jf3kq9x8e5m2v7c4n6t0b1ar
//
// Programs use a [Store] over a pgx pool whose database has kbus's
// migrations applied:
//
//	keys := apikey.NewStore(pool)
//	k, secret, err := keys.Create(ctx, "merch_abc", "checkout", false)
//	// give secret to the merchant now: it cannot be shown again
//	err = keys.Revoke(ctx, k.ID)
//
// # Authenticating requests
//
// [Store.Middleware] guards an HTTP handler. It reads
// "Authorization: Bearer <key>", answers 401 with a JSON error when the key
// is missing or does not authenticate, and otherwise hands on the
// [Principal] in the request context. Handlers decide what the caller may
// touch with [Principal.CanSee]:
//
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /v1/webhooks/{id}", func(w http.ResponseWriter, r *http.Request) {
//		p, _ := apikey.PrincipalFrom(r.Context())
//		hook, err := load(r.Context(), r.PathValue("id"))
//		if err != nil || !p.CanSee(hook.TenantID) {
//			http.NotFound(w, r) // do not reveal other tenants' resources
//			return
//		}
//		...
//	})
//	http.ListenAndServe(addr, keys.Middleware(mux))
//
// Code that gets a key some other way calls [Store.Authenticate] itself and
// may store the result with [WithPrincipal].
//
// # Errors
//
// Authenticate fails with [ErrInvalidKey] for a malformed key, an unknown id
// or a wrong secret alike, and with [ErrRevoked] only when the secret is
// right; other errors mean the database could not be asked. Revoke fails
// with [ErrNotFound]; Create with [ErrInvalidArgument].
//
// # Revocation
//
// There is no cache: every authentication reads the key's row, so a
// revocation applies to every request that starts after [Store.Revoke]
// returns. A request already admitted, such as an open SSE stream, is not
// cut off by the middleware; long-lived handlers call Authenticate again
// from time to time if they must notice.
package apikey
