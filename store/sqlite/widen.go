package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// widenOutcomes lets inputs take the outcome unauthenticated. SQLite
// cannot change a CHECK constraint in place, and rebuilding inputs would
// copy every byte ever kept; a wider CHECK changes nothing stored, for
// which SQLite documents a simpler procedure: edit the table's definition
// in sqlite_schema, bump the schema version, check integrity
// (https://sqlite.org/lang_altertable.html#otheralter).
func widenOutcomes(ctx context.Context, tx *sql.Tx) error {
	var version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&version); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA writable_schema = ON"); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE sqlite_schema
SET sql = replace(sql, '''no-report'')', '''no-report'', ''unauthenticated'')')
WHERE type = 'table' AND name = 'inputs' AND sql LIKE '%''no-report'')%'`)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("the outcomes of inputs are not as schema 1 made them (%d definitions changed)", n)
	}
	for _, q := range []string{fmt.Sprintf("PRAGMA schema_version = %d", version+1), "PRAGMA writable_schema = OFF"} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	var ok string
	if err := tx.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&ok); err != nil || ok != "ok" {
		return fmt.Errorf("after widening the outcomes: quick_check %q, %v", ok, err)
	}
	return nil
}
