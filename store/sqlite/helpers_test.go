package sqlite

import (
	"context"
	"database/sql"
)

// inTx runs fn in a write transaction of the migrating connection
// (db.write), under the writer's lock, for tests that write SQL of their
// own.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return db.onWriter(ctx, func(conn *sql.Conn) error { return commitOn(ctx, conn, fn) })
}
