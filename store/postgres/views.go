package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tlsrpt/tlsrpt/store"
)

func failureConds(f store.FailureFilter, a *args) []string {
	var conds []string
	for _, c := range []struct {
		col    string
		values []string
	}{{"p.policy_domain", f.Domains}, {"d.receiving_mx_hostname", f.MX}, {"d.result_type", f.ResultTypes}, {"r.organization_name", f.Senders}} {
		if len(c.values) > 0 {
			conds = append(conds, c.col+" = ANY("+a.add(c.values)+")")
		}
	}
	if f.AfterReport > 0 {
		conds = append(conds, "r.id > "+a.add(f.AfterReport))
	}
	if f.UpToReport > 0 {
		conds = append(conds, "r.id <= "+a.add(f.UpToReport))
	}
	if !f.Since.IsZero() {
		conds = append(conds, "r.start_time >= "+a.add(dayOf(f.Since)*86400))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "r.start_time < "+a.add((dayOf(f.Until)+1)*86400))
	}
	return conds
}

const failuresFrom = ` FROM reports r JOIN policies p ON p.report_id = r.id
JOIN failure_details d ON d.report_id = p.report_id AND d.policy_position = p.position`

// Failures lists failure details, newest report first.
func (db *DB) Failures(ctx context.Context, f store.FailureFilter) ([]store.FailureRow, error) {
	var out []store.FailureRow
	err := db.EachFailure(ctx, f, func(r store.FailureRow) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// EachFailure calls fn with each failure detail, a page at a time.
func (db *DB) EachFailure(ctx context.Context, f store.FailureFilter, fn func(store.FailureRow) error) error {
	type at struct{ start, id, pos, dpos int64 }
	var last *at
	for done := 0; ; {
		n := 2000
		if f.Limit > 0 {
			n = min(n, f.Limit-done)
		}
		if n <= 0 {
			return nil
		}
		var a args
		conds := failureConds(f, &a)
		if last != nil {
			conds = append(conds, fmt.Sprintf("(r.start_time, r.id) <= (%s, %s) AND NOT (r.id = %s AND (p.position, d.position) <= (%s, %s))",
				a.add(last.start), a.add(last.id), a.add(last.id), a.add(last.pos), a.add(last.dpos)))
		}
		q := `SELECT r.id, r.organization_name, r.report_id, r.start_time, r.end_time, p.policy_domain, p.policy_type,
d.result_type, d.sending_mta_ip, d.receiving_mx_hostname, d.receiving_mx_helo, d.receiving_ip, d.failed_sessions,
d.additional_information, d.failure_reason_code, p.position, d.position` + failuresFrom
		if len(conds) > 0 {
			q += " WHERE " + strings.Join(conds, " AND ")
		}
		q += fmt.Sprintf(" ORDER BY r.start_time DESC, r.id DESC, p.position, d.position LIMIT %d", n)
		var page []store.FailureRow
		var pos []at
		var r store.FailureRow
		var start, end, p, dp int64
		d := &r.Detail
		err := db.scan(ctx, "failures", q, a, []any{&r.ReportID, &r.Organization, &r.ReportRef, &start, &end, &r.Domain, &r.PolicyType,
			&d.ResultType, &d.SendingMTAIP, &d.ReceivingMXHostname, &d.ReceivingMXHelo, &d.ReceivingIP, &d.FailedSessions,
			&d.AdditionalInformation, &d.FailureReasonCode, &p, &dp}, func() error {
			c := r
			c.Start, c.End = time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
			page = append(page, c)
			pos = append(pos, at{start, r.ReportID, p, dp})
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if done += len(page); len(page) < n {
			return nil
		}
		last = &pos[len(pos)-1]
	}
}

// CountFailures counts the failure details f selects.
func (db *DB) CountFailures(ctx context.Context, f store.FailureFilter) (int64, error) {
	var a args
	conds := failureConds(f, &a)
	q := `SELECT count(*)` + failuresFrom
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	var n int64
	if err := db.pool.QueryRow(ctx, q, a...).Scan(&n); err != nil {
		return 0, classify(fmt.Errorf("postgres: counting failures: %w", err))
	}
	return n, nil
}

// Mark returns a named position, 0 when never set.
func (db *DB) Mark(ctx context.Context, name string) (int64, error) {
	var v int64
	err := db.pool.QueryRow(ctx, `SELECT value FROM marks WHERE name = $1`, name).Scan(&v)
	if err == pgx.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, classify(fmt.Errorf("postgres: reading mark %s: %w", name, err))
	}
	return v, nil
}

// SetMark sets a named position.
func (db *DB) SetMark(ctx context.Context, name string, value int64) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO marks (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	if err != nil {
		return classify(fmt.Errorf("postgres: setting mark %s: %w", name, err))
	}
	return nil
}

// SeenUIDs returns the UIDs MarkSeen recorded for a mailbox at a UIDVALIDITY.
func (db *DB) SeenUIDs(ctx context.Context, mailbox string, uidValidity uint32) (map[uint32]bool, error) {
	out := map[uint32]bool{}
	var uid int64
	err := db.scan(ctx, "seen messages", `SELECT uid FROM imap_seen WHERE mailbox = $1 AND uidvalidity = $2`,
		args{mailbox, int64(uidValidity)}, []any{&uid}, func() error {
			out[uint32(uid)] = true
			return nil
		})
	return out, err
}

// MarkSeen records messages as processed (fetch --keep).
func (db *DB) MarkSeen(ctx context.Context, mailbox string, uidValidity uint32, uids []uint32) error {
	all := make([]int64, len(uids))
	for i, u := range uids {
		all[i] = int64(u)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO imap_seen (mailbox, uidvalidity, uid) SELECT $1, $2, u FROM unnest($3::bigint[]) AS u
ON CONFLICT DO NOTHING`, mailbox, int64(uidValidity), all)
	if err != nil {
		return classify(fmt.Errorf("postgres: recording seen messages: %w", err))
	}
	return nil
}
