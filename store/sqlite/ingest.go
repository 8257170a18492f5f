package sqlite

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// Ingest stores a batch of inputs in one transaction: all of them or, on
// error, none. The transaction is committed and synced to disk (syncWAL)
// before Ingest returns, so a caller may acknowledge what it returns.
//
// The batch is assembled in memory first (ids, duplicates, rollups) and
// written with a few multi-row statements per table: with an embedded
// engine, the cost of a statement, not of a row, is what limits a writer.
// Assembling is done before taking the writer's lock, with ids counted
// from zero that are shifted once the lock is held, so that concurrent
// callers assemble while another writes.
//
// Most batches hold no report stored before, and are written on that
// assumption without looking (ingestNew): the reports' unique key is
// checked by their inserts, and should one of them meet a stored report
// the transaction is rolled back and the batch stored the careful way
// (ingestLookingFirst), as are the batches after it until one holds no
// stored report again.
func (db *DB) Ingest(ctx context.Context, inputs []store.Input) ([]store.Result, error) {
	results, err := db.ingest(ctx, inputs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: storing %d inputs: %w", len(inputs), err)
	}
	return results, nil
}

func (db *DB) ingest(ctx context.Context, inputs []store.Input) ([]store.Result, error) {
	reprocess := slices.ContainsFunc(inputs, func(in store.Input) bool { return in.ID != 0 })
	if !reprocess && !db.lookFirst.Load() {
		results, err := db.ingestNew(ctx, inputs)
		if !errors.Is(err, errStoredBefore) {
			return results, err
		}
		db.lookFirst.Store(true)
	}
	results, metStored, err := db.ingestLookingFirst(ctx, inputs, reprocess)
	if err == nil && !metStored {
		db.lookFirst.Store(false)
	}
	return results, err
}

// errStoredBefore is what writing a batch assembled without looking
// returns when one of its reports is stored already.
var errStoredBefore = errors.New("a report of the batch is stored already")

// ingestNew stores inputs assuming none of their reports is stored: a
// report stored before ends the transaction with errStoredBefore (see
// tableRows.whole), nothing written.
func (db *DB) ingestNew(ctx context.Context, inputs []store.Input) ([]store.Result, error) {
	b := db.assemble(inputs, 0, 0, map[reportKey]bool{})
	err := db.inWriteTx(ctx, func() error {
		nextInput, nextReport, err := db.lastIDs()
		if err != nil {
			return err
		}
		b.shift(nextInput+1, nextReport+1)
		return b.write(ctx, db)
	}, func() { db.remember(b) })
	if err != nil {
		return nil, err
	}
	return b.results, nil
}

const sqlLastIDs = `SELECT (SELECT coalesce(max(id), 0) FROM inputs), (SELECT coalesce(max(id), 0) FROM reports)`

// lastIDs returns the largest input and report ids, on the writer. Writes
// are serialised (db.mu), so ids can be handed out from them.
func (db *DB) lastIDs() (input, report int64, err error) {
	st, err := db.prepared(sqlLastIDs)
	if err != nil {
		return 0, 0, err
	}
	err = st.Query(nil, func() error {
		input, report = st.Int64(0), st.Int64(1)
		return nil
	})
	return input, report, err
}

// ingestLookingFirst stores inputs knowing which of their reports are
// stored already, and says whether any was. Which are is looked up on a
// reader beforehand, outside the writer's lock; under it only the reports
// stored since are matched. When some of those are the batch's, or inputs
// are being reprocessed, the batch is assembled again under the lock,
// knowing them.
func (db *DB) ingestLookingFirst(ctx context.Context, inputs []store.Input, reprocess bool) ([]store.Result, bool, error) {
	keys := batchKeys(inputs)
	var early *batch
	var checked int64 // the largest report id when the reader looked
	var stored map[reportKey]bool
	if !reprocess {
		var err error
		if checked, stored, err = db.storedBefore(ctx, keys); err != nil {
			return nil, false, err
		}
		early = db.assemble(inputs, 0, 0, maps.Clone(stored))
	}
	var b *batch
	err := db.inWriteTx(ctx, func() error {
		nextInput, nextReport, err := db.lastIDs()
		if err != nil {
			return err
		}
		var since map[reportKey]bool
		if early == nil {
			stored, err = storedAmong(keys, db.writerLookup)
		} else if nextReport > checked {
			since, err = db.storedSince(keys, checked, nextReport)
			for k := range stored {
				delete(since, k)
			}
		}
		if err != nil {
			return err
		}
		if early != nil && len(since) == 0 {
			b = early
			b.shift(nextInput+1, nextReport+1)
		} else {
			maps.Copy(stored, since)
			b = db.assemble(inputs, nextInput+1, nextReport+1, stored)
		}
		return b.write(ctx, db)
	}, func() { db.remember(b) })
	if err != nil {
		return nil, false, err
	}
	return b.results, len(stored) > 0, nil
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
	now         func() time.Time
	nextInput   int64
	nextReport  int64
	firstReport int64              // the id of the batch's first report
	storedKeys  []reportKey        // the keys of the reports it stores, in id order
	storedSet   map[reportKey]bool // the same as a set of copies (keySet)
	existing    map[reportKey]bool // stored before, or earlier in this batch
	results     []store.Result

	inputs, reports, policies, details, updates [][]any
	domainDays                                  map[domainDay]*domainRollup
	mxSeries                                    map[mxGroup]series
	senderDays                                  map[senderDay]*domainRollup
	ipDays                                      map[ipDay]int64
	policiesSeen                                map[policySeen]*policyRollup
	roller                                      store.Roller
	free                                        []any // what row hands out next
	// The rollups as rows in key order.
	domainRows, mxRows, senderRows, ipRows, policyRows [][]any
}

// assemble builds the rows of inputs, handing out ids from nextInput and
// nextReport and counting the reports in stored as duplicates.
func (db *DB) assemble(inputs []store.Input, nextInput, nextReport int64, stored map[reportKey]bool) *batch {
	// Sized for about a row per input, which is what a batch of reports
	// over many domains comes to: growing them was a fifth of assembling.
	n := len(inputs)
	b := &batch{now: db.Now, nextInput: nextInput, nextReport: nextReport, firstReport: nextReport, existing: stored,
		domainDays: make(map[domainDay]*domainRollup, n), mxSeries: make(map[mxGroup]series, n),
		senderDays: make(map[senderDay]*domainRollup, n), ipDays: make(map[ipDay]int64, n),
		policiesSeen: make(map[policySeen]*policyRollup, n)}
	b.results = make([]store.Result, len(inputs))
	for i := range inputs {
		b.results[i] = b.add(&inputs[i])
	}
	b.rollupRows()
	b.storedSet = keySet(b.storedKeys)
	return b
}

// keySet returns keys as a set whose strings are copies, all in one
// block: a set remembered after the batch (DB.remember) must not keep the
// reports' memory alive.
func keySet(keys []reportKey) map[reportKey]bool {
	n := 0
	for _, k := range keys {
		n += len(k.org) + len(k.id)
	}
	var all strings.Builder
	all.Grow(n)
	for _, k := range keys {
		all.WriteString(k.org)
		all.WriteString(k.id)
	}
	rest := all.String()
	set := make(map[reportKey]bool, len(keys))
	for _, k := range keys {
		org, id := rest[:len(k.org)], rest[len(k.org):len(k.org)+len(k.id)]
		rest = rest[len(k.org)+len(k.id):]
		set[reportKey{org, id}] = true
	}
	return set
}

// shift moves the ids of a batch assembled from zero to start at
// nextInput and nextReport. Only batches of new inputs are assembled early.
func (b *batch) shift(nextInput, nextReport int64) {
	b.firstReport += nextReport
	for _, r := range b.inputs {
		r[0] = r[0].(int64) + nextInput
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
		res.InputID += nextInput
		for j := range res.ReportIDs {
			res.ReportIDs[j] += nextReport
		}
	}
}

// batchKeys returns the keys of the inputs' reports, each once.
func batchKeys(inputs []store.Input) []reportKey {
	var keys []reportKey
	seen := map[reportKey]bool{}
	for i := range inputs {
		for _, r := range inputs[i].Reports {
			k := reportKey{r.OrganizationName, r.ReportID}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// storedBefore returns, from a reader, which keys are stored, and the
// largest report id at the time: a report stored later has a larger id.
func (db *DB) storedBefore(ctx context.Context, keys []reportKey) (int64, map[reportKey]bool, error) {
	var checked int64
	if err := db.read.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM reports`).Scan(&checked); err != nil {
		return 0, nil, err
	}
	// Reads after that one see at least what it saw.
	stored, err := storedAmong(keys, func(args []any, each func(reportKey)) error {
		rows, err := db.readStored.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		return scanKeys(rows, each)
	})
	return checked, stored, err
}

// writerLookup runs sqlStoredKeys with args on the writer, under db.mu.
func (db *DB) writerLookup(args []any, each func(reportKey)) error {
	st, err := db.prepared(sqlStoredKeys)
	if err != nil {
		return err
	}
	return st.Query(args, func() error {
		each(reportKey{st.Text(0), st.Text(1)})
		return nil
	})
}

// storedBatch is the keys of the reports one transaction stored, with ids
// first to first+len(keys)-1: a transaction's ids are consecutive, handed
// out under SQLite's write lock.
type storedBatch struct {
	first int64
	keys  map[reportKey]bool
}

// keepRecent is how many of its last batches a DB remembers: with the two
// writers of an import, the batch committed between another's look-up on
// a reader and its turn to write is the last one.
const keepRecent = 4

// remember records the reports b stored, under the writer's lock after
// its commit.
func (db *DB) remember(b *batch) {
	if len(b.storedSet) == 0 {
		return
	}
	if len(db.recent) == keepRecent {
		db.recent = slices.Delete(db.recent, 0, 1)
	}
	db.recent = append(db.recent, storedBatch{b.firstReport, b.storedSet})
}

// recentSince returns which keys are among the reports with ids after+1
// to last, when this DB stored every one of them itself and remembers
// them; ok is false when not, such as when another process wrote some.
func (db *DB) recentSince(keys []reportKey, after, last int64) (found map[reportKey]bool, ok bool) {
	var batches []map[reportKey]bool
	next := after + 1
	for next <= last {
		i := slices.IndexFunc(db.recent, func(r storedBatch) bool { return r.first == next })
		if i < 0 {
			return nil, false
		}
		batches = append(batches, db.recent[i].keys)
		next += int64(len(db.recent[i].keys))
	}
	if next != last+1 {
		// Ids reused: reports deleted by hand at the top of the table.
		// Should the batches still match, the reports' unique key
		// refuses a duplicate all the same.
		return nil, false
	}
	found = map[reportKey]bool{}
	for _, k := range keys {
		for _, stored := range batches {
			if stored[k] {
				found[k] = true
				break
			}
		}
	}
	return found, true
}

// storedSince returns which keys were stored with an id above after; last,
// the largest id now, says how many reports that is. Usually few (another
// caller's batch): when this DB stored them it matches them in memory,
// else those rows are read and matched here rather than every key looked
// up.
func (db *DB) storedSince(keys []reportKey, after, last int64) (map[reportKey]bool, error) {
	if found, ok := db.recentSince(keys, after, last); ok {
		return found, nil
	}
	if last-after > int64(4*len(keys)) {
		return storedAmong(keys, db.writerLookup)
	}
	want := make(map[reportKey]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	const q = `SELECT organization_name, report_id FROM reports WHERE id > ?`
	st, err := db.prepared(q)
	if err != nil {
		return nil, err
	}
	stored := map[reportKey]bool{}
	err = st.Query([]any{after}, func() error {
		if k := (reportKey{st.Text(0), st.Text(1)}); want[k] {
			stored[k] = true
		}
		return nil
	})
	return stored, err
}

// keysPerQuery is how many keys one look-up statement takes.
const keysPerQuery = 400

var sqlStoredKeys = `SELECT organization_name, report_id FROM reports WHERE (organization_name, report_id) IN (VALUES ` +
	placeholders(keysPerQuery, 2) + `)`

// storedAmong returns which keys are stored, with lookup, which runs
// sqlStoredKeys with args and hands each key it returns to each. A short
// last lot repeats its last key to fill the statement, so one prepared
// statement serves every size.
func storedAmong(keys []reportKey, lookup func(args []any, each func(reportKey)) error) (map[reportKey]bool, error) {
	found := map[reportKey]bool{}
	args := make([]any, 0, 2*keysPerQuery)
	for len(keys) > 0 {
		n := min(len(keys), keysPerQuery)
		args = args[:0]
		for i := range keysPerQuery {
			k := keys[min(i, n-1)]
			args = append(args, k.org, k.id)
		}
		if err := lookup(args, func(k reportKey) { found[k] = true }); err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return found, nil
}

// scanKeys hands each key rows returns to fn and closes rows.
func scanKeys(rows *sql.Rows, fn func(reportKey)) error {
	defer rows.Close()
	for rows.Next() {
		var k reportKey
		if err := rows.Scan(&k.org, &k.id); err != nil {
			return err
		}
		fn(k)
	}
	return rows.Err()
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
		b.storedKeys = append(b.storedKeys, k)
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
		b.updates = append(b.updates, []any{string(res.Outcome), int64(res.Stored), int64(res.Duplicates), int64(res.Invalid), errText, in.ID})
		return res
	}
	at := in.ReceivedAt
	if at.IsZero() {
		at = b.now()
	}
	data := in.Data
	if data == nil {
		data = []byte{} // NOT NULL: an empty input is still an input
	}
	sum := sha256.Sum256(data)
	b.inputs = append(b.inputs, b.row(res.InputID, sum[:], int64(len(data)), in.Source, in.Origin, at.UnixMilli(),
		string(res.Outcome), int64(res.Stored), int64(res.Duplicates), int64(res.Invalid), errText, data))
	return res
}

func (b *batch) addReport(id, inputID int64, r *parse.Report) {
	b.reports = append(b.reports, b.row(id, inputID, r.OrganizationName, r.ReportID, r.ContactInfo,
		r.DateRange.Start.Unix(), r.DateRange.End.Unix(), strings.Join(r.Warnings, "\n")))
	day := dayOf(r.DateRange.Start)
	for i, p := range r.Policies {
		lines, mx := strings.Join(p.String, "\n"), strings.Join(p.MXHosts, "\n")
		b.policies = append(b.policies, b.row(id, int64(i), p.Type, p.Domain, lines, mx, p.SuccessfulSessions, p.FailedSessions))
		k := policySeen{p.Domain, p.Type, lines, mx}
		if ps := b.policiesSeen[k]; ps == nil {
			b.policiesSeen[k] = &policyRollup{first: day, last: day, reports: 1}
		} else {
			ps.first, ps.last, ps.reports = min(ps.first, day), max(ps.last, day), ps.reports+1
		}
		for j, fd := range p.FailureDetails {
			b.details = append(b.details, b.row(id, int64(i), int64(j), fd.ResultType, fd.SendingMTAIP, fd.ReceivingMXHostname,
				fd.ReceivingMXHelo, fd.ReceivingIP, fd.FailedSessions, fd.AdditionalInformation, fd.FailureReasonCode))
		}
	}
	s := b.roller.Rollup(r)
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
// limit of 32,766 bound values. OR ROLLBACK: a broken constraint ends the
// transaction (as Ingest would) without SQLite keeping a statement journal
// to undo the statement alone; for the upserts only their INSERT part.
const rowsPerStatement = 100

var (
	sqlInputs = `INSERT OR ROLLBACK INTO inputs (id, sha256, size, source, origin, received_at, outcome, stored, duplicates,
invalid, error, data) VALUES `
	sqlReports = `INSERT OR ROLLBACK INTO reports (id, input_id, organization_name, report_id, contact_info, start_time,
end_time, warnings) VALUES `
	// A report stored already is left out, which insert notices (whole).
	sqlReportsSkipStored = ` ON CONFLICT (organization_name, report_id) DO NOTHING`
	sqlPolicies          = `INSERT OR ROLLBACK INTO policies (report_id, position, policy_type, policy_domain, policy_string, mx_host,
successful_sessions, failed_sessions) VALUES `
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
	sqlPoliciesSeen       = `INSERT OR ROLLBACK INTO domain_policies (policy_domain, policy_type, policy_string, mx_host, first_day, last_day, reports) VALUES `
	sqlPoliciesSeenUpsert = ` ON CONFLICT (policy_domain, policy_type, policy_string, mx_host) DO UPDATE SET
first_day = min(first_day, excluded.first_day), last_day = max(last_day, excluded.last_day), reports = reports + excluded.reports`
	sqlInputUpdate = `UPDATE inputs SET outcome = ?, stored = ?, duplicates = ?, invalid = ?, error = ? WHERE id = ?`
)

// rollupRows turns the rollup maps into rows in key order: upserts that
// follow the key touch each B-tree page once, where map order jumps around
// the tree.
func (b *batch) rollupRows() {
	b.domainRows = make([][]any, 0, len(b.domainDays))
	for k, v := range b.domainDays {
		b.domainRows = append(b.domainRows, b.row(k.domain, k.day, v.reports, v.successful, v.failed))
	}
	b.mxRows = make([][]any, 0, len(b.mxSeries))
	for k, v := range b.mxSeries {
		b.mxRows = append(b.mxRows, b.row(k.domain, k.mx, k.resultType, v.String()))
	}
	b.senderRows = make([][]any, 0, len(b.senderDays))
	for k, v := range b.senderDays {
		b.senderRows = append(b.senderRows, b.row(k.domain, k.org, k.day, v.reports, v.successful, v.failed))
	}
	b.ipRows = make([][]any, 0, len(b.ipDays))
	for k, v := range b.ipDays {
		b.ipRows = append(b.ipRows, b.row(k.ip, k.resultType, k.domain, k.day, v))
	}
	b.policyRows = make([][]any, 0, len(b.policiesSeen))
	for k, v := range b.policiesSeen {
		b.policyRows = append(b.policyRows, b.row(k.domain, k.typ, k.lines, k.mx, v.first, v.last, v.reports))
	}
	sortRows(b.domainRows, 2)
	sortRows(b.mxRows, 3)
	sortRows(b.senderRows, 3)
	sortRows(b.ipRows, 4)
	sortRows(b.policyRows, 4)
}

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
	err := db.insert(ctx, []tableRows{
		{sqlInputs, "", b.inputs, false},
		{sqlReports, sqlReportsSkipStored, b.reports, true},
		{sqlPolicies, "", b.policies, false},
		{sqlDetails, "", b.details, false},
		{sqlDomainDays, sqlDomainDaysUpsert, b.domainRows, false},
		{sqlMXSeries, sqlMXSeriesUpsert, b.mxRows, false},
		{sqlSenderDays, sqlSenderDaysUpsert, b.senderRows, false},
		{sqlIPDays, sqlIPDaysUpsert, b.ipRows, false},
		{sqlPoliciesSeen, sqlPoliciesSeenUpsert, b.policyRows, false},
	})
	if err != nil {
		return err
	}
	if len(b.updates) == 0 {
		return nil
	}
	st, err := db.prepared(sqlInputUpdate)
	if err != nil {
		return err
	}
	for _, u := range b.updates {
		if _, err := st.Exec(u); err != nil {
			return err
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
			table := strings.Fields(t.head)[4]
			st, err := db.stmt(stmtKey{t.head, n}, func() string { return t.head + placeholders(n, len(rows[0])) + t.tail })
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			args = args[:0]
			for _, r := range rows[:n] {
				args = append(args, r...)
			}
			inserted, err := st.Exec(args)
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			if t.whole && inserted != int64(n) {
				return errStoredBefore
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
