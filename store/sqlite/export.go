package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

var _ store.Exporter = (*DB)(nil)

// Export returns up to limit inputs with ids above afterInput, with their
// bytes, arrivals and stored reports, in id order.
func (db *DB) Export(ctx context.Context, afterInput int64, limit int) ([]store.Exported, error) {
	var out []store.Exported
	index := map[int64]int{}
	err := db.scanAll(ctx, "exporting inputs", `SELECT i.id, i.sha256, i.size, i.source, i.origin, i.received_at, i.outcome, i.error,
au.dkim, au.dkim_domain, au.authenticated, au.reason, i.data
FROM inputs i LEFT JOIN input_auth au ON au.input_id = i.id WHERE i.id > ? ORDER BY i.id LIMIT ?`, []any{afterInput, limit},
		func(rows *sql.Rows) error {
			var e store.Exported
			var received int64
			var auth nullAuth
			in := &e.Input
			if err := rows.Scan(&in.ID, &in.SHA256, &in.Size, &in.Source, &in.Origin, &received, &in.Outcome, &in.Error,
				&auth.dkim, &auth.domain, &auth.authenticated, &auth.reason, &e.Data); err != nil {
				return err
			}
			in.ReceivedAt, in.Auth = time.UnixMilli(received).UTC(), auth.get()
			index[in.ID] = len(out)
			out = append(out, e)
			return nil
		})
	if err != nil || len(out) == 0 {
		return out, err
	}
	lo, hi := out[0].Input.ID, out[len(out)-1].Input.ID
	err = db.scanAll(ctx, "exporting arrivals", `SELECT input_id, source, origin, received_at FROM arrivals
WHERE input_id BETWEEN ? AND ? ORDER BY id`, []any{lo, hi}, func(rows *sql.Rows) error {
		var a store.InputInfo
		var received int64
		if err := rows.Scan(&a.ID, &a.Source, &a.Origin, &received); err != nil {
			return err
		}
		a.ReceivedAt = time.UnixMilli(received).UTC()
		if i, ok := index[a.ID]; ok {
			out[i].Arrivals = append(out[i].Arrivals, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	reports := map[int64]*store.StoredReport{}
	var order []int64
	err = db.scanAll(ctx, "exporting reports", `SELECT id, input_id, organization_name, report_id, contact_info, start_time, end_time, warnings
FROM reports WHERE input_id BETWEEN ? AND ? ORDER BY id`, []any{lo, hi}, func(rows *sql.Rows) error {
		sr := &store.StoredReport{}
		var start, end int64
		var warnings string
		if err := rows.Scan(&sr.ID, &sr.Input.ID, &sr.Report.OrganizationName, &sr.Report.ReportID, &sr.Report.ContactInfo,
			&start, &end, &warnings); err != nil {
			return err
		}
		sr.Report.DateRange = parse.DateRange{Start: time.Unix(start, 0).UTC(), End: time.Unix(end, 0).UTC()}
		if warnings != "" {
			sr.Report.Warnings = strings.Split(warnings, "\n")
		}
		reports[sr.ID] = sr
		order = append(order, sr.ID)
		return nil
	})
	if err != nil || len(order) == 0 {
		return out, err
	}
	err = scanPolicies(ctx, db.read, `p.report_id IN (SELECT id FROM reports WHERE input_id BETWEEN ? AND ?)`, []any{lo, hi},
		func(id int64) *[]parse.Policy { return &reports[id].Report.Policies })
	if err != nil {
		return nil, fmt.Errorf("sqlite: exporting policies: %w", err)
	}
	for _, id := range order {
		sr := reports[id]
		i := index[sr.Input.ID]
		out[i].Reports = append(out[i].Reports, *sr)
	}
	return out, nil
}
