package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// where builds the WHERE clause of a Filter over a table with a domain
// column and a day column (or a start_time in seconds when dayCol is empty).
func where(f store.Filter, domainCol, dayCol string) (string, []any) {
	var conds []string
	var args []any
	in(domainCol, f.Domains, &conds, &args)
	if !f.Since.IsZero() {
		conds = append(conds, dayCol+" >= ?")
		args = append(args, dayOf(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, dayCol+" <= ?")
		args = append(args, dayOf(f.Until))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// DomainTotals sums the domain rollups.
func (db *DB) DomainTotals(ctx context.Context, f store.Filter) ([]store.DomainTotal, error) {
	return db.domainTotals(ctx, f, "domain_days")
}

func (db *DB) domainTotals(ctx context.Context, f store.Filter, table string) ([]store.DomainTotal, error) {
	w, args := where(f, "policy_domain", "day")
	src, sargs := table, []any(nil)
	if table == "domain_days" {
		src, sargs = from(f, table)
	}
	args = append(sargs, args...)
	q := `SELECT policy_domain, sum(reports), sum(successful_sessions), sum(failed_sessions), count(*), min(day), max(day)
FROM ` + src + w + ` GROUP BY policy_domain ORDER BY policy_domain`
	var out []store.DomainTotal
	err := db.scanAll(ctx, "domain totals", q, args, func(rows *sql.Rows) error {
		var t store.DomainTotal
		var first, last int64
		err := rows.Scan(&t.Domain, &t.Reports, &t.SuccessfulSessions, &t.FailedSessions, &t.Days, &first, &last)
		t.First, t.Last = dayTime(first), dayTime(last)
		out = append(out, t)
		return err
	})
	return out, err
}

// Reporters counts the distinct reporting organisations per domain.
func (db *DB) Reporters(ctx context.Context, f store.Filter) (map[string]int, error) {
	w, args := where(f, "policy_domain", "day")
	src, sargs := from(f, "sender_days")
	args = append(sargs, args...)
	out := map[string]int{}
	err := db.scanAll(ctx, "reporters", `SELECT policy_domain, count(DISTINCT organization_name) FROM `+src+w+
		` GROUP BY policy_domain`, args, func(rows *sql.Rows) error {
		var d string
		var n int
		err := rows.Scan(&d, &n)
		out[d] = n
		return err
	})
	return out, err
}

// PeriodTotals reads DomainTotals and the periods' sums in one scan of the
// domain rollups, over the union of f's range and the periods.
func (db *DB) PeriodTotals(ctx context.Context, f store.Filter, periods []store.Period) ([]store.PeriodTotal, error) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !f.Since.IsZero() {
		lo = dayOf(f.Since)
	}
	if !f.Until.IsZero() {
		hi = dayOf(f.Until)
	}
	scan := store.Filter{Domains: f.Domains, Since: f.Since, Until: f.Until, Trusted: f.Trusted}
	wider := false
	for _, p := range periods {
		if !scan.Since.IsZero() && p.Since.Before(scan.Since) {
			scan.Since, wider = p.Since, true
		}
		if !scan.Until.IsZero() && p.Until.After(scan.Until) {
			scan.Until, wider = p.Until, true
		}
	}
	const inRange = "day BETWEEN ? AND ?"
	// The range's own sums need a condition only when the periods reach
	// beyond it (the usual trend periods lie inside the window).
	cols := []string{"sum(reports)", "sum(successful_sessions)", "sum(failed_sessions)", "count(*)", "min(day)", "max(day)"}
	var args, having []any
	if wider {
		cols = []string{"sum(CASE WHEN " + inRange + " THEN reports END)",
			"sum(CASE WHEN " + inRange + " THEN successful_sessions END)",
			"sum(CASE WHEN " + inRange + " THEN failed_sessions END)",
			"count(CASE WHEN " + inRange + " THEN 1 END)",
			"min(CASE WHEN " + inRange + " THEN day END)",
			"max(CASE WHEN " + inRange + " THEN day END)"}
		for range cols {
			args = append(args, lo, hi)
		}
		having = []any{lo, hi}
	}
	for _, p := range periods {
		for _, col := range []string{"successful_sessions", "failed_sessions"} {
			cols = append(cols, "coalesce(sum(CASE WHEN "+inRange+" THEN "+col+" END), 0)")
			args = append(args, dayOf(p.Since), dayOf(p.Until))
		}
	}
	w, wargs := where(scan, "policy_domain", "day")
	src, sargs := from(scan, "domain_days")
	wargs = append(sargs, wargs...)
	q := "SELECT policy_domain, " + strings.Join(cols, ", ") + " FROM " + src + w + " GROUP BY policy_domain"
	if wider {
		q += " HAVING count(CASE WHEN " + inRange + " THEN 1 END) > 0"
	}
	q += " ORDER BY policy_domain"
	args = append(append(args, wargs...), having...)
	var out []store.PeriodTotal
	err := db.scanAll(ctx, "period totals", q, args, func(rows *sql.Rows) error {
		t := store.PeriodTotal{PeriodSuccessful: make([]int64, len(periods)), PeriodFailed: make([]int64, len(periods))}
		var first, last int64
		dest := []any{&t.Domain, &t.Reports, &t.SuccessfulSessions, &t.FailedSessions, &t.Days, &first, &last}
		for i := range periods {
			dest = append(dest, &t.PeriodSuccessful[i], &t.PeriodFailed[i])
		}
		err := rows.Scan(dest...)
		t.First, t.Last = dayTime(first), dayTime(last)
		out = append(out, t)
		return err
	})
	return out, err
}

// MXTotals sums the MX series (migration 0004) of the filter's domains
// over its days. Rows arrive in key order, a domain's together; the series
// are read in place, and strings are made only for what is returned.
func (db *DB) MXTotals(ctx context.Context, f store.Filter, fn func(string, []store.MXTotal) error) error {
	if f.Trusted {
		return db.trustedMXTotals(ctx, f, fn)
	}
	var conds []string
	var args []any
	in("policy_domain", f.Domains, &conds, &args)
	q := `SELECT policy_domain, mx_host, result_type, days FROM mx_series`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY policy_domain, mx_host, result_type"
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !f.Since.IsZero() {
		lo = dayOf(f.Since)
	}
	if !f.Until.IsZero() {
		hi = dayOf(f.Until)
	}
	var domain string
	var totals []store.MXTotal
	types := map[string]string{} // a few distinct result types: one string each
	var rawDomain, mx, rt, days sql.RawBytes
	err := db.scanAll(ctx, "MX totals", q, args, func(rows *sql.Rows) error {
		if err := rows.Scan(&rawDomain, &mx, &rt, &days); err != nil {
			return err
		}
		var failed int64
		first, last := int64(math.MaxInt64), int64(math.MinInt64)
		err := eachDay(days, func(day, n int64) {
			if day >= lo && day <= hi {
				failed += n
				first, last = min(first, day), max(last, day)
			}
		})
		if err != nil {
			return fmt.Errorf("series of %s, %s, %s: %w", rawDomain, mx, rt, err)
		}
		if failed == 0 {
			return nil
		}
		if string(rawDomain) != domain {
			if len(totals) > 0 {
				if err := fn(domain, totals); err != nil {
					return err
				}
			}
			domain, totals = string(rawDomain), nil
		}
		t, ok := types[string(rt)]
		if !ok {
			t = string(rt)
			types[t] = t
		}
		totals = append(totals, store.MXTotal{Domain: domain, MX: string(mx), ResultType: t,
			FailedSessions: failed, First: dayTime(first), Last: dayTime(last)})
		return nil
	})
	if err == nil && len(totals) > 0 {
		err = fn(domain, totals)
	}
	return err
}

// Reports lists reports, newest first, with their per-report session counts
// (each session once, as in the rollups).
func (db *DB) Reports(ctx context.Context, f store.Filter) ([]store.ReportInfo, error) {
	out := make([]store.ReportInfo, 0, max(f.Limit, 0))
	err := db.EachReport(ctx, f, func(ri store.ReportInfo) error {
		out = append(out, ri)
		return nil
	})
	return out, err
}

// Listings are read a page at a time, each page with a query of its own
// that resumes after the last row of the one before (keyset pagination):
// the rows of a page are all read, and its read transaction over, before
// they are handed out, so a slow consumer of a long listing (a pager)
// does not keep a snapshot of the database open, which would stop the WAL
// from being folded back while reports keep arriving. Pages start at
// firstPage rows and double up to maxPage, so that a filter SQLite
// evaluates anew for every page (the reports of a domain) costs a few
// dozen evaluations over a listing of millions, not thousands.
const (
	firstPage = 512
	maxPage   = 16384
)

// pageSize returns how many rows the next page of a listing takes: twice
// the last page, within maxPage, and no more than the limit leaves (limit
// 0: none).
func pageSize(last, limit, done int) int {
	n := min(2*last, maxPage)
	if last == 0 {
		n = firstPage
	}
	if limit > 0 {
		n = min(n, limit-done)
	}
	return n
}

// EachReport calls fn with each report Reports lists, in its order, a page
// at a time (see firstPage): it holds no more than a page of them, and no
// read transaction while fn runs. Reports stored while the listing runs
// may or may not be part of it.
func (db *DB) EachReport(ctx context.Context, f store.Filter, fn func(store.ReportInfo) error) error {
	conds, args := reportConds(f)
	var page []store.ReportInfo
	var lastStart int64
	for done := 0; ; {
		n := pageSize(len(page), f.Limit, done)
		if n <= 0 {
			return nil
		}
		q := `SELECT r.id, r.organization_name, r.report_id, r.start_time, r.end_time, r.warnings, i.source,
a.dkim, a.dkim_domain, a.authenticated, a.reason
FROM reports r JOIN inputs i ON i.id = r.input_id LEFT JOIN input_auth a ON a.input_id = r.input_id`
		pconds, pargs := conds, args
		if done > 0 { // after the last report listed, in the listing's order
			pconds = append(slices.Clip(conds), "(r.start_time, r.id) < (?, ?)")
			pargs = append(slices.Clip(args), lastStart, page[len(page)-1].ID)
		}
		if len(pconds) > 0 {
			q += " WHERE " + strings.Join(pconds, " AND ")
		}
		q += fmt.Sprintf(" ORDER BY r.start_time DESC, r.id DESC LIMIT %d", n)
		page = page[:0]
		err := db.scanAll(ctx, "listing reports", q, pargs, func(rows *sql.Rows) error {
			var ri store.ReportInfo
			var end int64
			var warnings string
			var auth nullAuth
			if err := rows.Scan(&ri.ID, &ri.OrganizationName, &ri.ReportID, &lastStart, &end, &warnings, &ri.Source,
				&auth.dkim, &auth.domain, &auth.authenticated, &auth.reason); err != nil {
				return err
			}
			ri.Auth = auth.get()
			ri.Start, ri.End = time.Unix(lastStart, 0).UTC(), time.Unix(end, 0).UTC()
			if warnings != "" {
				ri.Warnings = strings.Count(warnings, "\n") + 1
			}
			page = append(page, ri)
			return nil
		})
		if err != nil {
			return err
		}
		if err := db.addReportSessions(ctx, page); err != nil {
			return fmt.Errorf("sqlite: listing reports: %w", err)
		}
		for _, ri := range page {
			if err := fn(ri); err != nil {
				return err // fn's own
			}
		}
		if done += len(page); len(page) < n {
			return nil
		}
	}
}

// addReportSessions fills in the listed reports' domains and sessions, each
// session once as store.Counted decides (the counted policies' figures
// added up, domains in the report's order), a few hundred reports a query.
func (db *DB) addReportSessions(ctx context.Context, list []store.ReportInfo) error {
	if len(list) == 0 {
		return nil
	}
	index := make(map[int64]int, len(list))
	lo, hi := list[0].ID, list[0].ID
	for i := range list {
		index[list[i].ID] = i
		lo, hi = min(lo, list[i].ID), max(hi, list[i].ID)
	}
	const sessions = `SELECT report_id, policy_domain, sum(successful_sessions * counted), sum(failed_sessions * counted)
FROM policies WHERE `
	const grouped = ` GROUP BY report_id, policy_domain ORDER BY report_id, min(position)`
	scan := func(rows *sql.Rows) error {
		var id, ok, failed int64
		var domain string
		if err := rows.Scan(&id, &domain, &ok, &failed); err != nil {
			return err
		}
		i, listed := index[id]
		if !listed {
			return nil
		}
		r := &list[i]
		r.Domains = append(r.Domains, domain)
		r.SuccessfulSessions += ok
		r.FailedSessions += failed
		return nil
	}
	// Most of a range of ids listed (--limit 0, a long period): one pass
	// over the range beats a lookup per report.
	if hi-lo < 2*int64(len(list)) {
		return db.scanAll(ctx, "sessions of the listed reports", sessions+`report_id BETWEEN ? AND ?`+grouped,
			[]any{lo, hi}, scan)
	}
	const perQuery = 500
	for start := 0; start < len(list); start += perQuery {
		chunk := list[start:min(start+perQuery, len(list))]
		args := make([]any, len(chunk))
		for i, r := range chunk {
			args[i] = r.ID
		}
		q := sessions + `report_id IN (` + strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",") + `)` + grouped
		if err := db.scanAll(ctx, "sessions of the listed reports", q, args, scan); err != nil {
			return err
		}
	}
	return nil
}

// reportConds are the conditions on reports r that f selects.
func reportConds(f store.Filter) ([]string, []any) {
	var conds []string
	var args []any
	if len(f.Domains) > 0 {
		var sub []string
		in("policy_domain", f.Domains, &sub, &args)
		conds = append(conds, "r.id IN (SELECT report_id FROM policies WHERE "+sub[0]+")")
	}
	startedWithin(f.Since, f.Until, &conds, &args)
	if f.Trusted {
		conds = append(conds, "r.trusted = 1")
	}
	return conds, args
}

// nullAuth scans input_auth's columns through a LEFT JOIN.
type nullAuth struct {
	dkim, domain, reason sql.NullString
	authenticated        sql.NullBool
}

func (a *nullAuth) get() *store.Auth {
	if !a.dkim.Valid {
		return nil
	}
	return &store.Auth{DKIM: a.dkim.String, Domain: a.domain.String, Authenticated: a.authenticated.Bool, Reason: a.reason.String}
}

// CountReports counts the reports f selects, its limit aside.
func (db *DB) CountReports(ctx context.Context, f store.Filter) (int64, error) {
	conds, args := reportConds(f)
	q := `SELECT count(*) FROM reports r`
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	var n int64
	if err := db.read.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: counting reports: %w", err)
	}
	return n, nil
}

// Report loads one report in full.
func (db *DB) Report(ctx context.Context, id int64) (*store.StoredReport, error) {
	var sr store.StoredReport
	var start, end, received int64
	var warnings string
	var auth nullAuth
	err := db.read.QueryRowContext(ctx, `SELECT r.id, r.organization_name, r.report_id, r.contact_info, r.start_time,
r.end_time, r.warnings, i.id, i.sha256, i.size, i.source, i.origin, i.received_at, i.outcome, i.error,
a.dkim, a.dkim_domain, a.authenticated, a.reason
FROM reports r JOIN inputs i ON i.id = r.input_id LEFT JOIN input_auth a ON a.input_id = i.id WHERE r.id = ?`, id).Scan(
		&sr.ID, &sr.Report.OrganizationName, &sr.Report.ReportID, &sr.Report.ContactInfo, &start, &end, &warnings,
		&sr.Input.ID, &sr.Input.SHA256, &sr.Input.Size, &sr.Input.Source, &sr.Input.Origin, &received,
		&sr.Input.Outcome, &sr.Input.Error, &auth.dkim, &auth.domain, &auth.authenticated, &auth.reason)
	sr.Input.Auth = auth.get()
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("report %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: loading report %d: %w", id, err)
	}
	sr.Report.DateRange = parse.DateRange{Start: time.Unix(start, 0).UTC(), End: time.Unix(end, 0).UTC()}
	sr.Input.ReceivedAt = time.UnixMilli(received).UTC()
	if warnings != "" {
		sr.Report.Warnings = strings.Split(warnings, "\n")
	}
	if sr.Report.Policies, err = db.loadPolicies(ctx, id); err != nil {
		return nil, err
	}
	return &sr, nil
}

func (db *DB) loadPolicies(ctx context.Context, reportID int64) ([]parse.Policy, error) {
	var out []parse.Policy
	err := scanPolicies(ctx, db.read, `p.report_id = ?`, []any{reportID}, func(int64) *[]parse.Policy { return &out })
	if err != nil {
		return nil, fmt.Errorf("sqlite: loading policies of report %d: %w", reportID, err)
	}
	return out, nil
}

// sqlInputsOfContent is Inputs with a SHA256: the input holding the
// content (found by input_hashes, not by reading inputs) when its id is
// above the first argument, and the content's arrivals since.
const sqlInputsOfContent = `SELECT i.id, i.sha256, i.size, i.source, i.origin, i.received_at, i.outcome, i.error,
au.dkim, au.dkim_domain, au.authenticated, au.reason
FROM input_hashes h JOIN inputs i ON i.id = h.input_id LEFT JOIN input_auth au ON au.input_id = i.id
WHERE h.content_key = ?3 AND i.sha256 = ?2 AND i.id > ?1
UNION ALL
SELECT i.id, i.sha256, i.size, a.source, a.origin, a.received_at, i.outcome, i.error,
au.dkim, au.dkim_domain, au.authenticated, au.reason
FROM input_hashes h JOIN inputs i ON i.id = h.input_id JOIN arrivals a ON a.input_id = h.input_id
LEFT JOIN input_auth au ON au.input_id = i.id
WHERE h.content_key = ?3 AND i.sha256 = ?2`

// inputsQuery builds the query of Inputs; its arguments are f.AfterID,
// then f.SHA256 when set.
func (db *DB) inputsQuery(f store.InputFilter) (string, error) {
	if f.SHA256 != nil {
		return sqlInputsOfContent, nil
	}
	q := `SELECT i.id, i.sha256, i.size, i.source, i.origin, i.received_at, i.outcome, i.error,
au.dkim, au.dkim_domain, au.authenticated, au.reason
FROM inputs i LEFT JOIN input_auth au ON au.input_id = i.id WHERE i.id > ?`
	if f.BeforeID > 0 {
		q += fmt.Sprintf(" AND i.id < %d", f.BeforeID)
	}
	if len(f.Outcomes) > 0 {
		// Literals, not parameters: only then can SQLite use the partial
		// index on the outcomes reprocess asks for. Outcomes are a closed
		// set, checked here.
		var lits []string
		for _, o := range f.Outcomes {
			switch o {
			case store.OutcomeStored, store.OutcomeDuplicate, store.OutcomeInvalid, store.OutcomeNoReport, store.OutcomeUnauthenticated:
				lits = append(lits, "'"+string(o)+"'")
			default:
				return "", fmt.Errorf("sqlite: listing inputs: unknown outcome %q", o)
			}
		}
		q += " AND i.outcome IN (" + strings.Join(lits, ", ") + ")"
	}
	q += " ORDER BY i.id"
	if f.Newest {
		q += " DESC"
	}
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return q, nil
}

// Inputs lists recorded inputs, oldest first.
func (db *DB) Inputs(ctx context.Context, f store.InputFilter) ([]store.InputInfo, error) {
	q, err := db.inputsQuery(f)
	if err != nil {
		return nil, err
	}
	args := []any{f.AfterID}
	if f.SHA256 != nil {
		if len(f.SHA256) != sha256.Size {
			return nil, fmt.Errorf("sqlite: listing inputs: a SHA-256 of %d bytes", len(f.SHA256))
		}
		args = append(args, f.SHA256, contentKey(f.SHA256))
	}
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: listing inputs: %w", err)
	}
	defer rows.Close()
	var out []store.InputInfo
	for rows.Next() {
		var in store.InputInfo
		var received int64
		var auth nullAuth
		if err := rows.Scan(&in.ID, &in.SHA256, &in.Size, &in.Source, &in.Origin, &received, &in.Outcome, &in.Error,
			&auth.dkim, &auth.domain, &auth.authenticated, &auth.reason); err != nil {
			return nil, err
		}
		in.Auth = auth.get()
		in.ReceivedAt = time.UnixMilli(received).UTC()
		out = append(out, in)
	}
	return out, rows.Err()
}

// Raw returns an input's bytes.
func (db *DB) Raw(ctx context.Context, inputID int64) ([]byte, error) {
	var data []byte
	err := db.read.QueryRowContext(ctx, `SELECT data FROM inputs WHERE id = ?`, inputID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("input %d: %w", inputID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: reading input %d: %w", inputID, err)
	}
	return data, nil
}
