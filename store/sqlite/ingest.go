package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

const (
	qMaxInput = `SELECT coalesce(max(id), 0) FROM inputs`
	qInputNew = `INSERT INTO inputs (id, sha256, size, source, origin, received_at, outcome, stored, duplicates, invalid, error, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qInputSet = `UPDATE inputs SET outcome = ?, stored = ?, duplicates = ?, invalid = ?, error = ? WHERE id = ?`
	qReport   = `INSERT INTO reports (input_id, organization_name, report_id, contact_info, start_time, end_time, warnings)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (organization_name, report_id) DO NOTHING`
	qPolicy = `INSERT INTO policies (report_id, position, policy_type, policy_domain, policy_string, mx_host,
successful_sessions, failed_sessions) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qDetail = `INSERT INTO failure_details (report_id, policy_position, position, result_type, sending_mta_ip,
receiving_mx_hostname, receiving_mx_helo, receiving_ip, failed_sessions, additional_information, failure_reason_code)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qDomainDay = `INSERT INTO domain_days (policy_domain, day, reports, successful_sessions, failed_sessions)
VALUES (?, ?, 1, ?, ?) ON CONFLICT (policy_domain, day) DO UPDATE SET reports = reports + 1,
successful_sessions = successful_sessions + excluded.successful_sessions,
failed_sessions = failed_sessions + excluded.failed_sessions`
	qMXDay = `INSERT INTO mx_days (policy_domain, mx_host, result_type, day, failed_sessions)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (policy_domain, mx_host, result_type, day) DO UPDATE SET
failed_sessions = failed_sessions + excluded.failed_sessions`
)

var writeQueries = []string{qMaxInput, qInputNew, qInputSet, qReport, qPolicy, qDetail,
	qDomainDay, qMXDay}

// writer is one write transaction with its statements bound.
type writer struct {
	ctx  context.Context
	st   map[string]*sql.Stmt
	next int64 // the id the next new input gets
}

func (w *writer) exec(q string, args ...any) (sql.Result, error) {
	return w.st[q].ExecContext(w.ctx, args...)
}

// Ingest stores a batch of inputs in one transaction: all of them or, on
// error, none. The transaction is durably committed (synchronous=FULL)
// before Ingest returns, so a caller may acknowledge what it returns.
func (db *DB) Ingest(ctx context.Context, inputs []store.Input) ([]store.Result, error) {
	results := make([]store.Result, len(inputs))
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		w := &writer{ctx: ctx, st: db.bind(ctx, tx)}
		// Writes are serialised (db.mu), so ids can be handed out here and
		// a new input's row written once, after its reports, with its outcome.
		if err := w.st[qMaxInput].QueryRowContext(ctx).Scan(&w.next); err != nil {
			return err
		}
		w.next++
		for i := range inputs {
			res, err := db.ingestOne(w, &inputs[i])
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

func (db *DB) ingestOne(w *writer, in *store.Input) (store.Result, error) {
	res := store.Result{InputID: in.ID}
	if in.ID == 0 {
		res.InputID = w.next
		w.next++
	}
	for _, r := range in.Reports {
		id, err := db.insertReport(w, res.InputID, r)
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
	if !in.NoReport {
		res.Invalid = len(in.Errors)
	}
	res.Outcome = store.OutcomeOf(res, in.NoReport)
	errText := strings.Join(in.Errors, "\n")
	if in.ID != 0 {
		_, err := w.exec(qInputSet, string(res.Outcome), res.Stored, res.Duplicates, res.Invalid, errText, in.ID)
		return res, err
	}
	at := in.ReceivedAt
	if at.IsZero() {
		at = db.Now()
	}
	data := in.Data
	if data == nil {
		data = []byte{} // NOT NULL: an empty input is still an input
	}
	sum := sha256.Sum256(data)
	_, err := w.exec(qInputNew, res.InputID, sum[:], len(data), in.Source, in.Origin, at.UnixMilli(),
		string(res.Outcome), res.Stored, res.Duplicates, res.Invalid, errText, data)
	return res, err
}

// insertReport stores r and its rollups; it returns 0 for a report already
// stored (same organization-name and report-id).
func (db *DB) insertReport(w *writer, inputID int64, r *parse.Report) (int64, error) {
	res, err := w.exec(qReport, inputID, r.OrganizationName, r.ReportID, r.ContactInfo,
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
	for i, p := range r.Policies {
		if _, err := w.exec(qPolicy, id, i, p.Type, p.Domain, strings.Join(p.String, "\n"),
			strings.Join(p.MXHosts, "\n"), p.SuccessfulSessions, p.FailedSessions); err != nil {
			return 0, err
		}
		for j, fd := range p.FailureDetails {
			if _, err := w.exec(qDetail, id, i, j, fd.ResultType, fd.SendingMTAIP, fd.ReceivingMXHostname,
				fd.ReceivingMXHelo, fd.ReceivingIP, fd.FailedSessions, fd.AdditionalInformation, fd.FailureReasonCode); err != nil {
				return 0, err
			}
		}
	}
	day := dayOf(r.DateRange.Start)
	doms, mxs := store.Rollup(r)
	for _, d := range doms {
		if _, err := w.exec(qDomainDay, d.Domain, day, d.SuccessfulSessions, d.FailedSessions); err != nil {
			return 0, err
		}
	}
	for _, m := range mxs {
		if _, err := w.exec(qMXDay, m.Domain, m.MX, m.ResultType, day, m.FailedSessions); err != nil {
			return 0, err
		}
	}
	return id, nil
}
