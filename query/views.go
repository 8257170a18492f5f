package query

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

// Views of `tlsrpt summary --by`.
const (
	ByMX        = "mx"
	ByDay       = "day"
	ByResult    = "result"
	BySender    = "sender"
	BySendingIP = "sending-ip"
)

// Views lists the --by values.
var Views = []string{ByMX, ByDay, ByResult, BySender, BySendingIP}

// View is a summary --by other than mx: one row per domain and key, but
// for sending-ip, whose rows are per sending MTA IP and result type over
// the domains asked for.
type View struct {
	By   string    `json:"by"`
	Rows []ViewRow `json:"rows"`
}

// ViewRow is one line of a View. Fields that do not apply to the view are
// left out of its JSON.
type ViewRow struct {
	PolicyDomain       string   `json:"policy_domain,omitempty"`
	Day                string   `json:"day,omitempty"`
	OrganizationName   string   `json:"organization_name,omitempty"`
	SendingMTAIP       *string  `json:"sending_mta_ip,omitempty"`
	ResultType         *string  `json:"result_type,omitempty"`
	Reports            *int64   `json:"reports,omitempty"`
	SuccessfulSessions *int64   `json:"successful_sessions,omitempty"`
	FailedSessions     int64    `json:"failed_sessions"`
	FailureRate        *float64 `json:"failure_rate,omitempty"`
}

func sessionsRow(domain string, reports, ok, failed int64) ViewRow {
	rate := Rate(failed, ok+failed)
	return ViewRow{PolicyDomain: domain, Reports: &reports, SuccessfulSessions: &ok, FailedSessions: failed, FailureRate: &rate}
}

// SummarizeBy builds the day, result, sender or sending-ip view.
func SummarizeBy(ctx context.Context, st store.Store, by string, f store.Filter) (*View, error) {
	v := &View{By: by, Rows: []ViewRow{}}
	switch by {
	case ByDay:
		days, err := st.DayTotals(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, d := range days {
			r := sessionsRow(d.Domain, d.Reports, d.SuccessfulSessions, d.FailedSessions)
			r.Day = d.Day.Format(time.DateOnly)
			v.Rows = append(v.Rows, r)
		}
	case ByResult:
		mxs, err := st.MXTotals(ctx, f)
		if err != nil {
			return nil, err
		}
		type key struct{ domain, rt string }
		sums := map[key]int64{}
		var order []key
		for _, m := range mxs {
			k := key{m.Domain, m.ResultType}
			if _, ok := sums[k]; !ok {
				order = append(order, k)
			}
			sums[k] += m.FailedSessions
		}
		for _, k := range order {
			rt := k.rt
			v.Rows = append(v.Rows, ViewRow{PolicyDomain: k.domain, ResultType: &rt, FailedSessions: sums[k]})
		}
		slices.SortStableFunc(v.Rows, func(a, b ViewRow) int {
			return cmp.Or(cmp.Compare(a.PolicyDomain, b.PolicyDomain), cmp.Compare(b.FailedSessions, a.FailedSessions),
				cmp.Compare(*a.ResultType, *b.ResultType))
		})
	case BySender:
		senders, err := st.SenderTotals(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, s := range senders {
			r := sessionsRow(s.Domain, s.Reports, s.SuccessfulSessions, s.FailedSessions)
			r.OrganizationName = s.Organization
			v.Rows = append(v.Rows, r)
		}
	case BySendingIP:
		ips, err := st.IPTotals(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, x := range ips {
			ip, rt := x.IP, x.ResultType
			v.Rows = append(v.Rows, ViewRow{SendingMTAIP: &ip, ResultType: &rt, FailedSessions: x.FailedSessions})
		}
	default:
		return nil, fmt.Errorf("query: no view %q (want one of %v)", by, Views)
	}
	return v, nil
}
