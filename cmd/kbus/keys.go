package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kbus-dev/kbus/apikey"
)

// keysTimeout bounds one `kbus keys` operation once connected.
const keysTimeout = 30 * time.Second

// createdKey is the output of `kbus keys create`.
type createdKey struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Admin    bool   `json:"admin"`
	Key      string `json:"key"`
}

// revokedKey is the output of `kbus keys revoke`.
type revokedKey struct {
	ID      string `json:"id"`
	Revoked bool   `json:"revoked"`
}

func newKeysCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys (webhook API, SSE stream)",
		Long: `Manage the API keys of kbus's HTTP APIs (webhook registration, SSE stream).
A key is "kbus_<id>_<secret>"; it belongs to one tenant (the merchant_id of
the events) or is an admin key that sees every tenant. Only a hash of the
secret is stored: the key is printed once, by create.

The commands use --database-url and apply kbus's migrations first.`,
	}
	cmd.AddCommand(newKeysCreateCmd(a), newKeysListCmd(a), newKeysRevokeCmd(a))
	return cmd
}

func newKeysCreateCmd(a *app) *cobra.Command {
	var tenant, name string
	var admin bool
	cmd := &cobra.Command{
		Use:   "create (--tenant TENANT | --admin) [--name NAME]",
		Short: "Create an API key and print it, once",
		Long: `Create an API key for one tenant (--tenant) or an admin key (--admin), and
print it. The key is shown only now: kbus keeps a hash of its secret, so a
lost key cannot be recovered, only revoked and replaced.`,
		Example: `  kbus keys create --tenant merch_abc --name checkout
  kbus keys create --admin --name ops -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if admin == (tenant != "") {
				return errors.New("give exactly one of --tenant and --admin")
			}
			return a.withKeys(cmd.Context(), func(ctx context.Context, s *apikey.Store) error {
				k, key, err := s.Create(ctx, tenant, name, admin)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.errOut, "kbus: the key is shown only once: store it now (kbus keeps only a hash of it)")
				if a.json() {
					return a.printJSON(createdKey{ID: k.ID, TenantID: k.TenantID, Admin: k.Admin, Key: key})
				}
				return a.table([]string{"ID", "TENANT", "KEY"}, [][]string{{k.ID, tenantCell(k), key}})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "the tenant (merchant_id) the key acts for")
	f.BoolVar(&admin, "admin", false, "make an admin key, which sees every tenant")
	f.StringVar(&name, "name", "", "a label for the key, such as the service that uses it")
	cmd.MarkFlagsMutuallyExclusive("tenant", "admin")
	return cmd
}

func newKeysListCmd(a *app) *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "list [--tenant TENANT]",
		Short: "List API keys (never their secrets)",
		Long: `List the API keys of one tenant (--tenant), or all of them, admin keys
included, revoked ones too, oldest first. Secrets are not stored, so they are
never shown.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withKeys(cmd.Context(), func(ctx context.Context, s *apikey.Store) error {
				keys, err := s.List(ctx, tenant)
				if err != nil {
					return err
				}
				if a.json() {
					return a.printJSON(keys)
				}
				rows := make([][]string, 0, len(keys))
				for _, k := range keys {
					revoked := ""
					if k.RevokedAt != nil {
						revoked = k.RevokedAt.UTC().Format(time.RFC3339)
					}
					rows = append(rows, []string{k.ID, tenantCell(k), k.Name, k.CreatedAt.UTC().Format(time.RFC3339), revoked})
				}
				return a.table([]string{"ID", "TENANT", "NAME", "CREATED", "REVOKED"}, rows)
			})
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "list only this tenant's keys")
	return cmd
}

func newKeysRevokeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key",
		Long: `Revoke the API key with the given id (the <id> of "kbus_<id>_<secret>", as
listed by kbus keys list). Requests that start afterwards are refused with
401; revoking a revoked key does nothing.`,
		Example: `  kbus keys revoke 01jf3kq9x8e5m2v7c4n6t0b1ar`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withKeys(cmd.Context(), func(ctx context.Context, s *apikey.Store) error {
				if err := s.Revoke(ctx, args[0]); err != nil {
					return err
				}
				if a.json() {
					return a.printJSON(revokedKey{ID: args[0], Revoked: true})
				}
				_, err := fmt.Fprintf(a.out, "key %s revoked\n", args[0])
				return err
			})
		},
	}
}

// tenantCell is the TENANT column of a key.
func tenantCell(k apikey.Key) string {
	if k.Admin {
		return "(admin)"
	}
	return k.TenantID
}

// withKeys connects to --database-url, applies kbus's migrations and calls
// fn with a Store and a context bounded by keysTimeout.
func (a *app) withKeys(ctx context.Context, fn func(context.Context, *apikey.Store) error) error {
	pool, err := a.openDB(ctx, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(ctx, keysTimeout)
	defer cancel()
	return fn(ctx, apikey.NewStore(pool))
}
