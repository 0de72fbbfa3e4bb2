package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
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
func Apply(ctx context.Context, conn *pgx.Conn, schema string) error {
	table := VersionTable
	if schema != "" {
		table = pgx.Identifier{schema, VersionTable}.Sanitize()
		if _, err := conn.Exec(ctx, "SET search_path TO "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("migrations: set search_path: %w", err)
		}
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

// Latest returns the number of the newest migration.
func Latest() (int, error) {
	sub, err := fs.Sub(files, "sql")
	if err != nil {
		return 0, err
	}
	names, err := migrate.FindMigrations(sub)
	return len(names), err
}
