package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

// scanAll runs q on the read pool and calls scan for each row.
func (db *DB) scanAll(ctx context.Context, what, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("sqlite: %s: %w", what, err)
		}
	}
	return rows.Err()
}

// DayTotals reads the domain rollups day by day.
func (db *DB) DayTotals(ctx context.Context, f store.Filter) ([]store.DayTotal, error) {
	w, args := where(f, "policy_domain", "day")
	src, sargs := from(f, "domain_days")
	args = append(sargs, args...)
	// Counted first: growing a slice of hundreds of thousands of rows
	// costs more than reading them twice.
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM `+src+w, args...).Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlite: day totals: %w", err)
	}
	out := make([]store.DayTotal, 0, n)
	err := db.scanAll(ctx, "day totals", `SELECT policy_domain, day, reports, successful_sessions, failed_sessions
FROM `+src+w+` ORDER BY policy_domain, day`, args, func(rows *sql.Rows) error {
		var t store.DayTotal
		var day int64
		err := rows.Scan(&t.Domain, &day, &t.Reports, &t.SuccessfulSessions, &t.FailedSessions)
		t.Day = dayTime(day)
		out = append(out, t)
		return err
	})
	return out, err
}

// PolicyTypeTotals sums the policy-type rollups (migration 0006).
func (db *DB) PolicyTypeTotals(ctx context.Context, f store.Filter) ([]store.PolicyTypeTotal, error) {
	if f.Trusted {
		return db.trustedPolicyTypeTotals(ctx, f)
	}
	w, args := where(f, "policy_domain", "day")
	var out []store.PolicyTypeTotal
	err := db.scanAll(ctx, "policy type totals", `SELECT policy_domain, policy_type, mode, sum(reports), sum(successful_sessions),
sum(failed_sessions), min(day), max(day) FROM policy_days`+w+` GROUP BY policy_domain, policy_type, mode
ORDER BY policy_domain, policy_type, mode`, args, func(rows *sql.Rows) error {
		var t store.PolicyTypeTotal
		var first, last int64
		err := rows.Scan(&t.Domain, &t.Type, &t.Mode, &t.Reports, &t.SuccessfulSessions, &t.FailedSessions, &first, &last)
		t.First, t.Last = dayTime(first), dayTime(last)
		out = append(out, t)
		return err
	})
	return out, err
}

// SenderTotals sums the sender rollups.
func (db *DB) SenderTotals(ctx context.Context, f store.Filter) ([]store.SenderTotal, error) {
	w, args := where(f, "policy_domain", "day")
	src, sargs := from(f, "sender_days")
	args = append(sargs, args...)
	var out []store.SenderTotal
	err := db.scanAll(ctx, "sender totals", `SELECT policy_domain, organization_name, sum(reports), sum(successful_sessions),
sum(failed_sessions) FROM `+src+w+` GROUP BY policy_domain, organization_name ORDER BY policy_domain, organization_name`,
		args, func(rows *sql.Rows) error {
			var t store.SenderTotal
			err := rows.Scan(&t.Domain, &t.Organization, &t.Reports, &t.SuccessfulSessions, &t.FailedSessions)
			out = append(out, t)
			return err
		})
	return out, err
}

// IPTotals sums the sending-IP rollups per IP, result type and domain.
func (db *DB) IPTotals(ctx context.Context, f store.Filter) ([]store.IPTotal, error) {
	w, args := where(f, "policy_domain", "day")
	src, sargs := from(f, "ip_days")
	args = append(sargs, args...)
	var out []store.IPTotal
	err := db.scanAll(ctx, "sending IP totals", `SELECT sending_mta_ip, result_type, policy_domain, sum(failed_sessions)
FROM `+src+w+` GROUP BY sending_mta_ip, result_type, policy_domain ORDER BY sending_mta_ip, result_type, policy_domain`,
		args, func(rows *sql.Rows) error {
			var t store.IPTotal
			err := rows.Scan(&t.IP, &t.ResultType, &t.Domain, &t.FailedSessions)
			out = append(out, t)
			return err
		})
	return out, err
}

// Policies lists the policies senders applied, with the days they were seen
// inside the filter's range.
func (db *DB) Policies(ctx context.Context, f store.Filter) ([]store.PolicySeen, error) {
	var conds []string
	var args []any
	in("policy_domain", f.Domains, &conds, &args)
	if !f.Since.IsZero() {
		conds = append(conds, "last_day >= ?")
		args = append(args, dayOf(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "first_day <= ?")
		args = append(args, dayOf(f.Until))
	}
	src, sargs := from(f, "domain_policies")
	args = append(sargs, args...)
	q := `SELECT policy_domain, policy_type, policy_string, mx_host, first_day, last_day, reports FROM ` + src
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY policy_domain, policy_type, policy_string, mx_host" // the key: no sort
	var out []store.PolicySeen
	err := db.scanAll(ctx, "policies", q, args, func(rows *sql.Rows) error {
		var p store.PolicySeen
		var lines, mx string
		var first, last int64
		err := rows.Scan(&p.Domain, &p.Type, &lines, &mx, &first, &last, &p.Reports)
		p.Lines, p.MXHosts = splitNonEmpty(lines), splitNonEmpty(mx)
		p.First, p.Last = dayTime(first), dayTime(last)
		out = append(out, p)
		return err
	})
	return out, err
}

// startedWithin selects reports whose date range starts on the UTC days
// from since to until, both included (zero: no bound).
func startedWithin(since, until time.Time, conds *[]string, args *[]any) {
	if !since.IsZero() {
		*conds = append(*conds, "r.start_time >= ?")
		*args = append(*args, dayOf(since)*86400)
	}
	if !until.IsZero() {
		*conds = append(*conds, "r.start_time < ?")
		*args = append(*args, (dayOf(until)+1)*86400)
	}
}

func in(col string, values []string, conds *[]string, args *[]any) {
	if len(values) == 0 {
		return
	}
	*conds = append(*conds, col+" IN ("+strings.TrimSuffix(strings.Repeat("?,", len(values)), ",")+")")
	for _, v := range values {
		*args = append(*args, v)
	}
}

// Failures lists failure details, newest report first.
func (db *DB) Failures(ctx context.Context, f store.FailureFilter) ([]store.FailureRow, error) {
	var out []store.FailureRow
	err := db.EachFailure(ctx, f, func(r store.FailureRow) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// EachFailure calls fn with each failure detail Failures lists, in its
// order, holding none of them.
//
// Without filters but the days, the listing walks reports by their start
// (the reports_start index) and is read in pages as EachReport's is: no
// read transaction is open while fn runs. The walk is forced (CROSS JOIN
// fixes the join order): left to itself, SQLite's planner scans every
// failure detail and sorts them, 1.5 s for the newest 50 of a million
// reports instead of milliseconds. With a filter on domains, senders, MX
// hosts, result types or report ids the planner chooses (an index of the
// filter, or a scan, then a sort), and the listing is one query, streamed:
// re-running that plan for every page would cost a scan and a sort each.
func (db *DB) EachFailure(ctx context.Context, f store.FailureFilter, fn func(store.FailureRow) error) error {
	conds, args, filtered := failureConds(f)
	return db.eachFailure(ctx, f, conds, args, filtered, fn)
}

// failureConds are the conditions on reports r, policies p and details d
// that f selects; filtered says whether any is more than the days.
func failureConds(f store.FailureFilter) ([]string, []any, bool) {
	var conds []string
	var args []any
	in("p.policy_domain", f.Domains, &conds, &args)
	in("d.receiving_mx_hostname", f.MX, &conds, &args)
	in("d.result_type", f.ResultTypes, &conds, &args)
	in("r.organization_name", f.Senders, &conds, &args)
	if f.AfterReport > 0 {
		conds = append(conds, "r.id > ?")
		args = append(args, f.AfterReport)
	}
	if f.UpToReport > 0 {
		conds = append(conds, "r.id <= ?")
		args = append(args, f.UpToReport)
	}
	filtered := len(conds) > 0
	startedWithin(f.Since, f.Until, &conds, &args)
	return conds, args, filtered
}

// CountFailures counts the failure details f selects, its limit aside.
func (db *DB) CountFailures(ctx context.Context, f store.FailureFilter) (int64, error) {
	conds, args, _ := failureConds(f)
	q := `SELECT count(*) FROM reports r JOIN policies p ON p.report_id = r.id
JOIN failure_details d ON d.report_id = p.report_id AND d.policy_position = p.position`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	var n int64
	if err := db.read.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: counting failures: %w", err)
	}
	return n, nil
}

func (db *DB) eachFailure(ctx context.Context, f store.FailureFilter, conds []string, args []any, filtered bool,
	fn func(store.FailureRow) error) error {
	join := "CROSS JOIN"
	if filtered {
		join = "JOIN"
	}
	sel := `SELECT r.id, r.organization_name, r.report_id, r.start_time, r.end_time, p.policy_domain, p.policy_type,
d.result_type, d.sending_mta_ip, d.receiving_mx_hostname, d.receiving_mx_helo, d.receiving_ip, d.failed_sessions,
d.additional_information, d.failure_reason_code, p.position, d.position
FROM reports r
` + join + ` policies p ON p.report_id = r.id
` + join + ` failure_details d ON d.report_id = p.report_id AND d.policy_position = p.position`
	const order = " ORDER BY r.start_time DESC, r.id DESC, p.position, d.position"
	// Where the last row read was: its report's start and id, and the
	// positions of its policy and detail.
	var start, id, pos, dpos int64
	scan := func(rows *sql.Rows) (store.FailureRow, error) {
		var r store.FailureRow
		var end int64
		d := &r.Detail
		err := rows.Scan(&r.ReportID, &r.Organization, &r.ReportRef, &start, &end, &r.Domain, &r.PolicyType,
			&d.ResultType, &d.SendingMTAIP, &d.ReceivingMXHostname, &d.ReceivingMXHelo, &d.ReceivingIP,
			&d.FailedSessions, &d.AdditionalInformation, &d.FailureReasonCode, &pos, &dpos)
		id = r.ReportID
		r.Start, r.End = time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
		return r, err
	}
	if filtered {
		q := sel + " WHERE " + strings.Join(conds, " AND ") + order
		if f.Limit > 0 {
			q += fmt.Sprintf(" LIMIT %d", f.Limit)
		}
		var fnErr error
		err := db.scanAll(ctx, "failures", q, args, func(rows *sql.Rows) error {
			r, err := scan(rows)
			if err != nil {
				return err
			}
			fnErr = fn(r)
			return fnErr
		})
		if fnErr != nil {
			return fnErr // fn's own
		}
		return err
	}
	var page []store.FailureRow
	for done := 0; ; {
		n := pageSize(len(page), f.Limit, done)
		if n <= 0 {
			return nil
		}
		pconds, pargs := conds, args
		if done > 0 { // after the last row listed, in the listing's order
			pconds = append(slices.Clip(conds), "(r.start_time, r.id) <= (?, ?) AND NOT (r.id = ? AND (p.position, d.position) <= (?, ?))")
			pargs = append(slices.Clip(args), start, id, id, pos, dpos)
		}
		q := sel
		if len(pconds) > 0 {
			q += " WHERE " + strings.Join(pconds, " AND ")
		}
		q += order + fmt.Sprintf(" LIMIT %d", n)
		page = page[:0]
		err := db.scanAll(ctx, "failures", q, pargs, func(rows *sql.Rows) error {
			r, err := scan(rows)
			page = append(page, r)
			return err
		})
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err // fn's own
			}
		}
		if done += len(page); len(page) < n {
			return nil
		}
	}
}

// MaxReportID returns the newest report's id.
func (db *DB) MaxReportID(ctx context.Context) (int64, error) {
	var id int64
	err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM reports`).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("sqlite: newest report: %w", err)
	}
	return id, nil
}

// Mark reads a named position, 0 when it was never set.
func (db *DB) Mark(ctx context.Context, name string) (int64, error) {
	var v int64
	err := db.read.QueryRowContext(ctx, `SELECT value FROM marks WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: reading mark %q: %w", name, err)
	}
	return v, nil
}

// SetMark sets a named position.
func (db *DB) SetMark(ctx context.Context, name string, value int64) error {
	const q = `INSERT INTO marks (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`
	err := db.inWriteTx(ctx, func() error {
		st, err := db.prepared(q)
		if err == nil {
			_, err = st.Exec([]any{name, value})
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: setting mark %q: %w", name, err)
	}
	return nil
}

// SeenUIDs returns the UIDs recorded for a mailbox at a UIDVALIDITY.
func (db *DB) SeenUIDs(ctx context.Context, mailbox string, uidValidity uint32) (map[uint32]bool, error) {
	out := map[uint32]bool{}
	err := db.scanAll(ctx, "seen messages", `SELECT uid FROM imap_seen WHERE mailbox = ? AND uidvalidity = ?`,
		[]any{mailbox, int64(uidValidity)}, func(rows *sql.Rows) error {
			var uid int64
			err := rows.Scan(&uid)
			out[uint32(uid)] = true
			return err
		})
	return out, err
}

// MarkSeen records UIDs of a mailbox at a UIDVALIDITY.
func (db *DB) MarkSeen(ctx context.Context, mailbox string, uidValidity uint32, uids []uint32) error {
	const q = `INSERT INTO imap_seen (mailbox, uidvalidity, uid) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`
	err := db.inWriteTx(ctx, func() error {
		st, err := db.prepared(q)
		if err != nil {
			return err
		}
		for _, uid := range uids {
			if _, err := st.Exec([]any{mailbox, int64(uidValidity), int64(uid)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: recording seen messages: %w", err)
	}
	return nil
}
