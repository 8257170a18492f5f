package sqlite

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// batch is one transaction's writes, assembled in memory before they are
// written: every table's rows, and the rollups summed over the batch.
type batch struct {
	now        func() time.Time
	nextInput  int64
	nextReport int64
	// plan decides what is stored (store.Plan): it holds the reports
	// stored under each key of the batch and the inputs holding each of
	// its contents, before or earlier in this batch.
	plan store.Plan
	// taken are content keys held by other contents (keptContents),
	// which inputs of this batch cannot have.
	taken   map[int64]bool
	results []store.Result

	inputs, hashes, arrivals, auths, reports, policies, details, updates [][]any
	// warned are stored reports (their ids) that a report of this batch
	// reused the key of, with the warning each gets.
	warned  [][]any
	rollups *rollups
	free    []any // what row hands out next
}

// assemble builds the rows of inputs, handing out ids from nextInput and
// nextReport and knowing the reports in stored and the contents in kept.
func (db *DB) assemble(inputs []store.Input, nextInput, nextReport int64, stored map[reportKey][]variant,
	kept map[[32]byte]int64, taken map[int64]bool) *batch {
	// Sized for about a row per input, which is what a batch of reports
	// over many domains comes to: growing them was a fifth of assembling.
	b := &batch{now: db.Now, nextInput: nextInput, nextReport: nextReport, taken: taken,
		rollups: newRollups(len(inputs))}
	b.plan = store.Plan{Existing: stored, Kept: kept,
		NextInput:  func() int64 { b.nextInput++; return b.nextInput - 1 },
		NextReport: func() int64 { b.nextReport++; return b.nextReport - 1 }}
	b.results = make([]store.Result, len(inputs))
	for i := range inputs {
		b.results[i] = b.add(&inputs[i])
	}
	return b
}

// shift moves the ids of a batch assembled from zero to start at
// nextInput and nextReport. Only batches of new inputs are assembled early.
func (b *batch) shift(nextInput, nextReport int64) {
	for _, r := range b.inputs {
		r[0] = r[0].(int64) + nextInput
	}
	// Assembled early, a batch knows only its own contents: every input
	// its hashes and arrivals name is one of its own.
	for _, r := range b.hashes {
		r[1] = r[1].(int64) + nextInput
	}
	for _, rows := range [][][]any{b.arrivals, b.auths} {
		for _, r := range rows {
			r[0] = r[0].(int64) + nextInput
		}
	}
	for _, r := range b.reports {
		r[0], r[1] = r[0].(int64)+nextReport, r[1].(int64)+nextInput
	}
	for _, rows := range [][][]any{b.policies, b.details} {
		for _, r := range rows {
			r[0] = r[0].(int64) + nextReport
		}
	}
	for i := range b.results {
		res := &b.results[i]
		res.InputID += nextInput // a known input's too: the batch's own
		for j := range res.ReportIDs {
			res.ReportIDs[j] += nextReport
		}
	}
}

// add assembles one input's rows, as the plan decides, and returns its
// result.
func (b *batch) add(in *store.Input) store.Result {
	data := in.Data
	if data == nil {
		data = []byte{} // NOT NULL: an empty input is still an input
	}
	var sum [32]byte
	if in.ID == 0 {
		sum = sha256.Sum256(data)
	}
	pl := b.plan.Input(in, sum)
	res := pl.Result
	for _, w := range pl.Warn {
		if w.Row < 0 {
			b.warned = append(b.warned, []any{w.Text, w.ID})
			continue
		}
		row := b.reports[w.Row]
		row[7] = store.AddWarning(row[7].(string), w.Text)
	}
	for _, r := range pl.Reports {
		b.addReport(r.ID, res.InputID, r.Report, r.Fingerprint, r.Variant, r.Warnings, r.Trusted)
	}
	if a := in.Auth; a != nil && !res.Known {
		b.auths = append(b.auths, b.row(res.InputID, a.DKIM, a.Domain, boolInt(a.Authenticated), a.Reason))
	}
	if pl.Update {
		b.updates = append(b.updates, []any{string(res.Outcome), int64(res.Stored), int64(res.Duplicates), int64(res.Invalid), pl.Error, res.InputID})
	}
	at := in.ReceivedAt
	if at.IsZero() {
		at = b.now()
	}
	if pl.Arrival {
		b.arrivals = append(b.arrivals, b.row(res.InputID, in.Source, in.Origin, at.UnixMilli()))
	}
	if pl.NewInput {
		b.inputs = append(b.inputs, b.row(res.InputID, sum[:], int64(len(data)), in.Source, in.Origin, at.UnixMilli(),
			string(res.Outcome), int64(res.Stored), int64(res.Duplicates), int64(res.Invalid), pl.Error, data))
		if key := contentKey(sum[:]); !b.taken[key] {
			b.taken[key] = true
			b.hashes = append(b.hashes, b.row(key, res.InputID))
		}
	}
	return res
}

func (b *batch) addReport(id, inputID int64, r *parse.Report, fp [32]byte, number int64, warnings []string, trusted bool) {
	b.reports = append(b.reports, b.row(id, inputID, r.OrganizationName, r.ReportID, r.ContactInfo,
		r.DateRange.Start.Unix(), r.DateRange.End.Unix(), strings.Join(warnings, "\n"), fp[:], number, boolInt(trusted)))
	day := dayOf(r.DateRange.Start)
	counted := store.Counted(r)
	for i, p := range r.Policies {
		lines, mx := strings.Join(p.String, "\n"), strings.Join(p.MXHosts, "\n")
		b.policies = append(b.policies, b.row(id, int64(i), p.Type, p.Domain, lines, mx, p.SuccessfulSessions,
			p.FailedSessions, boolInt(counted[i])))
		b.rollups.addPolicy(policySeen{p.Domain, p.Type, lines, mx}, day)
		for j, fd := range p.FailureDetails {
			b.details = append(b.details, b.row(id, int64(i), int64(j), fd.ResultType, fd.SendingMTAIP, fd.ReceivingMXHostname,
				fd.ReceivingMXHelo, fd.ReceivingIP, fd.FailedSessions, fd.AdditionalInformation, fd.FailureReasonCode))
		}
	}
	b.rollups.addSessions(r, day, trusted)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// row returns vals as a row of the batch. Rows are cut from blocks shared
// by many: a batch has tens of thousands of rows, and an allocation per row
// was 14% of the allocations of assembling it.
func (b *batch) row(vals ...any) []any {
	if len(b.free) < len(vals) {
		b.free = make([]any, max(len(vals), 4096))
	}
	r := b.free[:len(vals):len(vals)]
	b.free = b.free[len(vals):]
	copy(r, vals)
	return r
}

// rollups are the rollup tables' rows for a set of reports, summed in
// memory: a batch's, or the migration's that rebuilds them (rebuild.go).
// Each report counts its sessions as store.Rollup counts them; day is the
// UTC day number of the report's start.
type rollups struct {
	domainDays   map[domainDay]*sessionSums
	mxSeries     map[mxGroup]series
	senderDays   map[senderDay]*sessionSums
	ipDays       map[ipDay]int64
	policyDays   map[policyDay]*sessionSums
	policiesSeen map[policySeen]*policyRollup
	// untrustedDays are domainDays of the reports not trusted alone.
	untrustedDays map[domainDay]*sessionSums
	roller        store.Roller
}

type domainDay struct {
	domain string
	day    int64
}

type mxGroup struct{ domain, mx, resultType string }

type sessionSums struct{ reports, successful, failed int64 }

type senderDay struct {
	domain, org string
	day         int64
}

type ipDay struct {
	domain, ip, resultType string
	day                    int64
}

type policyDay struct {
	domain, typ, mode string
	day               int64
}

type policySeen struct{ domain, typ, lines, mx string }

type policyRollup struct{ first, last, reports int64 }

func newRollups(n int) *rollups {
	return &rollups{domainDays: make(map[domainDay]*sessionSums, n), mxSeries: make(map[mxGroup]series, n),
		senderDays: make(map[senderDay]*sessionSums, n), ipDays: make(map[ipDay]int64, n),
		policyDays: make(map[policyDay]*sessionSums, n), policiesSeen: make(map[policySeen]*policyRollup, n),
		untrustedDays: map[domainDay]*sessionSums{}}
}

// addSessions adds a report's sessions on its day.
// addSessions counts a report in the rollups; one not trusted in
// untrustedDays too.
func (ro *rollups) addSessions(r *parse.Report, day int64, trusted bool) {
	s := ro.roller.Rollup(r)
	for _, d := range s.Domains {
		addSums(ro.domainDays, domainDay{d.Domain, day}, d.SuccessfulSessions, d.FailedSessions)
		addSums(ro.senderDays, senderDay{d.Domain, r.OrganizationName, day}, d.SuccessfulSessions, d.FailedSessions)
		if !trusted {
			addSums(ro.untrustedDays, domainDay{d.Domain, day}, d.SuccessfulSessions, d.FailedSessions)
		}
	}
	for _, p := range s.Policies {
		addSums(ro.policyDays, policyDay{p.Domain, p.Type, p.Mode, day}, p.SuccessfulSessions, p.FailedSessions)
	}
	for _, m := range s.MX {
		k := mxGroup{m.Domain, m.MX, m.ResultType}
		ro.mxSeries[k] = ro.mxSeries[k].addDay(day, m.FailedSessions)
	}
	for _, x := range s.IPs {
		ro.ipDays[ipDay{x.Domain, x.IP, x.ResultType, day}] += x.FailedSessions
	}
}

// addPolicy records a policy a report carried on its day.
func (ro *rollups) addPolicy(k policySeen, day int64) {
	if ps := ro.policiesSeen[k]; ps == nil {
		ro.policiesSeen[k] = &policyRollup{first: day, last: day, reports: 1}
	} else {
		ps.first, ps.last, ps.reports = min(ps.first, day), max(ps.last, day), ps.reports+1
	}
}

func addSums[K comparable](m map[K]*sessionSums, k K, successful, failed int64) {
	agg := m[k]
	if agg == nil {
		agg = &sessionSums{}
		m[k] = agg
	}
	agg.reports++
	agg.successful += successful
	agg.failed += failed
}

// tables returns the rollups as upserts of rows in key order: upserts that
// follow the key touch each B-tree page once, where map order jumps around
// the tree. row makes a row.
func (ro *rollups) tables(row func(...any) []any) []tableRows {
	var domainRows, mxRows, senderRows, ipRows, typeRows, policyRows, untrustedRows [][]any
	for k, v := range ro.untrustedDays {
		untrustedRows = append(untrustedRows, row(k.domain, k.day, v.reports, v.successful, v.failed))
	}
	sortRows(untrustedRows, 2)
	for k, v := range ro.domainDays {
		domainRows = append(domainRows, row(k.domain, k.day, v.reports, v.successful, v.failed))
	}
	for k, v := range ro.mxSeries {
		mxRows = append(mxRows, row(k.domain, k.mx, k.resultType, v.String()))
	}
	for k, v := range ro.senderDays {
		senderRows = append(senderRows, row(k.domain, k.org, k.day, v.reports, v.successful, v.failed))
	}
	for k, v := range ro.ipDays {
		ipRows = append(ipRows, row(k.ip, k.resultType, k.domain, k.day, v))
	}
	for k, v := range ro.policyDays {
		typeRows = append(typeRows, row(k.domain, k.typ, k.mode, k.day, v.reports, v.successful, v.failed))
	}
	for k, v := range ro.policiesSeen {
		policyRows = append(policyRows, row(k.domain, k.typ, k.lines, k.mx, v.first, v.last, v.reports))
	}
	sortRows(domainRows, 2)
	sortRows(mxRows, 3)
	sortRows(senderRows, 3)
	sortRows(ipRows, 4)
	sortRows(typeRows, 4)
	sortRows(policyRows, 4)
	return []tableRows{
		{sqlDomainDays, sqlDomainDaysUpsert, domainRows, false},
		{sqlMXSeries, sqlMXSeriesUpsert, mxRows, false},
		{sqlSenderDays, sqlSenderDaysUpsert, senderRows, false},
		{sqlIPDays, sqlIPDaysUpsert, ipRows, false},
		{sqlPolicyDays, sqlPolicyDaysUpsert, typeRows, false},
		{sqlPoliciesSeen, sqlPoliciesSeenUpsert, policyRows, false},
		{sqlUntrustedDays, sqlUntrustedDaysUpsert, untrustedRows, false},
	}
}

// The multi-row statements. Rows per statement stay far below SQLite's
// limit of 32,766 bound values. OR ROLLBACK: a broken constraint ends the
// transaction (as Ingest would) without SQLite keeping a statement journal
// to undo the statement alone; for the upserts only their INSERT part.
const rowsPerStatement = 100

var (
	sqlInputs = `INSERT OR ROLLBACK INTO inputs (id, sha256, size, source, origin, received_at, outcome, stored, duplicates,
invalid, error, data) VALUES `
	// Content kept already is left out, which insert notices (whole).
	sqlInputHashes         = `INSERT OR ROLLBACK INTO input_hashes (content_key, input_id) VALUES `
	sqlInputHashesSkipKept = ` ON CONFLICT (content_key) DO NOTHING`
	sqlArrivals            = `INSERT OR ROLLBACK INTO arrivals (input_id, source, origin, received_at) VALUES `
	sqlInputAuth           = `INSERT OR ROLLBACK INTO input_auth (input_id, dkim, dkim_domain, authenticated, reason) VALUES `
	sqlInputAuthUpsert     = ` ON CONFLICT (input_id) DO UPDATE SET dkim = excluded.dkim, dkim_domain = excluded.dkim_domain,
authenticated = excluded.authenticated, reason = excluded.reason`
	sqlReports = `INSERT OR ROLLBACK INTO reports (id, input_id, organization_name, report_id, contact_info, start_time,
end_time, warnings, fingerprint, variant, trusted) VALUES `
	// A report whose key and variant are stored already is left out, which
	// insert notices (whole).
	sqlReportsSkipStored = ` ON CONFLICT (organization_name, report_id, variant) DO NOTHING`
	sqlPolicies          = `INSERT OR ROLLBACK INTO policies (report_id, position, policy_type, policy_domain, policy_string, mx_host,
successful_sessions, failed_sessions, counted) VALUES `
	sqlDetails = `INSERT OR ROLLBACK INTO failure_details (report_id, policy_position, position, result_type, sending_mta_ip,
receiving_mx_hostname, receiving_mx_helo, receiving_ip, failed_sessions, additional_information,
failure_reason_code) VALUES `
	sqlDomainDays = `INSERT OR ROLLBACK INTO domain_days (policy_domain, day, reports, successful_sessions, failed_sessions)
VALUES `
	sqlDomainDaysUpsert = ` ON CONFLICT (policy_domain, day) DO UPDATE SET reports = reports + excluded.reports,
successful_sessions = successful_sessions + excluded.successful_sessions,
failed_sessions = failed_sessions + excluded.failed_sessions`
	// A stored series is merged with the batch's in the upsert, by the
	// function series.go registers: no separate read of the stored ones.
	sqlMXSeries         = `INSERT OR ROLLBACK INTO mx_series (policy_domain, mx_host, result_type, days) VALUES `
	sqlMXSeriesUpsert   = ` ON CONFLICT (policy_domain, mx_host, result_type) DO UPDATE SET days = ` + seriesAddFunc + `(days, excluded.days)`
	sqlSenderDays       = `INSERT OR ROLLBACK INTO sender_days (policy_domain, organization_name, day, reports, successful_sessions, failed_sessions) VALUES `
	sqlSenderDaysUpsert = ` ON CONFLICT (policy_domain, organization_name, day) DO UPDATE SET reports = reports + excluded.reports,
successful_sessions = successful_sessions + excluded.successful_sessions,
failed_sessions = failed_sessions + excluded.failed_sessions`
	sqlIPDays       = `INSERT OR ROLLBACK INTO ip_days (sending_mta_ip, result_type, policy_domain, day, failed_sessions) VALUES `
	sqlIPDaysUpsert = ` ON CONFLICT (sending_mta_ip, result_type, policy_domain, day) DO UPDATE SET
failed_sessions = failed_sessions + excluded.failed_sessions`
	sqlPolicyDays = `INSERT OR ROLLBACK INTO policy_days (policy_domain, policy_type, mode, day, reports, successful_sessions,
failed_sessions) VALUES `
	sqlPolicyDaysUpsert = ` ON CONFLICT (policy_domain, policy_type, mode, day) DO UPDATE SET reports = reports + excluded.reports,
successful_sessions = successful_sessions + excluded.successful_sessions,
failed_sessions = failed_sessions + excluded.failed_sessions`
	sqlPoliciesSeen       = `INSERT OR ROLLBACK INTO domain_policies (policy_domain, policy_type, policy_string, mx_host, first_day, last_day, reports) VALUES `
	sqlPoliciesSeenUpsert = ` ON CONFLICT (policy_domain, policy_type, policy_string, mx_host) DO UPDATE SET
first_day = min(first_day, excluded.first_day), last_day = max(last_day, excluded.last_day), reports = reports + excluded.reports`
	sqlUntrustedDays       = `INSERT OR ROLLBACK INTO untrusted_days (policy_domain, day, reports, successful_sessions, failed_sessions) VALUES `
	sqlUntrustedDaysUpsert = ` ON CONFLICT (policy_domain, day) DO UPDATE SET reports = reports + excluded.reports,
successful_sessions = successful_sessions + excluded.successful_sessions,
failed_sessions = failed_sessions + excluded.failed_sessions`
	sqlInputUpdate = `UPDATE inputs SET outcome = ?, stored = ?, duplicates = ?, invalid = ?, error = ? WHERE id = ?`
	// A stored report whose key was reused gets the warning once.
	sqlWarnReport = `UPDATE reports SET warnings = CASE WHEN warnings = '' THEN ?1 ELSE warnings || char(10) || ?1 END
WHERE id = ?2 AND instr(char(10) || warnings || char(10), char(10) || ?1 || char(10)) = 0`
)

// write sends the assembled rows, each table's parents before it: a
// foreign key checked at the commit costs nothing more when its parent is
// there already, whereas a child written first leaves a violation
// outstanding that the parent's insert must then look for and settle
// (inputs written after their reports took 5% more of the writer's CPU).
//
// The plain inserts keep no statement journal: the schema defers every
// foreign key to the commit (0005), and they are INSERT OR ROLLBACK, so a
// failing statement ends the whole transaction, which is what Ingest does
// anyway, and SQLite need not be able to undo one statement alone. PRAGMA
// defer_foreign_keys would defer the keys per transaction, but SQLite
// expires every prepared statement of the connection when a flag pragma
// runs. (The rollup upserts keep one all the same: their DO UPDATE checks
// the NOT NULL columns it changes with ABORT.)
func (b *batch) write(ctx context.Context, db *DB) error {
	tables := append([]tableRows{
		{sqlInputs, "", b.inputs, false},
		{sqlInputHashes, sqlInputHashesSkipKept, b.hashes, true},
		{sqlArrivals, "", b.arrivals, false},
		{sqlInputAuth, sqlInputAuthUpsert, b.auths, false},
		{sqlReports, sqlReportsSkipStored, b.reports, true},
		{sqlPolicies, "", b.policies, false},
		{sqlDetails, "", b.details, false},
	}, b.rollups.tables(b.row)...)
	if err := db.insert(ctx, tables); err != nil {
		return err
	}
	for _, u := range []struct {
		sql  string
		rows [][]any
	}{{sqlInputUpdate, b.updates}, {sqlWarnReport, b.warned}} {
		if len(u.rows) == 0 {
			continue
		}
		st, err := db.prepared(u.sql)
		if err != nil {
			return err
		}
		for _, args := range u.rows {
			if _, err := st.Exec(args); err != nil {
				return err
			}
		}
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

// tableRows is one table's rows for insert: the statement is head, the
// rows' placeholders, then tail. The rows hold what capi binds (int64,
// string, []byte). When whole, each row must be inserted: a statement that
// inserts fewer (its tail does nothing on a conflict) ends insert with
// errStoredBefore.
type tableRows struct {
	head, tail string
	rows       [][]any
	whole      bool
}

// insert writes the tables' rows with multi-row statements of
// rowsPerStatement rows, the rest in statements of a power of two rows, so
// that a handful of statements per table, each prepared once, serve any
// batch. Under db.mu, in a transaction of db.w. ctx is checked between
// statements; a statement takes milliseconds.
func (db *DB) insert(ctx context.Context, tables []tableRows) error {
	args := db.args[:0]
	defer func() { db.args = args[:0] }()
	return eachStatement(ctx, tables, func(t tableRows, n int, rows [][]any) error {
		st, err := db.stmt(stmtKey{t.head, n}, func() string { return t.head + placeholders(n, len(rows[0])) + t.tail })
		if err != nil {
			return err
		}
		args = args[:0]
		for _, r := range rows {
			args = append(args, r...)
		}
		inserted, err := st.Exec(args)
		if err != nil {
			return err
		}
		if t.whole && inserted != int64(n) {
			return errStoredBefore
		}
		return nil
	})
}

// eachStatement cuts each table's rows into statements of
// rowsPerStatement rows, the rest into statements of a power of two rows,
// and calls exec with each lot of n rows. An error is returned with the
// table's name, errStoredBefore as it is.
func eachStatement(ctx context.Context, tables []tableRows, exec func(t tableRows, n int, rows [][]any) error) error {
	for _, t := range tables {
		rows := t.rows
		for len(rows) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(len(rows), rowsPerStatement)
			if n < rowsPerStatement {
				n = 1 << (bits.Len(uint(n)) - 1) // a power of two
			}
			if err := exec(t, n, rows[:n]); err != nil {
				if err == errStoredBefore {
					return err
				}
				return fmt.Errorf("%s: %w", strings.Fields(t.head)[4], err)
			}
			rows = rows[n:]
		}
	}
	return nil
}

// placeholders returns n groups of cols "?" each: "(?,?),(?,?)".
func placeholders(n, cols int) string {
	group := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return strings.TrimSuffix(strings.Repeat(group+",", n), ",")
}
