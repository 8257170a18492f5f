package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tlsrpt/tlsrpt/store"
)

var _ store.Pruner = (*DB)(nil)

// pruneInputs selects the inputs Prune deletes: those left with no report
// once the old reports are gone whose reports were all old (stored) or
// that arrived before the cutoff with none of their own (duplicates), and
// with Refused the refused ones that arrived before it.
const pruneInputs = `SELECT id FROM inputs i WHERE
(i.outcome = 'stored' AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.input_id = i.id AND r.start_time >= ?1))
OR (i.outcome = 'duplicate' AND i.received_at < ?2)
OR (?3 AND i.outcome IN ('invalid', 'no-report', 'unauthenticated') AND i.received_at < ?2)`

// Prune deletes the reports that started before o.Before and what only
// they needed, and adjusts the rollups, in one transaction.
func (db *DB) Prune(ctx context.Context, o store.PruneOptions) (store.PruneStats, error) {
	var s store.PruneStats
	cut := dayOf(o.Before)
	args := []any{cut * 86400, cut * 86400 * 1000, o.Refused}
	err := db.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM reports WHERE start_time < ?1), count(*), coalesce(sum(size), 0)
FROM inputs WHERE id IN (`+pruneInputs+`)`, args...).Scan(&s.Reports, &s.Inputs, &s.Bytes)
	if err != nil || o.DryRun {
		return s, err
	}
	err = db.onWriter(ctx, func(conn *sql.Conn) error {
		return commitOn(ctx, conn, func(tx *sql.Tx) error {
			for _, q := range []string{
				`CREATE TEMP TABLE prune_inputs AS ` + pruneInputs,
				`DELETE FROM failure_details WHERE report_id IN (SELECT id FROM reports WHERE start_time < ?1)`,
				`DELETE FROM policies WHERE report_id IN (SELECT id FROM reports WHERE start_time < ?1)`,
				`DELETE FROM reports WHERE start_time < ?1`,
				`DELETE FROM arrivals WHERE input_id IN (SELECT id FROM prune_inputs)`,
				`DELETE FROM input_hashes WHERE input_id IN (SELECT id FROM prune_inputs)`,
				`DELETE FROM input_auth WHERE input_id IN (SELECT id FROM prune_inputs)`,
				`DELETE FROM reports WHERE input_id IN (SELECT id FROM prune_inputs)`,
				`DELETE FROM inputs WHERE id IN (SELECT id FROM prune_inputs)`,
				`DROP TABLE prune_inputs`,
			} {
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
					return fmt.Errorf("%.60s: %w", q, err)
				}
			}
			day := []any{cut}
			for _, t := range []string{"domain_days", "untrusted_days", "sender_days", "ip_days", "policy_days"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE day < ?`, day...); err != nil {
					return err
				}
			}
			if err := pruneSeries(ctx, tx, cut); err != nil {
				return err
			}
			// A policy seen only before the cut goes; one seen across it
			// is counted again from the reports left.
			if _, err := tx.ExecContext(ctx, `DELETE FROM domain_policies WHERE last_day < ?`, cut); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE domain_policies AS dp SET
first_day = (SELECT min(r.start_time / 86400) FROM policies p JOIN reports r ON r.id = p.report_id WHERE p.policy_domain = dp.policy_domain
  AND p.policy_type = dp.policy_type AND p.policy_string = dp.policy_string AND p.mx_host = dp.mx_host),
reports = (SELECT count(DISTINCT p.report_id) FROM policies p WHERE p.policy_domain = dp.policy_domain
  AND p.policy_type = dp.policy_type AND p.policy_string = dp.policy_string AND p.mx_host = dp.mx_host)
WHERE first_day < ?`, cut)
			return err
		})
	})
	if err != nil {
		return s, classify(fmt.Errorf("sqlite: pruning: %w", err))
	}
	return s, db.syncWAL()
}

// pruneSeries drops the days before cut from the MX series.
func pruneSeries(ctx context.Context, tx *sql.Tx, cut int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT policy_domain, mx_host, result_type, days FROM mx_series`)
	if err != nil {
		return err
	}
	type change struct {
		k    mxGroup
		days string // "" deletes
	}
	var changes []change
	for rows.Next() {
		var k mxGroup
		var raw []byte
		if err := rows.Scan(&k.domain, &k.mx, &k.resultType, &raw); err != nil {
			rows.Close()
			return err
		}
		s, err := parseSeries(raw)
		if err != nil {
			rows.Close()
			return err
		}
		i := 0
		for i < len(s) && s[i].day < cut {
			i++
		}
		if i > 0 {
			changes = append(changes, change{k, series(s[i:]).String()})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range changes {
		q, args := `UPDATE mx_series SET days = ? WHERE policy_domain = ? AND mx_host = ? AND result_type = ?`,
			[]any{c.days, c.k.domain, c.k.mx, c.k.resultType}
		if c.days == "" {
			q, args = `DELETE FROM mx_series WHERE policy_domain = ? AND mx_host = ? AND result_type = ?`, args[1:]
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}
