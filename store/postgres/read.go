package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// args collects a query's arguments and hands out their placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

// where is the WHERE clause of a Filter over a rollup with a domain and a
// day column.
func where(f store.Filter, a *args) string {
	var conds []string
	if len(f.Domains) > 0 {
		conds = append(conds, "policy_domain = ANY("+a.add(f.Domains)+")")
	}
	if !f.Since.IsZero() {
		conds = append(conds, "day >= "+a.add(dayOf(f.Since)))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "day <= "+a.add(dayOf(f.Until)))
	}
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// from is the source a rollup query reads: the rollup table, or for a
// Trusted filter the same rows summed from the trusted reports (as in
// store/sqlite), named as the table.
func from(f store.Filter, table string, a *args) string {
	if !f.Trusted {
		return table
	}
	conds := []string{"r.trusted"}
	if !f.Since.IsZero() {
		conds = append(conds, "r.start_time >= "+a.add(dayOf(f.Since)*86400))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "r.start_time < "+a.add((dayOf(f.Until)+1)*86400))
	}
	if len(f.Domains) > 0 {
		conds = append(conds, "p.policy_domain = ANY("+a.add(f.Domains)+")")
	}
	const day = "r.start_time / 86400"
	const sessions = "sum(p.successful_sessions * p.counted::int) AS successful_sessions, sum(p.failed_sessions * p.counted::int) AS failed_sessions"
	base := " FROM reports r JOIN policies p ON p.report_id = r.id"
	var q, group string
	switch table {
	case "domain_days":
		q, group = "SELECT p.policy_domain, "+day+" AS day, count(DISTINCT r.id) AS reports, "+sessions+base, "1, 2"
	case "sender_days":
		q, group = "SELECT p.policy_domain, r.organization_name, "+day+" AS day, count(DISTINCT r.id) AS reports, "+sessions+base, "1, 2, 3"
	case "ip_days":
		q, group = "SELECT fd.sending_mta_ip, fd.result_type, p.policy_domain, "+day+" AS day, sum(fd.failed_sessions) AS failed_sessions"+base+
			" JOIN failure_details fd ON fd.report_id = p.report_id AND fd.policy_position = p.position AND p.counted", "1, 2, 3, 4"
	case "mx_days":
		q, group = "SELECT p.policy_domain, fd.receiving_mx_hostname AS mx_host, fd.result_type, "+day+" AS day, sum(fd.failed_sessions) AS failed_sessions"+base+
			" JOIN failure_details fd ON fd.report_id = p.report_id AND fd.policy_position = p.position AND p.counted", "1, 2, 3, 4"
	case "domain_policies":
		q, group = "SELECT p.policy_domain, p.policy_type, p.policy_string, p.mx_host, min("+day+") AS first_day, max("+day+") AS last_day, count(DISTINCT r.id) AS reports"+base, "1, 2, 3, 4"
	default:
		panic("postgres: no trusted source for " + table)
	}
	return "(" + q + " WHERE " + strings.Join(conds, " AND ") + " GROUP BY " + group + ") AS " + table
}

// scan runs q and calls fn with each row's values scanned into dest.
func (db *DB) scan(ctx context.Context, what, q string, a args, dest []any, fn func() error) error {
	rows, err := db.pool.Query(ctx, q, a...)
	if err != nil {
		return classify(fmt.Errorf("postgres: %s: %w", what, err))
	}
	if _, err := pgx.ForEachRow(rows, dest, fn); err != nil {
		return classify(fmt.Errorf("postgres: %s: %w", what, err))
	}
	return nil
}

// DomainTotals sums the domain rollups.
func (db *DB) DomainTotals(ctx context.Context, f store.Filter) ([]store.DomainTotal, error) {
	return db.domainTotals(ctx, f, "domain_days")
}

// UntrustedTotals sums the untrusted reports' rollup.
func (db *DB) UntrustedTotals(ctx context.Context, f store.Filter) ([]store.DomainTotal, error) {
	f.Trusted = false
	return db.domainTotals(ctx, f, "untrusted_days")
}

func (db *DB) domainTotals(ctx context.Context, f store.Filter, table string) ([]store.DomainTotal, error) {
	var a args
	src := from(f, table, &a)
	q := `SELECT policy_domain, sum(reports), sum(successful_sessions), sum(failed_sessions), count(*), min(day), max(day)
FROM ` + src + where(f, &a) + ` GROUP BY policy_domain ORDER BY policy_domain`
	var out []store.DomainTotal
	var t store.DomainTotal
	var first, last int64
	err := db.scan(ctx, "domain totals", q, a, []any{&t.Domain, &t.Reports, &t.SuccessfulSessions, &t.FailedSessions, &t.Days, &first, &last}, func() error {
		t.First, t.Last = dayTime(first), dayTime(last)
		out = append(out, t)
		return nil
	})
	return out, err
}

// Reporters counts the distinct reporting organisations per domain.
func (db *DB) Reporters(ctx context.Context, f store.Filter) (map[string]int, error) {
	var a args
	src := from(f, "sender_days", &a)
	out := map[string]int{}
	var d string
	var n int
	err := db.scan(ctx, "reporters", `SELECT policy_domain, count(*) FROM (SELECT DISTINCT policy_domain, organization_name FROM `+
		src+where(f, &a)+`) AS pairs GROUP BY policy_domain`, a, []any{&d, &n}, func() error {
		out[d] = n
		return nil
	})
	return out, err
}

// PeriodTotals is DomainTotals with each domain's sessions in periods.
func (db *DB) PeriodTotals(ctx context.Context, f store.Filter, periods []store.Period) ([]store.PeriodTotal, error) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !f.Since.IsZero() {
		lo = dayOf(f.Since)
	}
	if !f.Until.IsZero() {
		hi = dayOf(f.Until)
	}
	scan := f
	wider := false
	for _, p := range periods {
		if !scan.Since.IsZero() && p.Since.Before(scan.Since) {
			scan.Since, wider = p.Since, true
		}
		if !scan.Until.IsZero() && p.Until.After(scan.Until) {
			scan.Until, wider = p.Until, true
		}
	}
	var a args
	// The range's own sums need a condition only when the periods reach
	// beyond it (the usual trend periods lie inside the window).
	cols := []string{"sum(reports)", "sum(successful_sessions)", "sum(failed_sessions)", "count(*)", "min(day)", "max(day)"}
	in := ""
	if wider {
		in = "day BETWEEN " + a.add(lo) + " AND " + a.add(hi)
		cols = []string{"sum(CASE WHEN " + in + " THEN reports END)", "sum(CASE WHEN " + in + " THEN successful_sessions END)",
			"sum(CASE WHEN " + in + " THEN failed_sessions END)", "count(CASE WHEN " + in + " THEN 1 END)",
			"min(CASE WHEN " + in + " THEN day END)", "max(CASE WHEN " + in + " THEN day END)"}
	}
	for _, p := range periods {
		pin := "day BETWEEN " + a.add(dayOf(p.Since)) + " AND " + a.add(dayOf(p.Until))
		cols = append(cols, "coalesce(sum(CASE WHEN "+pin+" THEN successful_sessions END), 0)",
			"coalesce(sum(CASE WHEN "+pin+" THEN failed_sessions END), 0)")
	}
	src := from(scan, "domain_days", &a)
	q := "SELECT policy_domain, " + strings.Join(cols, ", ") + " FROM " + src + where(scan, &a) + " GROUP BY policy_domain"
	if wider {
		q += " HAVING count(CASE WHEN " + in + " THEN 1 END) > 0"
	}
	q += " ORDER BY policy_domain"
	var out []store.PeriodTotal
	t := store.PeriodTotal{PeriodSuccessful: make([]int64, len(periods)), PeriodFailed: make([]int64, len(periods))}
	var first, last int64
	dest := []any{&t.Domain, &t.Reports, &t.SuccessfulSessions, &t.FailedSessions, &t.Days, &first, &last}
	for i := range periods {
		dest = append(dest, &t.PeriodSuccessful[i], &t.PeriodFailed[i])
	}
	err := db.scan(ctx, "period totals", q, a, dest, func() error {
		c := t
		c.PeriodSuccessful, c.PeriodFailed = slices.Clone(t.PeriodSuccessful), slices.Clone(t.PeriodFailed)
		c.First, c.Last = dayTime(first), dayTime(last)
		out = append(out, c)
		return nil
	})
	return out, err
}

// MXTotals sums the MX series per domain, MX host and result type over
// the filter's days, in Go as store/sqlite does; with Trusted, from the
// trusted reports' failure details.
func (db *DB) MXTotals(ctx context.Context, f store.Filter, fn func(string, []store.MXTotal) error) error {
	var a args
	var q string
	trusted := f.Trusted
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !f.Since.IsZero() {
		lo = dayOf(f.Since)
	}
	if !f.Until.IsZero() {
		hi = dayOf(f.Until)
	}
	var domain string
	var totals []store.MXTotal
	emit := func(t store.MXTotal) error {
		if t.Domain != domain && len(totals) > 0 {
			if err := fn(domain, totals); err != nil {
				return err
			}
			totals = nil
		}
		domain = t.Domain
		totals = append(totals, t)
		return nil
	}
	var t store.MXTotal
	var err error
	types := map[string]string{}
	if trusted {
		src := from(f, "mx_days", &a)
		q = `SELECT policy_domain, mx_host, result_type, sum(failed_sessions), min(day), max(day) FROM ` + src +
			` GROUP BY 1, 2, 3 HAVING sum(failed_sessions) > 0 ORDER BY 1, 2, 3`
		var first, last int64
		err = db.scan(ctx, "MX totals", q, a, []any{&t.Domain, &t.MX, &t.ResultType, &t.FailedSessions, &first, &last}, func() error {
			c := t
			c.First, c.Last = dayTime(first), dayTime(last)
			return emit(c)
		})
	} else {
		// The series come as text and are summed here: the server only
		// reads them, which is what it can do fastest (as store/sqlite).
		q = `SELECT policy_domain, mx_host, result_type, days, fails FROM mx_series`
		if len(f.Domains) > 0 {
			q += " WHERE policy_domain = ANY(" + a.add(f.Domains) + ")"
		}
		q += " ORDER BY 1, 2, 3"
		// Read raw, as store/sqlite does: strings are made only for what
		// is returned, result types interned (a few distinct ones).
		err = db.eachRaw(ctx, "MX totals", q, a, func(v [][]byte) error {
			failed, first, last, err := sumSeries(string(v[3]), string(v[4]), lo, hi)
			if err != nil {
				return fmt.Errorf("series of %s, %s, %s: %w", v[0], v[1], v[2], err)
			}
			if failed == 0 {
				return nil
			}
			d := domain
			if string(v[0]) != domain {
				d = string(v[0])
			}
			rt, ok := types[string(v[2])]
			if !ok {
				rt = string(v[2])
				types[rt] = rt
			}
			return emit(store.MXTotal{Domain: d, MX: string(v[1]), ResultType: rt, FailedSessions: failed,
				First: dayTime(first), Last: dayTime(last)})
		})
	}
	if err == nil && len(totals) > 0 {
		err = fn(domain, totals)
	}
	return err
}

// eachRaw runs q and calls fn with each row's values as the server sent
// them in text: valid only during the call.
func (db *DB) eachRaw(ctx context.Context, what, q string, a args, fn func([][]byte) error) error {
	rows, err := db.pool.Query(ctx, q, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, a...)...)
	if err != nil {
		return classify(fmt.Errorf("postgres: %s: %w", what, err))
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.RawValues()); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return classify(fmt.Errorf("postgres: %s: %w", what, err))
	}
	return nil
}

// sumSeries sums the fails of the days in [lo, hi] of a series given as
// PostgreSQL's text of two bigint arrays ("{20364,20365}", "{3,1}").
func sumSeries(days, fails string, lo, hi int64) (failed, first, last int64, err error) {
	first, last = math.MaxInt64, math.MinInt64
	d, f := strings.Trim(days, "{}"), strings.Trim(fails, "{}")
	for d != "" {
		var dv, fv int64
		var ok bool
		if dv, d, ok = nextInt(d); !ok {
			return 0, 0, 0, fmt.Errorf("bad days %.40q", days)
		}
		if fv, f, ok = nextInt(f); !ok {
			return 0, 0, 0, fmt.Errorf("bad fails %.40q", fails)
		}
		if dv >= lo && dv <= hi && fv != 0 {
			failed += fv
			first, last = min(first, dv), max(last, dv)
		}
	}
	return failed, first, last, nil
}

// nextInt reads the integer at the start of s and the comma after it.
func nextInt(s string) (int64, string, bool) {
	var v int64
	neg := false
	i := 0
	if i < len(s) && s[i] == '-' {
		neg, i = true, 1
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		v = v*10 + int64(s[i]-'0')
		i++
	}
	if i == start || i-start > 18 {
		return 0, s, false
	}
	if neg {
		v = -v
	}
	if i < len(s) {
		if s[i] != ',' {
			return 0, s, false
		}
		i++
	}
	return v, s[i:], true
}

// PolicyTypeTotals sums the policy-type rollup; with Trusted, from the
// trusted reports' policies, the mode read as parse.Policy.Mode reads it.
func (db *DB) PolicyTypeTotals(ctx context.Context, f store.Filter) ([]store.PolicyTypeTotal, error) {
	var out []store.PolicyTypeTotal
	var t store.PolicyTypeTotal
	var first, last int64
	if !f.Trusted {
		var a args
		q := `SELECT policy_domain, policy_type, mode, sum(reports), sum(successful_sessions), sum(failed_sessions), min(day), max(day)
FROM policy_days` + where(f, &a) + ` GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`
		err := db.scan(ctx, "policy type totals", q, a, []any{&t.Domain, &t.Type, &t.Mode, &t.Reports, &t.SuccessfulSessions, &t.FailedSessions, &first, &last}, func() error {
			t.First, t.Last = dayTime(first), dayTime(last)
			out = append(out, t)
			return nil
		})
		return out, err
	}
	var a args
	conds := []string{"r.trusted"}
	if !f.Since.IsZero() {
		conds = append(conds, "r.start_time >= "+a.add(dayOf(f.Since)*86400))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "r.start_time < "+a.add((dayOf(f.Until)+1)*86400))
	}
	if len(f.Domains) > 0 {
		conds = append(conds, "p.policy_domain = ANY("+a.add(f.Domains)+")")
	}
	q := `SELECT p.policy_domain, p.policy_type, p.policy_string, r.id, sum(p.successful_sessions), sum(p.failed_sessions), r.start_time / 86400
FROM reports r JOIN policies p ON p.report_id = r.id WHERE ` + strings.Join(conds, " AND ") + ` GROUP BY 1, 2, 3, 4`
	var fold store.PolicyTypeFolder
	var domain, typ, lines string
	var id, ok, failed, day int64
	err := db.scan(ctx, "policy type totals of trusted reports", q, a, []any{&domain, &typ, &lines, &id, &ok, &failed, &day}, func() error {
		fold.Add(domain, typ, lines, id, ok, failed, dayTime(day))
		return nil
	})
	return fold.Totals(), err
}

// DayTotals reads the domain rollup day by day.
func (db *DB) DayTotals(ctx context.Context, f store.Filter) ([]store.DayTotal, error) {
	var a args
	src := from(f, "domain_days", &a)
	var out []store.DayTotal
	var t store.DayTotal
	var day int64
	err := db.scan(ctx, "day totals", `SELECT policy_domain, day, reports, successful_sessions, failed_sessions FROM `+src+where(f, &a)+
		` ORDER BY policy_domain, day`, a, []any{&t.Domain, &day, &t.Reports, &t.SuccessfulSessions, &t.FailedSessions}, func() error {
		t.Day = dayTime(day)
		out = append(out, t)
		return nil
	})
	return out, err
}

// SenderTotals sums the sender rollup.
func (db *DB) SenderTotals(ctx context.Context, f store.Filter) ([]store.SenderTotal, error) {
	var a args
	src := from(f, "sender_days", &a)
	var out []store.SenderTotal
	var t store.SenderTotal
	err := db.scan(ctx, "sender totals", `SELECT policy_domain, organization_name, sum(reports), sum(successful_sessions), sum(failed_sessions)
FROM `+src+where(f, &a)+` GROUP BY 1, 2 ORDER BY 1, 2`, a, []any{&t.Domain, &t.Organization, &t.Reports, &t.SuccessfulSessions, &t.FailedSessions}, func() error {
		out = append(out, t)
		return nil
	})
	return out, err
}

// IPTotals sums the sending-IP rollup.
func (db *DB) IPTotals(ctx context.Context, f store.Filter) ([]store.IPTotal, error) {
	var a args
	src := from(f, "ip_days", &a)
	var out []store.IPTotal
	var t store.IPTotal
	err := db.scan(ctx, "sending IP totals", `SELECT sending_mta_ip, result_type, policy_domain, sum(failed_sessions) FROM `+src+where(f, &a)+
		` GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, a, []any{&t.IP, &t.ResultType, &t.Domain, &t.FailedSessions}, func() error {
		out = append(out, t)
		return nil
	})
	return out, err
}

// Policies lists the policies senders applied, with the days they were seen.
func (db *DB) Policies(ctx context.Context, f store.Filter) ([]store.PolicySeen, error) {
	var a args
	src := from(f, "domain_policies", &a)
	var conds []string
	if len(f.Domains) > 0 {
		conds = append(conds, "policy_domain = ANY("+a.add(f.Domains)+")")
	}
	if !f.Since.IsZero() {
		conds = append(conds, "last_day >= "+a.add(dayOf(f.Since)))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "first_day <= "+a.add(dayOf(f.Until)))
	}
	q := `SELECT policy_domain, policy_type, policy_string, mx_host, first_day, last_day, reports FROM ` + src
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY 1, 2, 3, 4"
	var out []store.PolicySeen
	var p store.PolicySeen
	var lines, mx string
	var first, last int64
	err := db.scan(ctx, "policies", q, a, []any{&p.Domain, &p.Type, &lines, &mx, &first, &last, &p.Reports}, func() error {
		p.Lines, p.MXHosts = splitNonEmpty(lines), splitNonEmpty(mx)
		p.First, p.Last = dayTime(first), dayTime(last)
		out = append(out, p)
		return nil
	})
	return out, err
}

func splitNonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// reportConds are the conditions on reports r that f selects.
func reportConds(f store.Filter, a *args) []string {
	var conds []string
	if len(f.Domains) > 0 {
		conds = append(conds, "r.id IN (SELECT report_id FROM policies WHERE policy_domain = ANY("+a.add(f.Domains)+"))")
	}
	if !f.Since.IsZero() {
		conds = append(conds, "r.start_time >= "+a.add(dayOf(f.Since)*86400))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "r.start_time < "+a.add((dayOf(f.Until)+1)*86400))
	}
	if f.Trusted {
		conds = append(conds, "r.trusted")
	}
	return conds
}

// Reports lists reports, newest first.
func (db *DB) Reports(ctx context.Context, f store.Filter) ([]store.ReportInfo, error) {
	var out []store.ReportInfo
	err := db.EachReport(ctx, f, func(ri store.ReportInfo) error {
		out = append(out, ri)
		return nil
	})
	return out, err
}

// EachReport lists reports a page at a time, resuming after the last
// (keyset pagination), newest first.
func (db *DB) EachReport(ctx context.Context, f store.Filter, fn func(store.ReportInfo) error) error {
	var last *store.ReportInfo
	for done := 0; ; {
		n := 1000
		if f.Limit > 0 {
			n = min(n, f.Limit-done)
		}
		if n <= 0 {
			return nil
		}
		var a args
		conds := reportConds(f, &a)
		if last != nil {
			conds = append(conds, "(r.start_time, r.id) < ("+a.add(last.Start.Unix())+", "+a.add(last.ID)+")")
		}
		q := `SELECT r.id, r.organization_name, r.report_id, r.start_time, r.end_time, r.warnings, i.source,
au.dkim, au.dkim_domain, au.authenticated, au.reason,
(SELECT array_agg(policy_domain ORDER BY pos) FROM (SELECT policy_domain, min(position) AS pos FROM policies WHERE report_id = r.id GROUP BY policy_domain) d),
(SELECT coalesce(sum(successful_sessions * counted::int), 0) FROM policies WHERE report_id = r.id),
(SELECT coalesce(sum(failed_sessions * counted::int), 0) FROM policies WHERE report_id = r.id)
FROM reports r JOIN inputs i ON i.id = r.input_id LEFT JOIN input_auth au ON au.input_id = r.input_id`
		if len(conds) > 0 {
			q += " WHERE " + strings.Join(conds, " AND ")
		}
		q += fmt.Sprintf(" ORDER BY r.start_time DESC, r.id DESC LIMIT %d", n)
		var page []store.ReportInfo
		var ri store.ReportInfo
		var start, end int64
		var warnings string
		var au nullAuth
		var domains []string
		err := db.scan(ctx, "listing reports", q, a, []any{&ri.ID, &ri.OrganizationName, &ri.ReportID, &start, &end, &warnings, &ri.Source,
			&au.dkim, &au.domain, &au.authenticated, &au.reason, &domains, &ri.SuccessfulSessions, &ri.FailedSessions}, func() error {
			r := ri
			r.Start, r.End = time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
			r.Domains, r.Auth, r.Warnings = slices.Clone(domains), au.get(), 0
			if warnings != "" {
				r.Warnings = strings.Count(warnings, "\n") + 1
			}
			page = append(page, r)
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
		last = &page[len(page)-1]
	}
}

// nullAuth scans input_auth's columns through a LEFT JOIN.
type nullAuth struct {
	dkim, domain, reason *string
	authenticated        *bool
}

func (a *nullAuth) get() *store.Auth {
	if a.dkim == nil {
		return nil
	}
	return &store.Auth{DKIM: *a.dkim, Domain: *a.domain, Authenticated: *a.authenticated, Reason: *a.reason}
}

// CountReports counts the reports f selects.
func (db *DB) CountReports(ctx context.Context, f store.Filter) (int64, error) {
	var a args
	conds := reportConds(f, &a)
	q := `SELECT count(*) FROM reports r`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	var n int64
	if err := db.pool.QueryRow(ctx, q, a...).Scan(&n); err != nil {
		return 0, classify(fmt.Errorf("postgres: counting reports: %w", err))
	}
	return n, nil
}

// Report loads one report in full.
func (db *DB) Report(ctx context.Context, id int64) (*store.StoredReport, error) {
	var sr store.StoredReport
	var start, end, received int64
	var warnings string
	var au nullAuth
	err := db.pool.QueryRow(ctx, `SELECT r.id, r.organization_name, r.report_id, r.contact_info, r.start_time, r.end_time, r.warnings,
i.id, i.sha256, i.size, i.source, i.origin, i.received_at, i.outcome, i.error, au.dkim, au.dkim_domain, au.authenticated, au.reason
FROM reports r JOIN inputs i ON i.id = r.input_id LEFT JOIN input_auth au ON au.input_id = i.id WHERE r.id = $1`, id).Scan(
		&sr.ID, &sr.Report.OrganizationName, &sr.Report.ReportID, &sr.Report.ContactInfo, &start, &end, &warnings,
		&sr.Input.ID, &sr.Input.SHA256, &sr.Input.Size, &sr.Input.Source, &sr.Input.Origin, &received, &sr.Input.Outcome, &sr.Input.Error,
		&au.dkim, &au.domain, &au.authenticated, &au.reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("report %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, classify(fmt.Errorf("postgres: loading report %d: %w", id, err))
	}
	sr.Input.Auth = au.get()
	sr.Report.DateRange = parse.DateRange{Start: time.Unix(start, 0).UTC(), End: time.Unix(end, 0).UTC()}
	sr.Input.ReceivedAt = time.UnixMilli(received).UTC()
	if warnings != "" {
		sr.Report.Warnings = strings.Split(warnings, "\n")
	}
	pols := map[int]*parse.Policy{}
	var order []int
	var pos int
	var p parse.Policy
	var lines, mx string
	err = db.scan(ctx, "policies of a report", `SELECT position, policy_type, policy_domain, policy_string, mx_host, successful_sessions, failed_sessions
FROM policies WHERE report_id = $1 ORDER BY position`, args{id}, []any{&pos, &p.Type, &p.Domain, &lines, &mx, &p.SuccessfulSessions, &p.FailedSessions}, func() error {
		c := p
		c.String, c.MXHosts = splitNonEmpty(lines), splitNonEmpty(mx)
		pols[pos] = &c
		order = append(order, pos)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var fd parse.FailureDetail
	err = db.scan(ctx, "failure details of a report", `SELECT policy_position, result_type, sending_mta_ip, receiving_mx_hostname, receiving_mx_helo,
receiving_ip, failed_sessions, additional_information, failure_reason_code FROM failure_details WHERE report_id = $1 ORDER BY policy_position, position`,
		args{id}, []any{&pos, &fd.ResultType, &fd.SendingMTAIP, &fd.ReceivingMXHostname, &fd.ReceivingMXHelo, &fd.ReceivingIP, &fd.FailedSessions,
			&fd.AdditionalInformation, &fd.FailureReasonCode}, func() error {
			pols[pos].FailureDetails = append(pols[pos].FailureDetails, fd)
			return nil
		})
	if err != nil {
		return nil, err
	}
	for _, i := range order {
		sr.Report.Policies = append(sr.Report.Policies, *pols[i])
	}
	return &sr, nil
}

// Inputs lists recorded inputs.
func (db *DB) Inputs(ctx context.Context, f store.InputFilter) ([]store.InputInfo, error) {
	const cols = `i.id, i.sha256, i.size, i.source, i.origin, i.received_at, i.outcome, i.error, au.dkim, au.dkim_domain, au.authenticated, au.reason`
	var a args
	var q string
	if f.SHA256 != nil {
		if len(f.SHA256) != sha256.Size {
			return nil, fmt.Errorf("postgres: listing inputs: a SHA-256 of %d bytes", len(f.SHA256))
		}
		sum, after := a.add(f.SHA256), a.add(f.AfterID)
		q = `SELECT ` + cols + ` FROM inputs i LEFT JOIN input_auth au ON au.input_id = i.id WHERE i.sha256 = ` + sum + ` AND i.id > ` + after + `
UNION ALL
SELECT i.id, i.sha256, i.size, ar.source, ar.origin, ar.received_at, i.outcome, i.error, au.dkim, au.dkim_domain, au.authenticated, au.reason
FROM inputs i JOIN arrivals ar ON ar.input_id = i.id LEFT JOIN input_auth au ON au.input_id = i.id WHERE i.sha256 = ` + sum
	} else {
		conds := []string{"i.id > " + a.add(f.AfterID)}
		if f.BeforeID > 0 {
			conds = append(conds, "i.id < "+a.add(f.BeforeID))
		}
		if len(f.Outcomes) > 0 {
			var names []string
			for _, o := range f.Outcomes {
				names = append(names, string(o))
			}
			conds = append(conds, "i.outcome = ANY("+a.add(names)+")")
		}
		q = `SELECT ` + cols + ` FROM inputs i LEFT JOIN input_auth au ON au.input_id = i.id WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY i.id`
		if f.Newest {
			q += " DESC"
		}
		if f.Limit > 0 {
			q += fmt.Sprintf(" LIMIT %d", f.Limit)
		}
	}
	var out []store.InputInfo
	var in store.InputInfo
	var received int64
	var au nullAuth
	var outcome string
	err := db.scan(ctx, "listing inputs", q, a, []any{&in.ID, &in.SHA256, &in.Size, &in.Source, &in.Origin, &received, &outcome, &in.Error,
		&au.dkim, &au.domain, &au.authenticated, &au.reason}, func() error {
		c := in
		c.SHA256 = slices.Clone(in.SHA256)
		c.Outcome, c.ReceivedAt, c.Auth = store.Outcome(outcome), time.UnixMilli(received).UTC(), au.get()
		out = append(out, c)
		return nil
	})
	return out, err
}

// Raw returns an input's bytes.
func (db *DB) Raw(ctx context.Context, inputID int64) ([]byte, error) {
	var data []byte
	err := db.pool.QueryRow(ctx, `SELECT data FROM inputs WHERE id = $1`, inputID).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("input %d: %w", inputID, store.ErrNotFound)
	}
	if err != nil {
		return nil, classify(fmt.Errorf("postgres: reading input %d: %w", inputID, err))
	}
	return data, nil
}

// MaxReportID is the newest report's id.
func (db *DB) MaxReportID(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM reports`).Scan(&n); err != nil {
		return 0, classify(fmt.Errorf("postgres: %w", err))
	}
	return n, nil
}

// ReportsByAuth counts the reports by authentication.
func (db *DB) ReportsByAuth(ctx context.Context) ([]store.AuthCount, error) {
	var out []store.AuthCount
	var c store.AuthCount
	var verified, authenticated int64
	err := db.scan(ctx, "reports by authentication", `SELECT a.dkim, a.authenticated, count(*) FROM input_auth a
JOIN reports r ON r.input_id = a.input_id GROUP BY 1, 2 ORDER BY 1, 2`, nil, []any{&c.DKIM, &c.Authenticated, &c.Reports}, func() error {
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
	if err := db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM reports WHERE trusted)`).Scan(&total, &trusted); err != nil {
		return nil, classify(fmt.Errorf("postgres: counting reports: %w", err))
	}
	https := trusted - authenticated
	return append(out, store.AuthCount{DKIM: "https", Authenticated: true, Reports: https},
		store.AuthCount{DKIM: "unverified", Reports: total - verified - https}), nil
}
