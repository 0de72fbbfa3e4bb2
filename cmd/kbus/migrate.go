package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/kbus-dev/kbus/internal/migrations"
)

// Deadlines of `kbus migrate`.
const (
	dbConnectTimeout = 10 * time.Second
	migrateTimeout   = 5 * time.Minute
)

// migrateResult is the output of `kbus migrate`.
type migrateResult struct {
	// Database is host:port/database, without credentials.
	Database      string `json:"database"`
	SchemaVersion int    `json:"schema_version"`
}

func newMigrateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply kbus's database migrations",
		Long: `Apply kbus's PostgreSQL migrations (processed_events and the other kbus
tables) to --database-url, and print the schema version. The tables are
created in the first schema of the connection's search_path. Running it again
does nothing; several processes may run it at once.`,
		Example: `  DATABASE_URL='postgres://kbus:secret@db:5432/kbus?sslmode=require' kbus migrate`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			latest, err := migrations.Latest()
			if err != nil {
				return fmt.Errorf("read the migrations: %w", err)
			}
			cfg, err := pgx.ParseConfig(a.dbURL)
			if err != nil {
				return fmt.Errorf("--database-url: %w", err)
			}
			where := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
			cctx, cancel := context.WithTimeout(cmd.Context(), dbConnectTimeout)
			defer cancel()
			conn, err := pgx.ConnectConfig(cctx, cfg)
			if err != nil {
				return fmt.Errorf("connect to PostgreSQL at %s: %w", where, err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), dbConnectTimeout)
				defer cancel()
				_ = conn.Close(ctx)
			}()
			ctx, cancel := context.WithTimeout(cmd.Context(), migrateTimeout)
			defer cancel()
			if err := migrations.Apply(ctx, conn, ""); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			res := migrateResult{Database: where, SchemaVersion: latest}
			if a.json() {
				return a.printJSON(res)
			}
			_, err = fmt.Fprintf(a.out, "%s: schema version %d\n", res.Database, res.SchemaVersion)
			return err
		},
	}
}
