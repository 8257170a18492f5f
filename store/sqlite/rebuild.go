package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// goSteps are the parts of migrations that SQL cannot do, run after the
// named migration's SQL in its transaction.
var goSteps = map[string]func(context.Context, *sql.Tx) error{
	"0006_count_every_policy.sql": recount,
	"0007_input_hashes.sql":       keyContents,
	"0009_dkim.sql":               widenOutcomes,
}

// contentKey is an input's key in input_hashes: the first 8 bytes of its
// SHA-256.
func contentKey(sum []byte) int64 { return int64(binary.BigEndian.Uint64(sum)) }

// keyContents fills input_hashes from the inputs kept, in id order, a
// page at a time: the first input of each content stands for it.
func keyContents(ctx context.Context, tx *sql.Tx) error {
	const page = 100_000
	var after int64
	for {
		rows, err := tx.QueryContext(ctx, `SELECT id, sha256 FROM inputs WHERE id > ? ORDER BY id LIMIT ?`, after, page)
		if err != nil {
			return err
		}
		var keys [][]any
		n := 0
		for ; rows.Next(); n++ {
			var sum []byte
			if err := rows.Scan(&after, &sum); err != nil {
				rows.Close()
				return err
			}
			if len(sum) == sha256.Size {
				keys = append(keys, []any{contentKey(sum), after})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		err = insertTx(ctx, tx, []tableRows{{head: `INSERT INTO input_hashes (content_key, input_id) VALUES `,
			tail: ` ON CONFLICT (content_key) DO NOTHING`, rows: keys}})
		if err != nil {
			return err
		}
	}
}

// recount brings a database of schema 5, whose rollups counted the largest
// figure across a report's policies, to store.Counted's rule: from the
// stored reports, it marks the policies that do not count, fills in each
// report's fingerprint, and rebuilds the rollups that 0006 emptied
// (domain_days, mx_series, sender_days, ip_days) and the new policy_days.
// domain_policies does not depend on counting and is kept.
func recount(ctx context.Context, tx *sql.Tx) error {
	uncount, err := tx.PrepareContext(ctx, `UPDATE policies SET counted = 0 WHERE report_id = ? AND position = ?`)
	if err != nil {
		return err
	}
	defer uncount.Close()
	setFingerprint, err := tx.PrepareContext(ctx, `UPDATE reports SET fingerprint = ? WHERE id = ?`)
	if err != nil {
		return err
	}
	defer setFingerprint.Close()
	// The day rollups are flushed every so many reports with upserts;
	// the MX series, one row per group, at the end with plain inserts
	// (their upsert merges with a function only the writer has).
	const flushEvery = 100_000
	ro, mx := newRollups(0), map[mxGroup]series{}
	since := 0
	flush := func() error {
		for k, s := range ro.mxSeries {
			for _, d := range s {
				mx[k] = mx[k].addDay(d.day, d.failed)
			}
		}
		ro.mxSeries = map[mxGroup]series{}
		err := insertTx(ctx, tx, ro.tables(plainRow))
		ro, since = newRollups(0), 0
		return err
	}
	var after int64
	for {
		reports, err := loadReportsAfter(ctx, tx, after, 1000)
		if err != nil {
			return err
		}
		if len(reports) == 0 {
			break
		}
		for _, sr := range reports {
			r := &sr.Report
			for i, c := range store.Counted(r) {
				if !c {
					if _, err := uncount.ExecContext(ctx, sr.ID, i); err != nil {
						return err
					}
				}
			}
			fp := store.Fingerprint(r)
			if _, err := setFingerprint.ExecContext(ctx, fp[:], sr.ID); err != nil {
				return err
			}
			ro.addSessions(r, dayOf(r.DateRange.Start), true) // untrusted_days comes with schema 9, which fills it
			after = sr.ID
		}
		if since += len(reports); since >= flushEvery {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	mxRows := make([][]any, 0, len(mx))
	for k, s := range mx {
		mxRows = append(mxRows, plainRow(k.domain, k.mx, k.resultType, s.String()))
	}
	sortRows(mxRows, 3)
	return insertTx(ctx, tx, []tableRows{{head: sqlMXSeries, rows: mxRows}})
}

func plainRow(vals ...any) []any { return vals }

// insertTx writes tables' rows as insert does, on a database/sql
// transaction, each statement prepared for the occasion.
func insertTx(ctx context.Context, tx *sql.Tx, tables []tableRows) error {
	var args []any
	return eachStatement(ctx, tables, func(t tableRows, n int, rows [][]any) error {
		args = args[:0]
		for _, r := range rows {
			args = append(args, r...)
		}
		_, err := tx.ExecContext(ctx, t.head+placeholders(n, len(rows[0]))+t.tail, args...)
		return err
	})
}

// loadReportsAfter loads, in id order, up to n reports with ids above
// after: their keys, date ranges, policies and failure details.
func loadReportsAfter(ctx context.Context, tx *sql.Tx, after int64, n int) ([]store.StoredReport, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, organization_name, report_id, start_time, end_time FROM reports
WHERE id > ? ORDER BY id LIMIT ?`, after, n)
	if err != nil {
		return nil, fmt.Errorf("reading reports: %w", err)
	}
	var out []store.StoredReport
	index := map[int64]int{}
	for rows.Next() {
		var sr store.StoredReport
		var start, end int64
		if err := rows.Scan(&sr.ID, &sr.Report.OrganizationName, &sr.Report.ReportID, &start, &end); err != nil {
			rows.Close()
			return nil, err
		}
		sr.Report.DateRange = parse.DateRange{Start: time.Unix(start, 0).UTC(), End: time.Unix(end, 0).UTC()}
		index[sr.ID] = len(out)
		out = append(out, sr)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return nil, err
	}
	lo, hi := out[0].ID, out[len(out)-1].ID
	err = scanPolicies(ctx, tx, `p.report_id BETWEEN ? AND ?`, []any{lo, hi}, func(id int64) *[]parse.Policy {
		return &out[index[id]].Report.Policies
	})
	return out, err
}

// querier is what a read runs on: the read pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// scanPolicies reads the policies and failure details of the reports the
// condition on p selects, in report and position order, appending each to
// the slice policies returns for its report id.
func scanPolicies(ctx context.Context, q querier, cond string, args []any, policies func(reportID int64) *[]parse.Policy) error {
	rows, err := q.QueryContext(ctx, `SELECT p.report_id, p.position, p.policy_type, p.policy_domain, p.policy_string, p.mx_host,
p.successful_sessions, p.failed_sessions, f.result_type, f.sending_mta_ip, f.receiving_mx_hostname,
f.receiving_mx_helo, f.receiving_ip, f.failed_sessions, f.additional_information, f.failure_reason_code
FROM policies p LEFT JOIN failure_details f ON f.report_id = p.report_id AND f.policy_position = p.position
WHERE `+cond+` ORDER BY p.report_id, p.position, f.position`, args...)
	if err != nil {
		return fmt.Errorf("reading policies: %w", err)
	}
	defer rows.Close()
	lastReport, lastPos := int64(-1), int64(-1)
	var list *[]parse.Policy
	for rows.Next() {
		var reportID, pos int64
		var p parse.Policy
		var pstr, mx string
		var rt, sip, mxh, helo, rip, add, code sql.NullString
		var failed sql.NullInt64
		if err := rows.Scan(&reportID, &pos, &p.Type, &p.Domain, &pstr, &mx, &p.SuccessfulSessions, &p.FailedSessions,
			&rt, &sip, &mxh, &helo, &rip, &failed, &add, &code); err != nil {
			return err
		}
		if reportID != lastReport || pos != lastPos {
			p.String, p.MXHosts = splitNonEmpty(pstr), splitNonEmpty(mx)
			list = policies(reportID)
			*list = append(*list, p)
			lastReport, lastPos = reportID, pos
		}
		if rt.Valid {
			last := &(*list)[len(*list)-1]
			last.FailureDetails = append(last.FailureDetails, parse.FailureDetail{
				ResultType: rt.String, SendingMTAIP: sip.String, ReceivingMXHostname: mxh.String,
				ReceivingMXHelo: helo.String, ReceivingIP: rip.String, FailedSessions: failed.Int64,
				AdditionalInformation: add.String, FailureReasonCode: code.String,
			})
		}
	}
	return rows.Err()
}

func splitNonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
