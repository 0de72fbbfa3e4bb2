package apikey

import "context"

// Principal is who is calling: the key a request authenticated with and
// what it may see. [Store.Authenticate] makes one; [Store.Middleware] puts
// it in the request context, where [PrincipalFrom] finds it.
//
// The zero Principal is nobody: it can see no tenant.
type Principal struct {
	// KeyID is the id of the key used (not secret; fine to log).
	KeyID string
	// TenantID is the tenant of a tenant key; "" for an admin key.
	TenantID string
	// Admin keys see every tenant.
	Admin bool
}

// CanSee reports whether p may see and act on the resources of tenant
// tenantID: true for an admin, or for a tenant key of that very tenant. An
// empty tenantID is seen only by admins.
func (p Principal) CanSee(tenantID string) bool {
	return p.Admin || (p.TenantID != "" && p.TenantID == tenantID)
}

// principalKey is the context key for the Principal; being unexported, it
// cannot collide with other packages' keys.
type principalKey struct{}

// WithPrincipal returns a copy of ctx that carries p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the Principal carried by ctx and true, or the zero
// Principal and false when there is none (including when ctx is nil).
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	if ctx == nil {
		return Principal{}, false
	}
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
