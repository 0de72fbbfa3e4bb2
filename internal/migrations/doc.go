// Package migrations holds kbus's PostgreSQL schema as numbered SQL migrations
// (sql/NNN_name.sql, embedded in the binary) and applies them with
// github.com/jackc/tern/v2/migrate. Servers, `kbus migrate` and kbustest call
// [Apply]; nobody changes the schema by hand.
//
// Each table has one owner package, named in a comment at the top of its
// migration. Migrations are append-only: never edit one that has landed, add
// the next number.
package migrations
