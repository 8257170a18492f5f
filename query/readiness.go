package query

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tlsrpt/tlsrpt/mtasts"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// Verdict is readiness's answer for a domain.
type Verdict string

// Verdicts.
const (
	Ready            Verdict = "ready"
	NotReady         Verdict = "not-ready"
	InsufficientData Verdict = "insufficient-data"
)

// Thresholds decide a verdict. The defaults are what a careful operator
// would ask before enforcing.
type Thresholds struct {
	Window       int   // days of reports considered, default 30
	MinDays      int   // days with reports, default 14
	MinReporters int   // distinct reporting organisations, default 2
	MinSessions  int64 // successful plus failed sessions, default 100
	QuietDays    int   // no failure enforce would bounce in this many last days, default 7
	TrendDays    int   // each half of the trend comparison, default 7
	// AuthenticatedOnly judges from the trusted reports only: by HTTPS or
	// in authenticated mail (store.Trusted), as --authenticated-only asks.
	AuthenticatedOnly bool
}

// DefaultThresholds are the flags' defaults.
var DefaultThresholds = Thresholds{Window: 30, MinDays: 14, MinReporters: 2, MinSessions: 100, QuietDays: 7, TrendDays: 7}

// Readiness is the answer for one policy domain. Its JSON form is a
// contract for scripts: names may be added, never renamed.
type Readiness struct {
	PolicyDomain       string   `json:"policy_domain"`
	Verdict            Verdict  `json:"verdict"`
	Reasons            []string `json:"reasons"`
	SuccessfulSessions int64    `json:"successful_sessions"`
	FailedSessions     int64    `json:"failed_sessions"`
	FailureRate        float64  `json:"failure_rate"`
	DaysCovered        int64    `json:"days_covered"`
	FirstDay           string   `json:"first_day"`
	LastDay            string   `json:"last_day"`
	Reporters          int      `json:"reporters"`
	PolicyMode         string   `json:"policy_mode"`
	// Modes are the sessions reported under each mode of the domain's sts
	// policies in the window ("" when the reports gave no policy lines):
	// failures under enforce are mail that senders did not deliver.
	Modes       []ModeSessions `json:"modes"`
	MXPatterns  []string       `json:"mx_patterns"`
	UnmatchedMX []string       `json:"unmatched_mx"`
	Failures    []FailureGroup `json:"failures"`
	Trend       Trend          `json:"trend"`
}

// ModeSessions is the sessions reported under one sts policy mode.
type ModeSessions struct {
	Mode               string `json:"mode"`
	SuccessfulSessions int64  `json:"successful_sessions"`
	FailedSessions     int64  `json:"failed_sessions"`
}

// FailureGroup is the failures of one MX host under one result type.
type FailureGroup struct {
	MXHost         string `json:"mx_host"`
	ResultType     string `json:"result_type"`
	FailedSessions int64  `json:"failed_sessions"`
	WouldBounce    bool   `json:"would_bounce"`
	FirstSeen      string `json:"first_seen"`
	LastSeen       string `json:"last_seen"`
}

// Trend compares the failure rate of the last TrendDays days with the
// TrendDays before. A rate is null when there were no sessions.
type Trend struct {
	Recent    *float64 `json:"recent_failure_rate"`
	Previous  *float64 `json:"previous_failure_rate"`
	Direction string   `json:"direction"` // better, worse, unchanged, unknown
}

// WouldBounce reports whether failures of a result type would turn into
// bounces once an MTA-STS policy is enforced: every certificate and
// negotiation failure and every MTA-STS failure (RFC 8460 section 4.3).
// DANE failures concern TLSA, not MTA-STS. An unknown or missing type is
// counted as a bounce: when unsure, do not enforce.
func WouldBounce(resultType string) bool {
	return parse.GroupOf(resultType) != parse.GroupDANE
}

const day = 24 * time.Hour

// Assess gives each policy domain a verdict from the reports of the last
// t.Window days before now.
func Assess(ctx context.Context, st store.Store, domains []string, now time.Time, t Thresholds) ([]Readiness, error) {
	t = t.withDefaults()
	today := now.UTC().Truncate(day)
	window := store.Filter{Domains: domains, Since: today.Add(-time.Duration(t.Window-1) * day), Until: today, Trusted: t.AuthenticatedOnly}
	// The MX failures are the longest read: the others run beside it.
	var (
		totals    []store.PeriodTotal
		reporters map[string]int
		policies  []store.PolicySeen
		types     []store.PolicyTypeTotal
		failures  = map[string][]store.MXTotal{}
		untrusted []store.DomainTotal
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return st.MXTotals(gctx, window, func(domain string, mxs []store.MXTotal) error {
			failures[domain] = mxs
			return nil
		})
	})
	g.Go(func() (err error) {
		if reporters, err = st.Reporters(gctx, window); err != nil {
			return err
		}
		policies, err = st.Policies(gctx, window)
		return err
	})
	g.Go(func() (err error) {
		types, err = st.PolicyTypeTotals(gctx, window)
		return err
	})
	if !t.AuthenticatedOnly {
		g.Go(func() (err error) {
			untrusted, err = st.UntrustedTotals(gctx, window)
			return err
		})
	}
	g.Go(func() (err error) {
		totals, err = st.PeriodTotals(gctx, window, []store.Period{
			{Since: today.Add(-time.Duration(t.TrendDays-1) * day), Until: today},
			{Since: today.Add(-time.Duration(2*t.TrendDays-1) * day), Until: today.Add(-time.Duration(t.TrendDays) * day)},
		})
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	a := assessor{t: t, today: today, quietSince: today.Add(-time.Duration(t.QuietDays-1) * day),
		reporters: reporters, latest: latestSTSPolicies(policies), lastDay: stsModesOnLastDay(policies),
		modes: stsModes(types), failures: failures}
	// Each domain is judged on its own: the domains are split between the
	// cores, each with its own cache of day names.
	out := make([]Readiness, len(totals))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(totals)/256))
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := len(totals)*w/workers, len(totals)*(w+1)/workers
		wg.Go(func() {
			days := dayNames{}
			for i := lo; i < hi; i++ {
				out[i] = a.domain(totals[i], days)
			}
		})
	}
	wg.Wait()
	if len(untrusted) > 0 {
		if err := weighUntrusted(ctx, st, out, untrusted, now, t); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// weighUntrusted says, for each ready verdict that rests on reports not
// trusted (mail without the reporter's DKIM signature, files), how many
// sessions they carry and whether the verdict would change without them:
// forged mail could otherwise make a domain look ready. The domains with
// trusted reports too are judged again from those alone.
func weighUntrusted(ctx context.Context, st store.Store, out []Readiness, untrusted []store.DomainTotal, now time.Time, t Thresholds) error {
	byDomain := make(map[string]store.DomainTotal, len(untrusted))
	for _, u := range untrusted {
		byDomain[u.Domain] = u
	}
	var mixed []string
	at := map[string]int{}
	for i := range out {
		r := &out[i]
		u, ok := byDomain[r.PolicyDomain]
		if !ok || r.Verdict != Ready || u.SuccessfulSessions+u.FailedSessions == 0 {
			continue
		}
		all := r.SuccessfulSessions + r.FailedSessions
		r.Reasons = append(r.Reasons, fmt.Sprintf("%d of the %d sessions come from %d reports that are not authenticated "+
			"(mail without a DKIM signature of the reporter, or files): anyone could have sent them",
			u.SuccessfulSessions+u.FailedSessions, all, u.Reports))
		if u.SuccessfulSessions+u.FailedSessions >= all {
			r.Reasons = append(r.Reasons, "without them no report is left: the verdict would be "+string(InsufficientData)+
				" (tlsrpt readiness --authenticated-only)")
			continue
		}
		mixed = append(mixed, r.PolicyDomain)
		at[r.PolicyDomain] = i
	}
	if len(mixed) == 0 {
		return nil
	}
	t.AuthenticatedOnly = true
	again, err := Assess(ctx, st, mixed, now, t)
	if err != nil {
		return err
	}
	judged := map[string]bool{}
	for _, a := range again {
		judged[a.PolicyDomain] = true
		r := &out[at[a.PolicyDomain]]
		if a.Verdict == Ready {
			r.Reasons = append(r.Reasons, "without them it would still be ready")
			continue
		}
		why := ""
		if len(a.Reasons) > 0 {
			why = ": " + a.Reasons[0]
		}
		r.Reasons = append(r.Reasons, "without them the verdict would be "+string(a.Verdict)+why)
	}
	for _, d := range mixed {
		if !judged[d] {
			out[at[d]].Reasons = append(out[at[d]].Reasons, "without them no report is left in the window: the verdict would be "+string(InsufficientData))
		}
	}
	return nil
}

// assessor holds what Assess read, shared read-only by its workers.
type assessor struct {
	t                 Thresholds
	today, quietSince time.Time
	reporters         map[string]int
	latest            map[string]store.PolicySeen
	lastDay           map[string][]string // sts modes seen on the domain's last day of sts policies, when several
	modes             map[string][]ModeSessions
	failures          map[string][]store.MXTotal
}

// dayNames caches the YYYY-MM-DD names of days: a window has few distinct
// days and hundreds of thousands of first and last seen dates.
type dayNames map[time.Time]string

func (d dayNames) name(t time.Time) string {
	s, ok := d[t]
	if !ok {
		s = t.Format(time.DateOnly)
		d[t] = s
	}
	return s
}

// domain judges one domain.
func (a *assessor) domain(tot store.PeriodTotal, days dayNames) Readiness {
	t := a.t
	r := Readiness{
		PolicyDomain:       tot.Domain,
		SuccessfulSessions: tot.SuccessfulSessions,
		FailedSessions:     tot.FailedSessions,
		FailureRate:        Rate(tot.FailedSessions, tot.SuccessfulSessions+tot.FailedSessions),
		DaysCovered:        tot.Days,
		FirstDay:           days.name(tot.First),
		LastDay:            days.name(tot.Last),
		Reporters:          a.reporters[tot.Domain],
		Reasons:            []string{},
		MXPatterns:         []string{},
		UnmatchedMX:        []string{},
		Trend:              trend(tot),
	}
	if p, ok := a.latest[tot.Domain]; ok {
		r.PolicyMode, r.MXPatterns = policyModeAndMX(p)
	}
	r.Modes = a.modes[tot.Domain]
	if r.Modes == nil {
		r.Modes = []ModeSessions{}
	}
	var blocking, thin, notes []string
	if modes := a.lastDay[tot.Domain]; len(modes) > 1 {
		notes = append(notes, fmt.Sprintf("senders applied %d sts policies on %s (modes %s): the policy changed that day; policy mode is %s, the one first seen last",
			len(modes), days.name(a.latest[tot.Domain].Last), strings.Join(modes, ", "), modeName(r.PolicyMode)))
	}
	if len(r.Modes) > 1 || slices.ContainsFunc(r.Modes, func(m ModeSessions) bool { return m.Mode == "enforce" && m.FailedSessions > 0 }) {
		var parts []string
		for _, m := range r.Modes {
			parts = append(parts, fmt.Sprintf("%s %d of %d", modeName(m.Mode), m.FailedSessions, m.SuccessfulSessions+m.FailedSessions))
		}
		note := "failed sessions by sts policy mode: " + strings.Join(parts, ", ")
		if slices.ContainsFunc(r.Modes, func(m ModeSessions) bool { return m.Mode == "enforce" && m.FailedSessions > 0 }) {
			note += " (under enforce, senders did not deliver over a failed session)"
		}
		notes = append(notes, note)
	}
	fails := a.failures[tot.Domain]
	slices.SortFunc(fails, func(a, b store.MXTotal) int {
		return cmp.Or(cmp.Compare(b.FailedSessions, a.FailedSessions), cmp.Compare(a.MX, b.MX), cmp.Compare(a.ResultType, b.ResultType))
	})
	r.Failures = make([]FailureGroup, 0, len(fails))
	for i, f := range fails {
		g := FailureGroup{MXHost: f.MX, ResultType: f.ResultType, FailedSessions: f.FailedSessions,
			WouldBounce: WouldBounce(f.ResultType), FirstSeen: days.name(f.First), LastSeen: days.name(f.Last)}
		r.Failures = append(r.Failures, g)
		if g.WouldBounce && !f.Last.Before(a.quietSince) {
			blocking = append(blocking, fmt.Sprintf("%d sessions to %s failed with %s (last seen %s): enforce would bounce them",
				f.FailedSessions, mxName(f.MX), typeName(f.ResultType), g.LastSeen))
		}
		// A domain has a handful of failure groups: looking back beats a map.
		seen := slices.ContainsFunc(fails[:i], func(o store.MXTotal) bool { return o.MX == f.MX })
		if f.MX != "" && !seen && len(r.MXPatterns) > 0 && !slices.ContainsFunc(r.MXPatterns, func(p string) bool { return mtasts.MatchMX(p, f.MX) }) {
			r.UnmatchedMX = append(r.UnmatchedMX, f.MX)
		}
	}
	slices.Sort(r.UnmatchedMX)
	for _, mx := range r.UnmatchedMX {
		blocking = append(blocking, fmt.Sprintf("MX host %s is not matched by the policy's mx patterns (%s): under enforce senders would refuse to deliver to it",
			mx, strings.Join(r.MXPatterns, ", ")))
	}
	if tot.Last.Before(a.quietSince) {
		thin = append(thin, fmt.Sprintf("no reports in the last %d days (the newest starts %s): no news is not good news (--quiet-days)",
			t.QuietDays, r.LastDay))
	}
	if tot.Days < int64(t.MinDays) {
		thin = append(thin, fmt.Sprintf("reports cover %d days of the last %d, fewer than %d (--min-days)", tot.Days, t.Window, t.MinDays))
	}
	if r.Reporters < t.MinReporters {
		thin = append(thin, fmt.Sprintf("%d reporting organisations, fewer than %d (--min-reporters)", r.Reporters, t.MinReporters))
	}
	if s := tot.SuccessfulSessions + tot.FailedSessions; s < t.MinSessions {
		thin = append(thin, fmt.Sprintf("%d sessions reported, fewer than %d (--min-sessions)", s, t.MinSessions))
	}
	switch {
	case len(blocking) > 0:
		r.Verdict = NotReady
	case len(thin) > 0:
		r.Verdict = InsufficientData
	default:
		r.Verdict = Ready
		thin = append(thin, fmt.Sprintf("%d days of reports from %d organisations, %d sessions, and no failure enforce would bounce in the last %d days",
			tot.Days, r.Reporters, tot.SuccessfulSessions+tot.FailedSessions, t.QuietDays))
	}
	r.Reasons = append(append(blocking, thin...), notes...)
	return r
}

func modeName(mode string) string {
	if mode == "" {
		return "unknown"
	}
	return mode
}

// stsModes gives per domain the sessions under each sts mode, modes in
// name order.
func stsModes(types []store.PolicyTypeTotal) map[string][]ModeSessions {
	out := map[string][]ModeSessions{}
	for _, t := range types {
		if t.Type != parse.PolicyTypeSTS {
			continue
		}
		out[t.Domain] = append(out[t.Domain], ModeSessions{Mode: t.Mode, SuccessfulSessions: t.SuccessfulSessions, FailedSessions: t.FailedSessions})
	}
	for _, m := range out {
		slices.SortFunc(m, func(a, b ModeSessions) int { return cmp.Compare(a.Mode, b.Mode) })
	}
	return out
}

// stsModesOnLastDay gives, for each domain whose sts policies of the last
// day they were seen hold more than one mode, those modes in name order.
func stsModesOnLastDay(policies []store.PolicySeen) map[string][]string {
	last := map[string]time.Time{}
	for _, p := range policies {
		if p.Type == parse.PolicyTypeSTS && len(p.Lines) > 0 && p.Last.After(last[p.Domain]) {
			last[p.Domain] = p.Last
		}
	}
	modes := map[string][]string{}
	for _, p := range policies {
		if p.Type != parse.PolicyTypeSTS || len(p.Lines) == 0 || !p.Last.Equal(last[p.Domain]) {
			continue
		}
		mode, _ := policyModeAndMX(p)
		if !slices.Contains(modes[p.Domain], mode) {
			modes[p.Domain] = append(modes[p.Domain], mode)
		}
	}
	for d, m := range modes {
		if len(m) < 2 {
			delete(modes, d)
			continue
		}
		slices.Sort(m)
	}
	return modes
}

func (t Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds
	if t.Window <= 0 {
		t.Window = d.Window
	}
	if t.MinDays < 0 {
		t.MinDays = d.MinDays
	}
	if t.MinReporters < 0 {
		t.MinReporters = d.MinReporters
	}
	if t.MinSessions < 0 {
		t.MinSessions = d.MinSessions
	}
	if t.QuietDays <= 0 {
		t.QuietDays = d.QuietDays
	}
	if t.TrendDays <= 0 {
		t.TrendDays = d.TrendDays
	}
	return t
}

func mxName(mx string) string {
	if mx == "" {
		return "an unnamed MX"
	}
	return mx
}

func typeName(rt string) string {
	if rt == "" {
		return "no result type"
	}
	return rt
}

// latestSTSPolicies picks per domain the sts policy in force at the end of
// the window, of those with policy lines (Microsoft and Mail.ru send
// none): the one last seen; of those last seen on the same day, the one
// first seen later (a policy that replaced another began after it), then
// the one more reports carried; whatever order the policies come in.
func latestSTSPolicies(policies []store.PolicySeen) map[string]store.PolicySeen {
	out := map[string]store.PolicySeen{}
	for _, p := range policies {
		if p.Type != parse.PolicyTypeSTS || (len(p.Lines) == 0 && len(p.MXHosts) == 0) {
			continue
		}
		old, ok := out[p.Domain]
		if !ok || cmp.Or(p.Last.Compare(old.Last), p.First.Compare(old.First), cmp.Compare(p.Reports, old.Reports),
			slices.Compare(p.Lines, old.Lines), slices.Compare(p.MXHosts, old.MXHosts)) > 0 {
			out[p.Domain] = p
		}
	}
	return out
}

// policyModeAndMX reads "mode:" and "mx:" from policy lines (RFC 8461
// section 3.2), falling back to the report's mx-host patterns.
func policyModeAndMX(p store.PolicySeen) (string, []string) {
	var mode string
	mx := []string{}
	for _, l := range p.Lines {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "mode":
			mode = strings.ToLower(strings.TrimSpace(v))
		case "mx":
			mx = append(mx, strings.ToLower(strings.TrimSpace(v)))
		}
	}
	if len(mx) == 0 {
		mx = append(mx, p.MXHosts...)
	}
	return mode, mx
}

// trend compares the two periods of p: the recent one, then the one before.
func trend(p store.PeriodTotal) Trend {
	var t Trend
	if s := p.PeriodSuccessful[0] + p.PeriodFailed[0]; s > 0 {
		r := Rate(p.PeriodFailed[0], s)
		t.Recent = &r
	}
	if s := p.PeriodSuccessful[1] + p.PeriodFailed[1]; s > 0 {
		r := Rate(p.PeriodFailed[1], s)
		t.Previous = &r
	}
	switch {
	case t.Recent == nil || t.Previous == nil:
		t.Direction = "unknown"
	case *t.Recent < *t.Previous:
		t.Direction = "better"
	case *t.Recent > *t.Previous:
		t.Direction = "worse"
	default:
		t.Direction = "unchanged"
	}
	return t
}
