package query

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
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

// rowSlab hands out the pointed-to figures of n rows from three
// allocations, not three per row: views run to hundreds of thousands of rows.
type rowSlab struct {
	counts []int64
	rates  []float64
}

func newRowSlab(n int) *rowSlab {
	return &rowSlab{counts: make([]int64, 0, 2*n), rates: make([]float64, 0, n)}
}

func (s *rowSlab) sessionsRow(domain string, reports, ok, failed int64) ViewRow {
	s.counts = append(s.counts, reports, ok)
	s.rates = append(s.rates, Rate(failed, ok+failed))
	c, r := s.counts[len(s.counts)-2:], &s.rates[len(s.rates)-1]
	return ViewRow{PolicyDomain: domain, Reports: &c[0], SuccessfulSessions: &c[1], FailedSessions: failed, FailureRate: r}
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
		v.Rows = make([]ViewRow, 0, len(days))
		slab := newRowSlab(len(days))
		for _, d := range days {
			r := slab.sessionsRow(d.Domain, d.Reports, d.SuccessfulSessions, d.FailedSessions)
			r.Day = d.Day.Format(time.DateOnly)
			v.Rows = append(v.Rows, r)
		}
	case ByResult:
		// Domains arrive in order: sort each one's few rows as it comes.
		err := st.MXTotals(ctx, f, func(domain string, mxs []store.MXTotal) error {
			start := len(v.Rows)
			for i := range mxs {
				rt := &mxs[i].ResultType
				j := slices.IndexFunc(v.Rows[start:], func(r ViewRow) bool { return *r.ResultType == *rt })
				if j < 0 {
					v.Rows = append(v.Rows, ViewRow{PolicyDomain: domain, ResultType: rt})
					j = len(v.Rows) - start - 1
				}
				v.Rows[start+j].FailedSessions += mxs[i].FailedSessions
			}
			slices.SortFunc(v.Rows[start:], func(a, b ViewRow) int {
				return cmp.Or(cmp.Compare(b.FailedSessions, a.FailedSessions), cmp.Compare(*a.ResultType, *b.ResultType))
			})
			return nil
		})
		if err != nil {
			return nil, err
		}
	case BySender:
		senders, err := st.SenderTotals(ctx, f)
		if err != nil {
			return nil, err
		}
		v.Rows = make([]ViewRow, 0, len(senders))
		slab := newRowSlab(len(senders))
		for _, s := range senders {
			r := slab.sessionsRow(s.Domain, s.Reports, s.SuccessfulSessions, s.FailedSessions)
			r.OrganizationName = s.Organization
			v.Rows = append(v.Rows, r)
		}
	case BySendingIP:
		ips, err := st.IPTotals(ctx, f)
		if err != nil {
			return nil, err
		}
		// Addresses in numeric order (192.0.2.2 before 192.0.2.11),
		// IPv4 before IPv6, what is no address after them as text.
		slices.SortStableFunc(ips, func(a, b store.IPTotal) int {
			x, errA := netip.ParseAddr(a.IP)
			y, errB := netip.ParseAddr(b.IP)
			switch {
			case errA == nil && errB == nil:
				if c := x.Compare(y); c != 0 {
					return c
				}
			case errA == nil:
				return -1
			case errB == nil:
				return 1
			default:
				if c := cmp.Compare(a.IP, b.IP); c != 0 {
					return c
				}
			}
			return cmp.Or(cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.ResultType, b.ResultType))
		})
		v.Rows = make([]ViewRow, 0, len(ips))
		for i := range ips {
			x := &ips[i]
			v.Rows = append(v.Rows, ViewRow{PolicyDomain: x.Domain, SendingMTAIP: &x.IP, ResultType: &x.ResultType, FailedSessions: x.FailedSessions})
		}
	default:
		return nil, fmt.Errorf("query: no view %q (want one of %v)", by, Views)
	}
	return v, nil
}
