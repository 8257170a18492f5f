package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tlsrpt/tlsrpt/store"
)

// from is the source a rollup query reads: the rollup table itself, or,
// for a Trusted filter, the same rows summed from the trusted reports'
// policies and failure details (as store.Rollup counts them), a subquery
// named as the table. Its arguments come before those of the query's WHERE.
func from(f store.Filter, table string) (string, []any) {
	if !f.Trusted {
		return table, nil
	}
	conds := []string{"r.trusted = 1"}
	var args []any
	startedWithin(f.Since, f.Until, &conds, &args)
	in("p.policy_domain", f.Domains, &conds, &args)
	const day = "r.start_time / 86400"
	const sessions = "sum(p.successful_sessions * p.counted) AS successful_sessions, sum(p.failed_sessions * p.counted) AS failed_sessions"
	base := " FROM reports r INDEXED BY reports_trusted JOIN policies p ON p.report_id = r.id"
	var q string
	switch table {
	case "domain_days":
		q = "SELECT p.policy_domain AS policy_domain, " + day + " AS day, count(DISTINCT r.id) AS reports, " + sessions + base
	case "sender_days":
		q = "SELECT p.policy_domain AS policy_domain, r.organization_name AS organization_name, " + day +
			" AS day, count(DISTINCT r.id) AS reports, " + sessions + base
	case "ip_days":
		q = "SELECT fd.sending_mta_ip AS sending_mta_ip, fd.result_type AS result_type, p.policy_domain AS policy_domain, " + day +
			" AS day, sum(fd.failed_sessions) AS failed_sessions" + base +
			" JOIN failure_details fd ON fd.report_id = p.report_id AND fd.policy_position = p.position AND p.counted = 1"
	case "domain_policies":
		q = "SELECT p.policy_domain AS policy_domain, p.policy_type AS policy_type, p.policy_string AS policy_string, p.mx_host AS mx_host, min(" +
			day + ") AS first_day, max(" + day + ") AS last_day, count(DISTINCT r.id) AS reports" + base
	default:
		panic("sqlite: no trusted source for " + table)
	}
	q += " WHERE " + strings.Join(conds, " AND ")
	switch table {
	case "domain_days":
		q += " GROUP BY 1, 2"
	case "sender_days":
		q += " GROUP BY 1, 2, 3"
	case "ip_days", "domain_policies":
		q += " GROUP BY 1, 2, 3, 4"
	}
	return "(" + q + ") AS " + table, args
}

// trustedMXTotals is MXTotals over the trusted reports' failure details.
func (db *DB) trustedMXTotals(ctx context.Context, f store.Filter, fn func(string, []store.MXTotal) error) error {
	conds := []string{"r.trusted = 1", "p.counted = 1"}
	var args []any
	startedWithin(f.Since, f.Until, &conds, &args)
	in("p.policy_domain", f.Domains, &conds, &args)
	q := `SELECT p.policy_domain, fd.receiving_mx_hostname, fd.result_type, sum(fd.failed_sessions),
min(r.start_time / 86400), max(r.start_time / 86400)
FROM reports r INDEXED BY reports_trusted JOIN policies p ON p.report_id = r.id
JOIN failure_details fd ON fd.report_id = p.report_id AND fd.policy_position = p.position
WHERE ` + strings.Join(conds, " AND ") + ` GROUP BY 1, 2, 3 HAVING sum(fd.failed_sessions) > 0 ORDER BY 1, 2, 3`
	var domain string
	var totals []store.MXTotal
	err := db.scanAll(ctx, "MX totals of trusted reports", q, args, func(rows *sql.Rows) error {
		var t store.MXTotal
		var first, last int64
		if err := rows.Scan(&t.Domain, &t.MX, &t.ResultType, &t.FailedSessions, &first, &last); err != nil {
			return err
		}
		t.First, t.Last = dayTime(first), dayTime(last)
		if t.Domain != domain {
			if len(totals) > 0 {
				if err := fn(domain, totals); err != nil {
					return err
				}
			}
			domain, totals = t.Domain, nil
		}
		totals = append(totals, t)
		return nil
	})
	if err == nil && len(totals) > 0 {
		err = fn(domain, totals)
	}
	return err
}

// trustedPolicyTypeTotals is PolicyTypeTotals over the trusted reports:
// the mode is read from each policy's lines as parse.Policy.Mode reads it.
func (db *DB) trustedPolicyTypeTotals(ctx context.Context, f store.Filter) ([]store.PolicyTypeTotal, error) {
	conds := []string{"r.trusted = 1"}
	var args []any
	startedWithin(f.Since, f.Until, &conds, &args)
	in("p.policy_domain", f.Domains, &conds, &args)
	q := `SELECT p.policy_domain, p.policy_type, p.policy_string, r.id, sum(p.successful_sessions), sum(p.failed_sessions),
r.start_time / 86400 FROM reports r INDEXED BY reports_trusted JOIN policies p ON p.report_id = r.id WHERE ` + strings.Join(conds, " AND ") +
		` GROUP BY 1, 2, 3, 4`
	var fold store.PolicyTypeFolder
	err := db.scanAll(ctx, "policy type totals of trusted reports", q, args, func(rows *sql.Rows) error {
		var domain, typ, lines string
		var id, ok, failed, day int64
		if err := rows.Scan(&domain, &typ, &lines, &id, &ok, &failed, &day); err != nil {
			return err
		}
		fold.Add(domain, typ, lines, id, ok, failed, dayTime(day))
		return nil
	})
	return fold.Totals(), err
}

// UntrustedTotals sums the untrusted reports' rollup (migration 0009).
func (db *DB) UntrustedTotals(ctx context.Context, f store.Filter) ([]store.DomainTotal, error) {
	return db.domainTotals(ctx, f, "untrusted_days")
}

// ReportsByAuth counts the reports per DKIM result of their mail, those by
// HTTPS, and the rest (unverified). Verified mail is found from input_auth
// and trusted reports through their partial index: a scrape does not read
// every report.
func (db *DB) ReportsByAuth(ctx context.Context) ([]store.AuthCount, error) {
	var out []store.AuthCount
	var verified, authenticated int64
	err := db.scanAll(ctx, "reports by authentication", `SELECT a.dkim, a.authenticated, count(*)
FROM input_auth a JOIN reports r ON r.input_id = a.input_id GROUP BY 1, 2 ORDER BY 1, 2`, nil, func(rows *sql.Rows) error {
		var c store.AuthCount
		if err := rows.Scan(&c.DKIM, &c.Authenticated, &c.Reports); err != nil {
			return err
		}
		verified += c.Reports
		if c.Authenticated {
			authenticated += c.Reports
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var total, trusted int64
	if err := db.read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM reports),
(SELECT count(*) FROM reports INDEXED BY reports_trusted WHERE trusted = 1)`).Scan(&total, &trusted); err != nil {
		return nil, fmt.Errorf("sqlite: counting reports: %w", err)
	}
	https := trusted - authenticated
	out = append(out, store.AuthCount{DKIM: "https", Authenticated: true, Reports: https},
		store.AuthCount{DKIM: "unverified", Reports: total - verified - https})
	return out, nil
}
