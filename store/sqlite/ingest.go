package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

const (
	qRawFind   = `SELECT id FROM raw WHERE sha256 = ?`
	qRawInsert = `INSERT INTO raw (sha256, size, data) VALUES (?, ?, ?)`
	qInputNew  = `INSERT INTO inputs (raw_id, source, origin, received_at, outcome) VALUES (?, ?, ?, ?, 'no-report')`
	qInputSet  = `UPDATE inputs SET outcome = ?, stored = ?, duplicates = ?, invalid = ?, error = ? WHERE id = ?`
	qReport    = `INSERT INTO reports (input_id, organization_name, report_id, contact_info, start_time, end_time, warnings)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (organization_name, report_id) DO NOTHING`
	qPolicy = `INSERT INTO policies (report_id, position, policy_type, policy_domain, policy_string, mx_host,
successful_sessions, failed_sessions) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qDetail = `INSERT INTO failure_details (policy_id, result_type, sending_mta_ip, receiving_mx_hostname,
receiving_mx_helo, receiving_ip, failed_sessions, additional_information, failure_reason_code)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qDomainDay = `INSERT INTO domain_days (policy_domain, day, reports, successful_sessions, failed_sessions)
VALUES (?, ?, 1, ?, ?) ON CONFLICT (policy_domain, day) DO UPDATE SET reports = reports + 1,
successful_sessions = successful_sessions + excluded.successful_sessions,
failed_sessions = failed_sessions + excluded.failed_sessions`
	qMXDay = `INSERT INTO mx_days (policy_domain, day, mx_host, result_type, failed_sessions)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (policy_domain, day, mx_host, result_type) DO UPDATE SET
failed_sessions = failed_sessions + excluded.failed_sessions`
)

var writeQueries = []string{qRawFind, qRawInsert, qInputNew, qInputSet, qReport, qPolicy, qDetail,
	qDomainDay, qMXDay}

// Ingest stores a batch of inputs in one transaction: all of them or, on
// error, none. The transaction is durably committed (synchronous=FULL)
// before Ingest returns, so a caller may acknowledge what it returns.
func (db *DB) Ingest(ctx context.Context, inputs []store.Input) ([]store.Result, error) {
	results := make([]store.Result, len(inputs))
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for i := range inputs {
			res, err := db.ingestOne(ctx, tx, &inputs[i])
			if err != nil {
				return fmt.Errorf("storing input from %s: %w", inputs[i].Origin, err)
			}
			results[i] = res
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return results, nil
}

func (db *DB) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) error {
	_, err := db.stmt(ctx, tx, q).ExecContext(ctx, args...)
	return err
}

func (db *DB) ingestOne(ctx context.Context, tx *sql.Tx, in *store.Input) (store.Result, error) {
	var res store.Result
	res.InputID = in.ID
	if in.ID == 0 {
		rawID, err := db.rawID(ctx, tx, in.Data)
		if err != nil {
			return res, err
		}
		at := in.ReceivedAt
		if at.IsZero() {
			at = db.Now()
		}
		r, err := db.stmt(ctx, tx, qInputNew).ExecContext(ctx, rawID, in.Source, in.Origin, at.UnixMilli())
		if err != nil {
			return res, err
		}
		if res.InputID, err = r.LastInsertId(); err != nil {
			return res, err
		}
	}
	for _, r := range in.Reports {
		id, err := db.insertReport(ctx, tx, res.InputID, r)
		if err != nil {
			return res, err
		}
		if id == 0 {
			res.Duplicates++
			continue
		}
		res.Stored++
		res.ReportIDs = append(res.ReportIDs, id)
	}
	res.Invalid = len(in.Errors)
	if in.NoReport {
		res.Invalid = 0
	}
	res.Outcome = store.OutcomeOf(res, in.NoReport)
	err := db.exec(ctx, tx, qInputSet, string(res.Outcome), res.Stored, res.Duplicates, res.Invalid,
		strings.Join(in.Errors, "\n"), res.InputID)
	return res, err
}

func (db *DB) rawID(ctx context.Context, tx *sql.Tx, data []byte) (int64, error) {
	sum := sha256.Sum256(data)
	var id int64
	err := db.stmt(ctx, tx, qRawFind).QueryRowContext(ctx, sum[:]).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	if data == nil {
		data = []byte{}
	}
	r, err := db.stmt(ctx, tx, qRawInsert).ExecContext(ctx, sum[:], len(data), data)
	if err != nil {
		return 0, err
	}
	return r.LastInsertId()
}

// insertReport stores r and its rollups; it returns 0 for a report already
// stored (same organization-name and report-id).
func (db *DB) insertReport(ctx context.Context, tx *sql.Tx, inputID int64, r *parse.Report) (int64, error) {
	res, err := db.stmt(ctx, tx, qReport).ExecContext(ctx, inputID, r.OrganizationName, r.ReportID, r.ContactInfo,
		r.DateRange.Start.Unix(), r.DateRange.End.Unix(), strings.Join(r.Warnings, "\n"))
	if err != nil {
		return 0, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	policy, detail := db.stmt(ctx, tx, qPolicy), db.stmt(ctx, tx, qDetail)
	for i, p := range r.Policies {
		pr, err := policy.ExecContext(ctx, id, i, p.Type, p.Domain, strings.Join(p.String, "\n"),
			strings.Join(p.MXHosts, "\n"), p.SuccessfulSessions, p.FailedSessions)
		if err != nil {
			return 0, err
		}
		pid, err := pr.LastInsertId()
		if err != nil {
			return 0, err
		}
		for _, fd := range p.FailureDetails {
			if _, err := detail.ExecContext(ctx, pid, fd.ResultType, fd.SendingMTAIP, fd.ReceivingMXHostname,
				fd.ReceivingMXHelo, fd.ReceivingIP, fd.FailedSessions, fd.AdditionalInformation, fd.FailureReasonCode); err != nil {
				return 0, err
			}
		}
	}
	day := dayOf(r.DateRange.Start)
	doms, mxs := store.Rollup(r)
	dd := db.stmt(ctx, tx, qDomainDay)
	for _, d := range doms {
		if _, err := dd.ExecContext(ctx, d.Domain, day, d.SuccessfulSessions, d.FailedSessions); err != nil {
			return 0, err
		}
	}
	md := db.stmt(ctx, tx, qMXDay)
	for _, m := range mxs {
		if _, err := md.ExecContext(ctx, m.Domain, day, m.MX, m.ResultType, m.FailedSessions); err != nil {
			return 0, err
		}
	}
	return id, nil
}
