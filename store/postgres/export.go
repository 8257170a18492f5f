package postgres

import (
	"context"
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
	var e store.Exported
	var received int64
	var au nullAuth
	var outcome string
	in := &e.Input
	err := db.scan(ctx, "exporting inputs", `SELECT i.id, i.sha256, i.size, i.source, i.origin, i.received_at, i.outcome, i.error,
au.dkim, au.dkim_domain, au.authenticated, au.reason, i.data
FROM inputs i LEFT JOIN input_auth au ON au.input_id = i.id WHERE i.id > $1 ORDER BY i.id LIMIT $2`, args{afterInput, limit},
		[]any{&in.ID, &in.SHA256, &in.Size, &in.Source, &in.Origin, &received, &outcome, &in.Error,
			&au.dkim, &au.domain, &au.authenticated, &au.reason, &e.Data}, func() error {
			c := store.Exported{Input: *in, Data: append([]byte(nil), e.Data...)}
			c.Input.SHA256 = append([]byte(nil), in.SHA256...)
			c.Input.Outcome, c.Input.ReceivedAt, c.Input.Auth = store.Outcome(outcome), time.UnixMilli(received).UTC(), au.get()
			index[c.Input.ID] = len(out)
			out = append(out, c)
			return nil
		})
	if err != nil || len(out) == 0 {
		return out, err
	}
	lo, hi := out[0].Input.ID, out[len(out)-1].Input.ID
	var a store.InputInfo
	err = db.scan(ctx, "exporting arrivals", `SELECT input_id, source, origin, received_at FROM arrivals
WHERE input_id BETWEEN $1 AND $2 ORDER BY id`, args{lo, hi}, []any{&a.ID, &a.Source, &a.Origin, &received}, func() error {
		c := a
		c.ReceivedAt = time.UnixMilli(received).UTC()
		if i, ok := index[c.ID]; ok {
			out[i].Arrivals = append(out[i].Arrivals, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	reports := map[int64]*store.StoredReport{}
	var order []int64
	var sr store.StoredReport
	var start, end int64
	var warnings string
	err = db.scan(ctx, "exporting reports", `SELECT id, input_id, organization_name, report_id, contact_info, start_time, end_time, warnings
FROM reports WHERE input_id BETWEEN $1 AND $2 ORDER BY id`, args{lo, hi},
		[]any{&sr.ID, &sr.Input.ID, &sr.Report.OrganizationName, &sr.Report.ReportID, &sr.Report.ContactInfo, &start, &end, &warnings}, func() error {
			c := sr
			c.Report.DateRange = parse.DateRange{Start: time.Unix(start, 0).UTC(), End: time.Unix(end, 0).UTC()}
			c.Report.Warnings = nil
			if warnings != "" {
				c.Report.Warnings = strings.Split(warnings, "\n")
			}
			reports[c.ID] = &c
			order = append(order, c.ID)
			return nil
		})
	if err != nil || len(order) == 0 {
		return out, err
	}
	pols := map[[2]int64]*parse.Policy{}
	var keys [][2]int64
	var rid, pos int64
	var p parse.Policy
	var lines, mx string
	err = db.scan(ctx, "exporting policies", `SELECT p.report_id, p.position, p.policy_type, p.policy_domain, p.policy_string, p.mx_host,
p.successful_sessions, p.failed_sessions FROM policies p JOIN reports r ON r.id = p.report_id
WHERE r.input_id BETWEEN $1 AND $2 ORDER BY p.report_id, p.position`, args{lo, hi},
		[]any{&rid, &pos, &p.Type, &p.Domain, &lines, &mx, &p.SuccessfulSessions, &p.FailedSessions}, func() error {
			c := p
			c.String, c.MXHosts, c.FailureDetails = splitNonEmpty(lines), splitNonEmpty(mx), nil
			pols[[2]int64{rid, pos}] = &c
			keys = append(keys, [2]int64{rid, pos})
			return nil
		})
	if err != nil {
		return nil, err
	}
	var fd parse.FailureDetail
	err = db.scan(ctx, "exporting failure details", `SELECT d.report_id, d.policy_position, d.result_type, d.sending_mta_ip,
d.receiving_mx_hostname, d.receiving_mx_helo, d.receiving_ip, d.failed_sessions, d.additional_information, d.failure_reason_code
FROM failure_details d JOIN reports r ON r.id = d.report_id WHERE r.input_id BETWEEN $1 AND $2
ORDER BY d.report_id, d.policy_position, d.position`, args{lo, hi},
		[]any{&rid, &pos, &fd.ResultType, &fd.SendingMTAIP, &fd.ReceivingMXHostname, &fd.ReceivingMXHelo, &fd.ReceivingIP,
			&fd.FailedSessions, &fd.AdditionalInformation, &fd.FailureReasonCode}, func() error {
			pp := pols[[2]int64{rid, pos}]
			pp.FailureDetails = append(pp.FailureDetails, fd)
			return nil
		})
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		r := reports[k[0]]
		r.Report.Policies = append(r.Report.Policies, *pols[k])
	}
	for _, id := range order {
		r := reports[id]
		i := index[r.Input.ID]
		out[i].Reports = append(out[i].Reports, *r)
	}
	return out, nil
}
