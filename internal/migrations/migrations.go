package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed sql/*.sql
var files embed.FS

// VersionTable is the table in which the applied version is recorded.
const VersionTable = "kbus_schema_version"

// Apply brings the schema up to the latest migration. It is safe to call from
// several processes at once (tern takes an advisory lock) and does nothing
// when the schema is current. Objects are created in the first schema of the
// connection's search_path, or in schema when it is not empty.
//
// With a schema, Apply works on a connection of its own whose search_path is
// set at connection start-up: tern resets the session ("RESET ALL") after
// each migration, which would undo a SET and send the next migration to the
// default schema.
func Apply(ctx context.Context, conn *pgx.Conn, schema string) error {
	table := VersionTable
	if schema != "" {
		cfg := conn.Config().Copy()
		cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
		own, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return fmt.Errorf("migrations: connect for schema %s: %w", schema, err)
		}
		defer own.Close(context.WithoutCancel(ctx))
		conn = own
		table = pgx.Identifier{schema, VersionTable}.Sanitize()
	}
	m, err := migrate.NewMigrator(ctx, conn, table)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	sub, err := fs.Sub(files, "sql")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("migrations: load: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrations: apply: %w", err)
	}
	return nil
}

// ApplyPool is Apply on a connection taken from pool, in the first schema
// of the pool's search_path.
func ApplyPool(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	defer conn.Release()
	return Apply(ctx, conn.Conn(), "")
}

// Latest returns the number of the newest migration.
func Latest() (int, error) {
	sub, err := fs.Sub(files, "sql")
	if err != nil {
		return 0, err
	}
	names, err := migrate.FindMigrations(sub)
	return len(names), err
}
