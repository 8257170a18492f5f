package postgres

import (
	"context"
	"fmt"

	"github.com/tlsrpt/tlsrpt/store"
)

var _ store.Statser = (*DB)(nil)

// Stats counts what the database holds, and its size.
func (db *DB) Stats(ctx context.Context) (store.Stats, error) {
	s := store.Stats{Inputs: map[store.Outcome]int64{}}
	var o string
	var n, size int64
	err := db.scan(ctx, "counting inputs", `SELECT outcome, count(*), coalesce(sum(size), 0) FROM inputs GROUP BY outcome`, nil,
		[]any{&o, &n, &size}, func() error {
			s.Inputs[store.Outcome(o)], s.RawBytes = n, s.RawBytes+size
			return nil
		})
	if err != nil {
		return s, err
	}
	var oldest, newest *int64
	err = db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM arrivals), (SELECT count(*) FROM reports),
(SELECT count(DISTINCT policy_domain) FROM domain_days), (SELECT min(start_time) FROM reports), (SELECT max(start_time) FROM reports),
pg_database_size(current_database())`).Scan(&s.Arrivals, &s.Reports, &s.Domains, &oldest, &newest, &s.Size)
	if err != nil {
		return s, classify(fmt.Errorf("postgres: counting reports: %w", err))
	}
	if oldest != nil {
		s.Oldest, s.Newest = dayTime(*oldest/86400), dayTime(*newest/86400)
	}
	return s, nil
}
