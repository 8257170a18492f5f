package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tlsrpt/tlsrpt/store"
)

var _ store.Pruner = (*DB)(nil)

const pruneInputs = `SELECT id FROM inputs i WHERE
(i.outcome = 'stored' AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.input_id = i.id AND r.start_time >= $1))
OR (i.outcome = 'duplicate' AND i.received_at < $2)
OR ($3 AND i.outcome IN ('invalid', 'no-report', 'unauthenticated') AND i.received_at < $2)`

// Prune deletes the reports that started before o.Before and what only
// they needed, and adjusts the rollups, in one transaction.
func (db *DB) Prune(ctx context.Context, o store.PruneOptions) (store.PruneStats, error) {
	var s store.PruneStats
	cut := dayOf(o.Before)
	a := []any{cut * 86400, cut * 86400 * 1000, o.Refused}
	err := db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM reports WHERE start_time < $1), count(*), coalesce(sum(size), 0)
FROM inputs WHERE id IN (`+pruneInputs+`)`, a...).Scan(&s.Reports, &s.Inputs, &s.Bytes)
	if err != nil || o.DryRun {
		return s, classify(err)
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`CREATE TEMP TABLE prune_inputs ON COMMIT DROP AS ` + pruneInputs, a},
			{`DELETE FROM reports WHERE start_time < $1`, a[:1]}, // policies and details cascade
			{`DELETE FROM arrivals WHERE input_id IN (SELECT id FROM prune_inputs)`, nil},
			{`DELETE FROM input_auth WHERE input_id IN (SELECT id FROM prune_inputs)`, nil},
			{`DELETE FROM reports WHERE input_id IN (SELECT id FROM prune_inputs)`, nil},
			{`DELETE FROM inputs WHERE id IN (SELECT id FROM prune_inputs)`, nil},
		} {
			if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
				return fmt.Errorf("%.60s: %w", q.sql, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM mx_series WHERE days[array_upper(days, 1)] < $1`, cut); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE mx_series SET (days, fails) = (SELECT array_agg(d ORDER BY d), array_agg(f ORDER BY d)
FROM unnest(days, fails) AS u(d, f) WHERE d >= $1) WHERE days[1] < $1`, cut); err != nil {
			return err
		}
		for _, t := range []string{"domain_days", "untrusted_days", "sender_days", "ip_days", "policy_days"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE day < $1`, cut); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM domain_policies WHERE last_day < $1`, cut); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE domain_policies AS dp SET
first_day = (SELECT min(r.start_time / 86400) FROM policies p JOIN reports r ON r.id = p.report_id WHERE p.policy_domain = dp.policy_domain
  AND p.policy_type = dp.policy_type AND p.policy_string = dp.policy_string AND p.mx_host = dp.mx_host),
reports = (SELECT count(DISTINCT p.report_id) FROM policies p WHERE p.policy_domain = dp.policy_domain
  AND p.policy_type = dp.policy_type AND p.policy_string = dp.policy_string AND p.mx_host = dp.mx_host)
WHERE first_day < $1`, cut)
		return err
	})
	if err != nil {
		return s, classify(fmt.Errorf("postgres: pruning: %w", err))
	}
	return s, nil
}
