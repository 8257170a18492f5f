package postgres

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// Ingest stores a batch in one transaction: every input kept once per
// content, its reports stored once per key and fingerprint (a reused
// report-id with other figures as the next variant), the rollups added
// to. When it returns without error, everything is committed.
func (db *DB) Ingest(ctx context.Context, inputs []store.Input) ([]store.Result, error) {
	for attempt := 0; ; attempt++ {
		res, err := db.ingest(ctx, inputs)
		var pgErr *pgconn.PgError
		if err != nil && errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01") && attempt < 5 {
			continue // a serialization failure or deadlock: the whole batch again
		}
		if err != nil {
			return nil, classify(fmt.Errorf("postgres: storing %d inputs: %w", len(inputs), err))
		}
		return res, nil
	}
}

// lockKey is the advisory lock of a content or report key: 8 bytes of a
// SHA-256, so that processes agree on it.
func lockKey(parts ...string) int64 {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

func (db *DB) ingest(ctx context.Context, inputs []store.Input) ([]store.Result, error) {
	sums := make([][32]byte, len(inputs))
	var locks []int64
	var newSums [][]byte
	var orgs, ids []string
	seenKey := map[store.ReportKey]bool{}
	for i := range inputs {
		in := &inputs[i]
		if in.ID == 0 {
			data := in.Data
			if data == nil {
				data = []byte{}
			}
			sums[i] = sha256.Sum256(data)
			locks = append(locks, lockKey("content", string(sums[i][:])))
			newSums = append(newSums, sums[i][:])
		}
		for _, r := range in.Reports {
			k := store.ReportKey{Org: r.OrganizationName, ID: r.ReportID}
			if !seenKey[k] {
				seenKey[k] = true
				locks = append(locks, lockKey("report", k.Org, k.ID))
				orgs, ids = append(orgs, k.Org), append(ids, k.ID)
			}
		}
	}
	// Ascending, so that two batches wanting the same keys never wait on
	// each other in a cycle.
	slices.Sort(locks)
	locks = slices.Compact(locks)

	nReports := 0
	for i := range inputs {
		nReports += len(inputs[i].Reports)
	}
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())
	// The locks, what is stored already and the new ids, in one round trip.
	b := &batch{ro: newRollups(), now: db.Now}
	b.plan = store.Plan{Existing: map[store.ReportKey][]store.Variant{}, Kept: map[[32]byte]int64{}, NextInput: b.nextInput, NextReport: b.nextReport}
	reads := &pgx.Batch{}
	if len(locks) > 0 {
		reads.Queue(`SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS u(k)`, locks).Exec(func(pgconn.CommandTag) error { return nil })
	}
	if len(newSums) > 0 {
		reads.Queue(`SELECT sha256, id FROM inputs WHERE sha256 = ANY($1)`, newSums).Query(func(rows pgx.Rows) error {
			var sum []byte
			var id int64
			_, err := pgx.ForEachRow(rows, []any{&sum, &id}, func() error {
				b.plan.Kept[[32]byte(sum)] = id
				return nil
			})
			return err
		})
	}
	if len(orgs) > 0 {
		reads.Queue(`SELECT organization_name, report_id, fingerprint, variant, id FROM reports
WHERE (organization_name, report_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, orgs, ids).Query(func(rows pgx.Rows) error {
			var org, rid string
			var fp []byte
			var number, id int64
			_, err := pgx.ForEachRow(rows, []any{&org, &rid, &fp, &number, &id}, func() error {
				k := store.ReportKey{Org: org, ID: rid}
				b.plan.Existing[k] = append(b.plan.Existing[k], store.Variant{Fingerprint: [32]byte(fp), Number: number, ID: id, Row: -1})
				return nil
			})
			return err
		})
	}
	// Ids for the new rows, at most one per input and one per report.
	for _, want := range []struct {
		seq string
		n   int
		ids *[]int64
	}{{"inputs_id_seq", len(newSums), &b.inputIDs}, {"reports_id_seq", nReports, &b.reportIDs}} {
		if want.n == 0 {
			continue
		}
		reads.Queue(`SELECT nextval('`+want.seq+`') FROM generate_series(1, $1)`, want.n).Query(func(rows pgx.Rows) error {
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			slices.Sort(ids)
			*want.ids = ids
			return err
		})
	}
	if reads.Len() > 0 {
		if err := tx.SendBatch(ctx, reads).Close(); err != nil {
			return nil, err
		}
	}
	results := make([]store.Result, len(inputs))
	for i := range inputs {
		results[i] = b.add(&inputs[i], sums[i])
	}
	if err := b.write(ctx, tx); err != nil {
		return nil, err
	}
	return results, tx.Commit(ctx)
}

// batch is one Ingest's rows, as the plan decides (store.Plan).
type batch struct {
	now                                                 func() time.Time
	plan                                                store.Plan
	inputIDs, reportIDs                                 []int64
	inputs, arrivals, auths, reports, policies, details [][]any
	updates, warned                                     [][]any
	ro                                                  *rollups
}

func (b *batch) nextInput() int64 {
	id := b.inputIDs[0]
	b.inputIDs = b.inputIDs[1:]
	return id
}

func (b *batch) nextReport() int64 {
	id := b.reportIDs[0]
	b.reportIDs = b.reportIDs[1:]
	return id
}

func (b *batch) add(in *store.Input, sum [32]byte) store.Result {
	data := in.Data
	if data == nil {
		data = []byte{}
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
		b.auths = append(b.auths, []any{res.InputID, a.DKIM, a.Domain, a.Authenticated, a.Reason})
	}
	if pl.Update {
		b.updates = append(b.updates, []any{string(res.Outcome), res.Stored, res.Duplicates, res.Invalid, pl.Error, res.InputID})
	}
	at := in.ReceivedAt
	if at.IsZero() {
		at = b.now()
	}
	if pl.Arrival {
		b.arrivals = append(b.arrivals, []any{res.InputID, in.Source, in.Origin, at.UnixMilli()})
	}
	if pl.NewInput {
		b.inputs = append(b.inputs, []any{res.InputID, sum[:], int64(len(data)), in.Source, in.Origin, at.UnixMilli(),
			string(res.Outcome), res.Stored, res.Duplicates, res.Invalid, pl.Error, data})
	}
	return res
}

func (b *batch) addReport(id, inputID int64, r *parse.Report, fp [32]byte, number int64, warnings []string, trusted bool) {
	b.reports = append(b.reports, []any{id, inputID, r.OrganizationName, r.ReportID, r.ContactInfo,
		r.DateRange.Start.Unix(), r.DateRange.End.Unix(), strings.Join(warnings, "\n"), fp[:], number, trusted})
	day := dayOf(r.DateRange.Start)
	counted := store.Counted(r)
	for i, p := range r.Policies {
		lines, mx := strings.Join(p.String, "\n"), strings.Join(p.MXHosts, "\n")
		b.policies = append(b.policies, []any{id, i, p.Type, p.Domain, lines, mx, p.SuccessfulSessions, p.FailedSessions, counted[i]})
		b.ro.addPolicy(policySeen{p.Domain, p.Type, lines, mx}, day)
		for j, fd := range p.FailureDetails {
			b.details = append(b.details, []any{id, i, j, fd.ResultType, fd.SendingMTAIP, fd.ReceivingMXHostname,
				fd.ReceivingMXHelo, fd.ReceivingIP, fd.FailedSessions, fd.AdditionalInformation, fd.FailureReasonCode})
		}
	}
	b.ro.addSessions(r, day, trusted)
}

// write sends every row in one round trip: the plain ones as inserts of
// arrays (COPY would cost a round trip per table), the rollups as upserts
// in key order (so that two writers lock rollup rows in the same order).
func (b *batch) write(ctx context.Context, tx pgx.Tx) error {
	batch := &pgx.Batch{}
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"inputs", []string{"id", "sha256", "size", "source", "origin", "received_at", "outcome", "stored", "duplicates", "invalid", "error", "data"}, b.inputs},
		{"arrivals", []string{"input_id", "source", "origin", "received_at"}, b.arrivals},
		{"reports", []string{"id", "input_id", "organization_name", "report_id", "contact_info", "start_time", "end_time", "warnings", "fingerprint", "variant", "trusted"}, b.reports},
		{"policies", []string{"report_id", "position", "policy_type", "policy_domain", "policy_string", "mx_host", "successful_sessions", "failed_sessions", "counted"}, b.policies},
		{"failure_details", []string{"report_id", "policy_position", "position", "result_type", "sending_mta_ip", "receiving_mx_hostname", "receiving_mx_helo", "receiving_ip", "failed_sessions", "additional_information", "failure_reason_code"}, b.details},
	} {
		if len(c.rows) == 0 {
			continue
		}
		if len(c.rows) >= copyRows {
			// A large batch (an import): COPY streams it faster than an
			// insert of arrays, for a round trip of its own.
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
				return fmt.Errorf("%s: %w", c.table, err)
			}
			continue
		}
		columns, types := byColumn(c.rows)
		var params []string
		for i, t := range types {
			params = append(params, fmt.Sprintf("$%d::%s[]", i+1, t))
		}
		batch.Queue(`INSERT INTO `+c.table+` (`+strings.Join(c.cols, ", ")+`) SELECT * FROM unnest(`+strings.Join(params, ", ")+`)`, columns...)
	}
	for _, a := range b.auths {
		batch.Queue(`INSERT INTO input_auth (input_id, dkim, dkim_domain, authenticated, reason) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (input_id) DO UPDATE SET dkim = excluded.dkim, dkim_domain = excluded.dkim_domain,
authenticated = excluded.authenticated, reason = excluded.reason`, a...)
	}
	for _, u := range b.updates {
		batch.Queue(`UPDATE inputs SET outcome = $1, stored = $2, duplicates = $3, invalid = $4, error = $5 WHERE id = $6`, u...)
	}
	for _, w := range b.warned {
		batch.Queue(`UPDATE reports SET warnings = CASE WHEN warnings = '' THEN $1 ELSE warnings || chr(10) || $1 END
WHERE id = $2 AND position(chr(10) || $1 || chr(10) IN chr(10) || warnings || chr(10)) = 0`, w...)
	}
	b.ro.queue(batch)
	if batch.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, batch).Close()
}

// rollups are the rollup rows of a batch, summed in memory.
type rollups struct {
	roller       store.Roller
	domainDays   map[domainDay]*sums
	untrusted    map[domainDay]*sums
	senderDays   map[senderDay]*sums
	policyDays   map[policyDay]*sums
	mxDays       map[mxDay]int64
	ipDays       map[ipDay]int64
	policiesSeen map[policySeen]*seen
}

type sums struct{ reports, successful, failed int64 }
type seen struct{ first, last, reports int64 }
type domainDay struct {
	domain string
	day    int64
}
type senderDay struct {
	domain, org string
	day         int64
}
type policyDay struct {
	domain, typ, mode string
	day               int64
}
type mxDay struct {
	domain, mx, resultType string
	day                    int64
}
type ipDay struct {
	ip, resultType, domain string
	day                    int64
}
type policySeen struct{ domain, typ, lines, mx string }

func newRollups() *rollups {
	return &rollups{domainDays: map[domainDay]*sums{}, untrusted: map[domainDay]*sums{}, senderDays: map[senderDay]*sums{},
		policyDays: map[policyDay]*sums{}, mxDays: map[mxDay]int64{}, ipDays: map[ipDay]int64{}, policiesSeen: map[policySeen]*seen{}}
}

func add[K comparable](m map[K]*sums, k K, ok, failed int64) {
	s := m[k]
	if s == nil {
		s = &sums{}
		m[k] = s
	}
	s.reports++
	s.successful += ok
	s.failed += failed
}

func (ro *rollups) addSessions(r *parse.Report, day int64, trusted bool) {
	s := ro.roller.Rollup(r)
	for _, d := range s.Domains {
		add(ro.domainDays, domainDay{d.Domain, day}, d.SuccessfulSessions, d.FailedSessions)
		add(ro.senderDays, senderDay{d.Domain, r.OrganizationName, day}, d.SuccessfulSessions, d.FailedSessions)
		if !trusted {
			add(ro.untrusted, domainDay{d.Domain, day}, d.SuccessfulSessions, d.FailedSessions)
		}
	}
	for _, p := range s.Policies {
		add(ro.policyDays, policyDay{p.Domain, p.Type, p.Mode, day}, p.SuccessfulSessions, p.FailedSessions)
	}
	for _, m := range s.MX {
		ro.mxDays[mxDay{m.Domain, m.MX, m.ResultType, day}] += m.FailedSessions
	}
	for _, x := range s.IPs {
		ro.ipDays[ipDay{x.IP, x.ResultType, x.Domain, day}] += x.FailedSessions
	}
}

func (ro *rollups) addPolicy(k policySeen, day int64) {
	if ps := ro.policiesSeen[k]; ps == nil {
		ro.policiesSeen[k] = &seen{first: day, last: day, reports: 1}
	} else {
		ps.first, ps.last, ps.reports = min(ps.first, day), max(ps.last, day), ps.reports+1
	}
}

// queue adds the upserts of the rollups, each table's rows in key order,
// as one statement per table over arrays.
func (ro *rollups) queue(batch *pgx.Batch) {
	daySums := func(table string, m map[domainDay]*sums) {
		keys := sortedKeys(m, func(a, b domainDay) int { return cmp.Or(cmp.Compare(a.domain, b.domain), cmp.Compare(a.day, b.day)) })
		if len(keys) == 0 {
			return
		}
		var d []string
		var day, n, ok, failed []int64
		for _, k := range keys {
			v := m[k]
			d, day, n, ok, failed = append(d, k.domain), append(day, k.day), append(n, v.reports), append(ok, v.successful), append(failed, v.failed)
		}
		batch.Queue(`INSERT INTO `+table+` (policy_domain, day, reports, successful_sessions, failed_sessions)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
ON CONFLICT (policy_domain, day) DO UPDATE SET reports = `+table+`.reports + excluded.reports,
successful_sessions = `+table+`.successful_sessions + excluded.successful_sessions,
failed_sessions = `+table+`.failed_sessions + excluded.failed_sessions`, d, day, n, ok, failed)
	}
	daySums("domain_days", ro.domainDays)
	daySums("untrusted_days", ro.untrusted)
	if keys := sortedKeys(ro.senderDays, func(a, b senderDay) int {
		return cmp.Or(cmp.Compare(a.domain, b.domain), cmp.Compare(a.org, b.org), cmp.Compare(a.day, b.day))
	}); len(keys) > 0 {
		var d, o []string
		var day, n, ok, failed []int64
		for _, k := range keys {
			v := ro.senderDays[k]
			d, o, day = append(d, k.domain), append(o, k.org), append(day, k.day)
			n, ok, failed = append(n, v.reports), append(ok, v.successful), append(failed, v.failed)
		}
		batch.Queue(`INSERT INTO sender_days (policy_domain, organization_name, day, reports, successful_sessions, failed_sessions)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
ON CONFLICT (policy_domain, organization_name, day) DO UPDATE SET reports = sender_days.reports + excluded.reports,
successful_sessions = sender_days.successful_sessions + excluded.successful_sessions,
failed_sessions = sender_days.failed_sessions + excluded.failed_sessions`, d, o, day, n, ok, failed)
	}
	if keys := sortedKeys(ro.policyDays, func(a, b policyDay) int {
		return cmp.Or(cmp.Compare(a.domain, b.domain), cmp.Compare(a.typ, b.typ), cmp.Compare(a.mode, b.mode), cmp.Compare(a.day, b.day))
	}); len(keys) > 0 {
		var d, ty, mo []string
		var day, n, ok, failed []int64
		for _, k := range keys {
			v := ro.policyDays[k]
			d, ty, mo, day = append(d, k.domain), append(ty, k.typ), append(mo, k.mode), append(day, k.day)
			n, ok, failed = append(n, v.reports), append(ok, v.successful), append(failed, v.failed)
		}
		batch.Queue(`INSERT INTO policy_days (policy_domain, policy_type, mode, day, reports, successful_sessions, failed_sessions)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
ON CONFLICT (policy_domain, policy_type, mode, day) DO UPDATE SET reports = policy_days.reports + excluded.reports,
successful_sessions = policy_days.successful_sessions + excluded.successful_sessions,
failed_sessions = policy_days.failed_sessions + excluded.failed_sessions`, d, ty, mo, day, n, ok, failed)
	}
	if keys := sortedKeys(ro.mxDays, func(a, b mxDay) int {
		return cmp.Or(cmp.Compare(a.domain, b.domain), cmp.Compare(a.mx, b.mx), cmp.Compare(a.resultType, b.resultType), cmp.Compare(a.day, b.day))
	}); len(keys) > 0 {
		var d, mx, rt []string
		var day, failed []int64
		for _, k := range keys {
			d, mx, rt, day, failed = append(d, k.domain), append(mx, k.mx), append(rt, k.resultType), append(day, k.day), append(failed, ro.mxDays[k])
		}
		batch.Queue(`INSERT INTO mx_series (policy_domain, mx_host, result_type, days, fails)
SELECT d, m, r, array_agg(day ORDER BY day), array_agg(f ORDER BY day)
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u(d, m, r, day, f)
GROUP BY d, m, r ORDER BY d, m, r
ON CONFLICT (policy_domain, mx_host, result_type) DO UPDATE SET (days, fails) =
(SELECT s.days, s.fails FROM tlsrpt_series_add(mx_series.days, mx_series.fails, excluded.days, excluded.fails) AS s)`,
			d, mx, rt, day, failed)
	}
	if keys := sortedKeys(ro.ipDays, func(a, b ipDay) int {
		return cmp.Or(cmp.Compare(a.ip, b.ip), cmp.Compare(a.resultType, b.resultType), cmp.Compare(a.domain, b.domain), cmp.Compare(a.day, b.day))
	}); len(keys) > 0 {
		var ip, rt, d []string
		var day, failed []int64
		for _, k := range keys {
			ip, rt, d, day, failed = append(ip, k.ip), append(rt, k.resultType), append(d, k.domain), append(day, k.day), append(failed, ro.ipDays[k])
		}
		batch.Queue(`INSERT INTO ip_days (sending_mta_ip, result_type, policy_domain, day, failed_sessions)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
ON CONFLICT (sending_mta_ip, result_type, policy_domain, day) DO UPDATE SET failed_sessions = ip_days.failed_sessions + excluded.failed_sessions`,
			ip, rt, d, day, failed)
	}
	if keys := sortedKeys(ro.policiesSeen, func(a, b policySeen) int {
		return cmp.Or(cmp.Compare(a.domain, b.domain), cmp.Compare(a.typ, b.typ), cmp.Compare(a.lines, b.lines), cmp.Compare(a.mx, b.mx))
	}); len(keys) > 0 {
		var d, ty, lines, mx []string
		var first, last, n []int64
		for _, k := range keys {
			v := ro.policiesSeen[k]
			d, ty, lines, mx = append(d, k.domain), append(ty, k.typ), append(lines, k.lines), append(mx, k.mx)
			first, last, n = append(first, v.first), append(last, v.last), append(n, v.reports)
		}
		batch.Queue(`INSERT INTO domain_policies (policy_domain, policy_type, policy_string, mx_host, first_day, last_day, reports)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])
ON CONFLICT (policy_domain, policy_type, policy_string, mx_host) DO UPDATE SET
first_day = least(domain_policies.first_day, excluded.first_day), last_day = greatest(domain_policies.last_day, excluded.last_day),
reports = domain_policies.reports + excluded.reports`, d, ty, lines, mx, first, last, n)
	}
}

func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	return keys
}

// copyRows is the number of rows from which a table's rows go by COPY.
const copyRows = 500

// byColumn turns rows into one slice per column, with its SQL type, for
// an insert of arrays.
func byColumn(rows [][]any) ([]any, []string) {
	cols := make([]any, len(rows[0]))
	types := make([]string, len(rows[0]))
	for j, v := range rows[0] {
		switch v.(type) {
		case int64, int:
			c := make([]int64, len(rows))
			for i, r := range rows {
				switch x := r[j].(type) {
				case int64:
					c[i] = x
				case int:
					c[i] = int64(x)
				}
			}
			cols[j], types[j] = c, "bigint"
		case string:
			c := make([]string, len(rows))
			for i, r := range rows {
				c[i] = r[j].(string)
			}
			cols[j], types[j] = c, "text"
		case []byte:
			c := make([][]byte, len(rows))
			for i, r := range rows {
				c[i] = r[j].([]byte)
			}
			cols[j], types[j] = c, "bytea"
		case bool:
			c := make([]bool, len(rows))
			for i, r := range rows {
				c[i] = r[j].(bool)
			}
			cols[j], types[j] = c, "boolean"
		default:
			panic(fmt.Sprintf("postgres: a column of %T", v))
		}
	}
	return cols, types
}
