package query

import (
	"cmp"
	"context"
	"math"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/tlsrpt/tlsrpt/store"
)

// Summary is the answer of `tlsrpt summary`. Its JSON form is a contract
// for scripts: names may be added, never renamed.
type Summary struct {
	Domains []DomainSummary `json:"domains"`
}

// DomainSummary is one policy domain's sessions and failures. Totals come
// from the reports' summaries, per-MX figures from their failure details.
type DomainSummary struct {
	PolicyDomain       string      `json:"policy_domain"`
	Reports            int64       `json:"reports"`
	SuccessfulSessions int64       `json:"successful_sessions"`
	FailedSessions     int64       `json:"failed_sessions"`
	FailureRate        float64     `json:"failure_rate"`
	MX                 []MXSummary `json:"mx"`
	// PolicyTypes are the sessions under each policy type as the reports
	// gave them, each policy's own: an sts and a tlsa policy over the same
	// sessions (Microsoft) appear under both, where the totals above count
	// them once (store.Counted).
	PolicyTypes map[string]Sessions `json:"policy_types"`
}

// Sessions is a pair of session counts.
type Sessions struct {
	SuccessfulSessions int64 `json:"successful_sessions"`
	FailedSessions     int64 `json:"failed_sessions"`
}

// MXSummary is the failed sessions of one MX host, by result type. MXHost
// is "" for failure details that named no host.
type MXSummary struct {
	MXHost         string           `json:"mx_host"`
	FailedSessions int64            `json:"failed_sessions"`
	ResultTypes    map[string]int64 `json:"result_types"`
}

// Summarize builds the summary for the reports f selects. Domains are in
// name order; MX hosts by failed sessions, most first.
func Summarize(ctx context.Context, st store.Store, f store.Filter) (*Summary, error) {
	// The two reads run side by side; the MX hosts are grouped as they come.
	var totals []store.DomainTotal
	var types []store.PolicyTypeTotal
	mxByDomain := map[string][]MXSummary{}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		if totals, err = st.DomainTotals(gctx, f); err != nil {
			return err
		}
		types, err = st.PolicyTypeTotals(gctx, f)
		return err
	})
	g.Go(func() error {
		return st.MXTotals(gctx, f, func(domain string, mxs []store.MXTotal) error {
			var out []MXSummary
			for _, m := range mxs {
				j := slices.IndexFunc(out, func(x MXSummary) bool { return x.MXHost == m.MX })
				if j < 0 {
					out = append(out, MXSummary{MXHost: m.MX, ResultTypes: map[string]int64{}})
					j = len(out) - 1
				}
				out[j].FailedSessions += m.FailedSessions
				out[j].ResultTypes[m.ResultType] += m.FailedSessions
			}
			slices.SortFunc(out, func(a, b MXSummary) int {
				return cmp.Or(cmp.Compare(b.FailedSessions, a.FailedSessions), cmp.Compare(a.MXHost, b.MXHost))
			})
			mxByDomain[domain] = out
			return nil
		})
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	byType := map[string]map[string]Sessions{}
	for _, pt := range types {
		m := byType[pt.Domain]
		if m == nil {
			m = map[string]Sessions{}
			byType[pt.Domain] = m
		}
		s := m[pt.Type]
		s.SuccessfulSessions += pt.SuccessfulSessions
		s.FailedSessions += pt.FailedSessions
		m[pt.Type] = s
	}
	s := &Summary{Domains: make([]DomainSummary, 0, len(totals))}
	for _, t := range totals {
		pt := byType[t.Domain]
		if pt == nil {
			pt = map[string]Sessions{}
		}
		mx := mxByDomain[t.Domain]
		if mx == nil {
			mx = []MXSummary{}
		}
		s.Domains = append(s.Domains, DomainSummary{
			PolicyDomain:       t.Domain,
			Reports:            t.Reports,
			SuccessfulSessions: t.SuccessfulSessions,
			FailedSessions:     t.FailedSessions,
			FailureRate:        Rate(t.FailedSessions, t.SuccessfulSessions+t.FailedSessions),
			MX:                 mx,
			PolicyTypes:        pt,
		})
	}
	return s, nil
}

// Rate is part/whole rounded to four places, 0 when whole is 0.
func Rate(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return math.Round(float64(part)/float64(whole)*10000) / 10000
}
