package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	"github.com/tlsrpt/tlsrpt/store"
)

var _ store.Statser = (*DB)(nil)

// Stats counts what the file holds, and its size with its WAL.
func (db *DB) Stats(ctx context.Context) (store.Stats, error) {
	s := store.Stats{Inputs: map[store.Outcome]int64{}}
	err := db.scanAll(ctx, "counting inputs", `SELECT outcome, count(*), sum(size) FROM inputs GROUP BY outcome`, nil, func(rows *sql.Rows) error {
		var o string
		var n, size int64
		if err := rows.Scan(&o, &n, &size); err != nil {
			return err
		}
		s.Inputs[store.Outcome(o)], s.RawBytes = n, s.RawBytes+size
		return nil
	})
	if err != nil {
		return s, err
	}
	var oldest, newest sql.NullInt64
	err = db.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM arrivals), (SELECT count(*) FROM reports),
(SELECT count(DISTINCT policy_domain) FROM domain_days), (SELECT min(start_time) FROM reports), (SELECT max(start_time) FROM reports)`).
		Scan(&s.Arrivals, &s.Reports, &s.Domains, &oldest, &newest)
	if err != nil {
		return s, fmt.Errorf("sqlite: counting reports: %w", err)
	}
	if oldest.Valid {
		s.Oldest, s.Newest = dayTime(oldest.Int64/86400), dayTime(newest.Int64/86400)
	}
	for _, f := range []string{db.path, db.path + "-wal"} {
		if fi, err := os.Stat(f); err == nil {
			s.Size += fi.Size()
		}
	}
	return s, nil
}

// Backup writes a consistent copy of the database to path while others
// go on reading and writing (VACUUM INTO): a file that opens as a store.
func (db *DB) Backup(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: a backup does not overwrite", path)
	}
	if _, err := db.read.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("sqlite: backing up to %s: %w", path, err)
	}
	return nil
}
