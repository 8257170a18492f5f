package sqlite

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// Ingest stores a batch of inputs in one transaction: all of them or, on
// error, none. The transaction is durably committed (synchronous=FULL)
// before Ingest returns, so a caller may acknowledge what it returns.
//
// The batch is assembled in memory first (ids, duplicates, rollups) and
// written with a few multi-row statements per table: with an embedded
// engine, the cost of a statement, not of a row, is what limits a writer.
func (db *DB) Ingest(ctx context.Context, inputs []store.Input) ([]store.Result, error) {
	var results []store.Result
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		b, err := db.newBatch(ctx, tx)
		if err != nil {
			return err
		}
		if err := b.markDuplicates(inputs); err != nil {
			return err
		}
		results = make([]store.Result, len(inputs))
		for i := range inputs {
			results[i] = b.add(&inputs[i])
		}
		return b.write()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: storing %d inputs: %w", len(inputs), err)
	}
	return results, nil
}

type reportKey struct{ org, id string }

type domainDay struct {
	domain string
	day    int64
}

type mxGroup struct{ domain, mx, resultType string }

type domainRollup struct{ reports, successful, failed int64 }

type senderDay struct {
	domain, org string
	day         int64
}

type ipDay struct {
	domain, ip, resultType string
	day                    int64
}

type policySeen struct{ domain, typ, lines, mx string }

type policyRollup struct{ first, last, reports int64 }

// batch is one transaction's writes, assembled before they are written.
type batch struct {
	db         *DB
	ctx        context.Context
	tx         *sql.Tx
	nextInput  int64
	nextReport int64
	existing   map[reportKey]bool // stored before, or earlier in this batch

	inputs, reports, policies, details, updates [][]any
	domainDays                                  map[domainDay]*domainRollup
	mxSeries                                    map[mxGroup]series
	senderDays                                  map[senderDay]*domainRollup
	ipDays                                      map[ipDay]int64
	policiesSeen                                map[policySeen]*policyRollup
}

func (db *DB) newBatch(ctx context.Context, tx *sql.Tx) (*batch, error) {
	b := &batch{db: db, ctx: ctx, tx: tx, existing: map[reportKey]bool{},
		domainDays: map[domainDay]*domainRollup{}, mxSeries: map[mxGroup]series{},
		senderDays: map[senderDay]*domainRollup{}, ipDays: map[ipDay]int64{}, policiesSeen: map[policySeen]*policyRollup{}}
	// Writes are serialised (db.mu), so ids can be handed out here.
	err := tx.QueryRowContext(ctx, `SELECT (SELECT coalesce(max(id), 0) FROM inputs), (SELECT coalesce(max(id), 0) FROM reports)`).
		Scan(&b.nextInput, &b.nextReport)
	b.nextInput++
	b.nextReport++
	return b, err
}

// markDuplicates finds which of the batch's reports are already stored.
func (b *batch) markDuplicates(inputs []store.Input) error {
	var keys []any
	for i := range inputs {
		for _, r := range inputs[i].Reports {
			keys = append(keys, r.OrganizationName, r.ReportID)
		}
	}
	const perQuery = 400
	for len(keys) > 0 {
		n := min(len(keys)/2, perQuery)
		q := `SELECT organization_name, report_id FROM reports WHERE (organization_name, report_id) IN (VALUES ` +
			placeholders(n, 2) + `)`
		rows, err := b.tx.QueryContext(b.ctx, q, keys[:2*n]...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k reportKey
			if err := rows.Scan(&k.org, &k.id); err != nil {
				rows.Close()
				return err
			}
			b.existing[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		keys = keys[2*n:]
	}
	return nil
}

// add assembles one input's rows and returns its result.
func (b *batch) add(in *store.Input) store.Result {
	res := store.Result{InputID: in.ID}
	if in.ID == 0 {
		res.InputID = b.nextInput
		b.nextInput++
	}
	for _, r := range in.Reports {
		k := reportKey{r.OrganizationName, r.ReportID}
		if b.existing[k] {
			res.Duplicates++
			continue
		}
		b.existing[k] = true
		id := b.nextReport
		b.nextReport++
		b.addReport(id, res.InputID, r)
		res.Stored++
		res.ReportIDs = append(res.ReportIDs, id)
	}
	if !in.NoReport {
		res.Invalid = len(in.Errors)
	}
	res.Outcome = store.OutcomeOf(res, in.NoReport)
	errText := strings.Join(in.Errors, "\n")
	if in.ID != 0 {
		b.updates = append(b.updates, []any{string(res.Outcome), res.Stored, res.Duplicates, res.Invalid, errText, in.ID})
		return res
	}
	at := in.ReceivedAt
	if at.IsZero() {
		at = b.db.Now()
	}
	data := in.Data
	if data == nil {
		data = []byte{} // NOT NULL: an empty input is still an input
	}
	sum := sha256.Sum256(data)
	b.inputs = append(b.inputs, []any{res.InputID, sum[:], len(data), in.Source, in.Origin, at.UnixMilli(),
		string(res.Outcome), res.Stored, res.Duplicates, res.Invalid, errText, data})
	return res
}

func (b *batch) addReport(id, inputID int64, r *parse.Report) {
	b.reports = append(b.reports, []any{id, inputID, r.OrganizationName, r.ReportID, r.ContactInfo,
		r.DateRange.Start.Unix(), r.DateRange.End.Unix(), strings.Join(r.Warnings, "\n")})
	day := dayOf(r.DateRange.Start)
	for i, p := range r.Policies {
		lines, mx := strings.Join(p.String, "\n"), strings.Join(p.MXHosts, "\n")
		b.policies = append(b.policies, []any{id, i, p.Type, p.Domain, lines, mx, p.SuccessfulSessions, p.FailedSessions})
		k := policySeen{p.Domain, p.Type, lines, mx}
		if ps := b.policiesSeen[k]; ps == nil {
			b.policiesSeen[k] = &policyRollup{first: day, last: day, reports: 1}
		} else {
			ps.first, ps.last, ps.reports = min(ps.first, day), max(ps.last, day), ps.reports+1
		}
		for j, fd := range p.FailureDetails {
			b.details = append(b.details, []any{id, i, j, fd.ResultType, fd.SendingMTAIP, fd.ReceivingMXHostname,
				fd.ReceivingMXHelo, fd.ReceivingIP, fd.FailedSessions, fd.AdditionalInformation, fd.FailureReasonCode})
		}
	}
	s := store.Rollup(r)
	for _, d := range s.Domains {
		addSessions(b.domainDays, domainDay{d.Domain, day}, d)
		addSessions(b.senderDays, senderDay{d.Domain, r.OrganizationName, day}, d)
	}
	for _, m := range s.MX {
		k := mxGroup{m.Domain, m.MX, m.ResultType}
		b.mxSeries[k] = b.mxSeries[k].addDay(day, m.FailedSessions)
	}
	for _, x := range s.IPs {
		b.ipDays[ipDay{x.Domain, x.IP, x.ResultType, day}] += x.FailedSessions
	}
}

func addSessions[K comparable](m map[K]*domainRollup, k K, d store.DomainSessions) {
	agg := m[k]
	if agg == nil {
		agg = &domainRollup{}
		m[k] = agg
	}
	agg.reports++
	agg.successful += d.SuccessfulSessions
	agg.failed += d.FailedSessions
}

// The multi-row statements. Rows per statement stay far below SQLite's
// limit of 32,766 bound values.
const rowsPerStatement = 100

var (
	sqlInputs = `INSERT INTO inputs (id, sha256, size, source, origin, received_at, outcome, stored, duplicates,
invalid, error, data) VALUES `
	sqlReports = `INSERT INTO reports (id, input_id, organization_name, report_id, contact_info, start_time,
end_time, warnings) VALUES `
	sqlPolicies = `INSERT INTO policies (report_id, position, policy_type, policy_domain, policy_string, mx_host,
successful_sessions, failed_sessions) VALUES `
	sqlDetails = `INSERT INTO failure_details (report_id, policy_position, position, result_type, sending_mta_ip,
receiving_mx_hostname, receiving_mx_helo, receiving_ip, failed_sessions, additional_information,
failure_reason_code) VALUES `
	sqlDomainDays = `INSERT INTO domain_days (policy_domain, day, reports, successful_sessions, failed_sessions)
VALUES `
	sqlDomainDaysUpsert = ` ON CONFLICT (policy_domain, day) DO UPDATE SET reports = reports + excluded.reports,
successful_sessions = successful_sessions + excluded.successful_sessions,
failed_sessions = failed_sessions + excluded.failed_sessions`
	// The series were merged with the stored ones beforehand (mergeStoredSeries).
	sqlMXSeries         = `INSERT INTO mx_series (policy_domain, mx_host, result_type, days) VALUES `
	sqlMXSeriesUpsert   = ` ON CONFLICT (policy_domain, mx_host, result_type) DO UPDATE SET days = excluded.days`
	sqlSenderDays       = `INSERT INTO sender_days (policy_domain, organization_name, day, reports, successful_sessions, failed_sessions) VALUES `
	sqlSenderDaysUpsert = ` ON CONFLICT (policy_domain, organization_name, day) DO UPDATE SET reports = reports + excluded.reports,
successful_sessions = successful_sessions + excluded.successful_sessions,
failed_sessions = failed_sessions + excluded.failed_sessions`
	sqlIPDays       = `INSERT INTO ip_days (sending_mta_ip, result_type, policy_domain, day, failed_sessions) VALUES `
	sqlIPDaysUpsert = ` ON CONFLICT (sending_mta_ip, result_type, policy_domain, day) DO UPDATE SET
failed_sessions = failed_sessions + excluded.failed_sessions`
	sqlPoliciesSeen       = `INSERT INTO domain_policies (policy_domain, policy_type, policy_string, mx_host, first_day, last_day, reports) VALUES `
	sqlPoliciesSeenUpsert = ` ON CONFLICT (policy_domain, policy_type, policy_string, mx_host) DO UPDATE SET
first_day = min(first_day, excluded.first_day), last_day = max(last_day, excluded.last_day), reports = reports + excluded.reports`
	sqlInputUpdate = `UPDATE inputs SET outcome = ?, stored = ?, duplicates = ?, invalid = ?, error = ? WHERE id = ?`
)

// write sends the assembled rows. Reports go before the inputs that
// reference them; the foreign key is deferred to the commit.
func (b *batch) write() error {
	domainRows := make([][]any, 0, len(b.domainDays))
	for k, v := range b.domainDays {
		domainRows = append(domainRows, []any{k.domain, k.day, v.reports, v.successful, v.failed})
	}
	if err := b.mergeStoredSeries(); err != nil {
		return err
	}
	mxRows := make([][]any, 0, len(b.mxSeries))
	for k, v := range b.mxSeries {
		mxRows = append(mxRows, []any{k.domain, k.mx, k.resultType, v.String()})
	}
	senderRows := make([][]any, 0, len(b.senderDays))
	for k, v := range b.senderDays {
		senderRows = append(senderRows, []any{k.domain, k.org, k.day, v.reports, v.successful, v.failed})
	}
	ipRows := make([][]any, 0, len(b.ipDays))
	for k, v := range b.ipDays {
		ipRows = append(ipRows, []any{k.ip, k.resultType, k.domain, k.day, v})
	}
	policyRows := make([][]any, 0, len(b.policiesSeen))
	for k, v := range b.policiesSeen {
		policyRows = append(policyRows, []any{k.domain, k.typ, k.lines, k.mx, v.first, v.last, v.reports})
	}
	// In key order: upserts that follow the key touch each B-tree page
	// once, where map order jumps around the tree.
	sortRows(domainRows, 2)
	sortRows(mxRows, 3)
	sortRows(senderRows, 3)
	sortRows(ipRows, 4)
	sortRows(policyRows, 4)
	for _, t := range []struct {
		head, tail string
		rows       [][]any
	}{
		{sqlReports, "", b.reports},
		{sqlPolicies, "", b.policies},
		{sqlDetails, "", b.details},
		{sqlDomainDays, sqlDomainDaysUpsert, domainRows},
		{sqlMXSeries, sqlMXSeriesUpsert, mxRows},
		{sqlSenderDays, sqlSenderDaysUpsert, senderRows},
		{sqlIPDays, sqlIPDaysUpsert, ipRows},
		{sqlPoliciesSeen, sqlPoliciesSeenUpsert, policyRows},
		{sqlInputs, "", b.inputs},
	} {
		if err := b.insert(t.head, t.tail, t.rows); err != nil {
			return err
		}
	}
	for _, u := range b.updates {
		if _, err := b.tx.ExecContext(b.ctx, sqlInputUpdate, u...); err != nil {
			return err
		}
	}
	return nil
}

// mergeStoredSeries adds the stored series of the groups the batch touches
// to the batch's own, so that writing them replaces the stored ones. Writes
// are serialised, so nothing changes them in between.
func (b *batch) mergeStoredSeries() error {
	keys := make([]any, 0, 3*len(b.mxSeries))
	for k := range b.mxSeries {
		keys = append(keys, k.domain, k.mx, k.resultType)
	}
	const perQuery = 300
	for len(keys) > 0 {
		n := min(len(keys)/3, perQuery)
		q := `SELECT policy_domain, mx_host, result_type, days FROM mx_series
WHERE (policy_domain, mx_host, result_type) IN (VALUES ` + placeholders(n, 3) + `)`
		err := func() error {
			rows, err := b.tx.QueryContext(b.ctx, q, keys[:3*n]...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k mxGroup
				var days []byte
				if err := rows.Scan(&k.domain, &k.mx, &k.resultType, &days); err != nil {
					return err
				}
				stored, err := parseSeries(days)
				if err != nil {
					return fmt.Errorf("mx_series of %s, %s, %s: %w", k.domain, k.mx, k.resultType, err)
				}
				b.mxSeries[k] = stored.add(b.mxSeries[k])
			}
			return rows.Err()
		}()
		if err != nil {
			return err
		}
		keys = keys[3*n:]
	}
	return nil
}

// sortRows orders rows by their first keyCols columns, each a string or an
// int64.
func sortRows(rows [][]any, keyCols int) {
	slices.SortFunc(rows, func(a, b []any) int {
		for i := range keyCols {
			var c int
			switch x := a[i].(type) {
			case string:
				c = strings.Compare(x, b[i].(string))
			case int64:
				c = cmp.Compare(x, b[i].(int64))
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
}

func (b *batch) insert(head, tail string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	cols := len(rows[0])
	args := make([]any, 0, rowsPerStatement*cols)
	for len(rows) > 0 {
		n := min(len(rows), rowsPerStatement)
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		q := head + placeholders(n, cols) + tail
		var err error
		if st, ok := b.db.stmts[q]; ok { // the full-size statements are prepared at Open
			_, err = b.tx.StmtContext(b.ctx, st).ExecContext(b.ctx, args...)
		} else {
			_, err = b.tx.ExecContext(b.ctx, q, args...)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(head)[2], err)
		}
		rows = rows[n:]
	}
	return nil
}

// placeholders returns n groups of cols "?" each: "(?,?),(?,?)".
func placeholders(n, cols int) string {
	group := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(group+",", n), ",")
}

// writeQueries are prepared once at Open: the full-size multi-row inserts.
var writeQueries = []string{
	sqlInputs + placeholders(rowsPerStatement, 12),
	sqlReports + placeholders(rowsPerStatement, 8),
	sqlPolicies + placeholders(rowsPerStatement, 8),
	sqlDetails + placeholders(rowsPerStatement, 11),
	sqlDomainDays + placeholders(rowsPerStatement, 5) + sqlDomainDaysUpsert,
	sqlMXSeries + placeholders(rowsPerStatement, 4) + sqlMXSeriesUpsert,
	sqlSenderDays + placeholders(rowsPerStatement, 6) + sqlSenderDaysUpsert,
	sqlIPDays + placeholders(rowsPerStatement, 5) + sqlIPDaysUpsert,
	sqlPoliciesSeen + placeholders(rowsPerStatement, 7) + sqlPoliciesSeenUpsert,
}
