package store

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
)

// DomainSessions is one report's sessions for one policy domain.
type DomainSessions struct {
	Domain             string
	SuccessfulSessions int64
	FailedSessions     int64
}

// MXFailures is one report's failed sessions for a domain, MX host and
// result type.
type MXFailures struct {
	Domain, MX, ResultType string
	FailedSessions         int64
}

// IPFailures is one report's failed sessions for a domain, sending MTA IP
// and result type.
type IPFailures struct {
	Domain, IP, ResultType string
	FailedSessions         int64
}

// PolicySessions is one report's sessions for a domain under one policy
// type and, for sts, one mode, as the report gives them: every policy,
// counted or not, so that each type can be seen on its own.
type PolicySessions struct {
	Domain, Type, Mode string
	SuccessfulSessions int64
	FailedSessions     int64
}

// Sessions is a report's figures with each session counted once.
type Sessions struct {
	Domains []DomainSessions
	MX      []MXFailures
	IPs     []IPFailures
	// Policies are the figures per policy type and mode, each policy's
	// own (not counted once across types).
	Policies []PolicySessions
}

// Counted says which of a report's policies count in its figures, the one
// rule every total of the store follows.
//
// RFC 8460 section 4.3 reports each session under the one policy that was
// applied to it, so the policies a report lists for one domain cover
// different sessions and add up: the Postfix TLSRPT reporter sends a tlsa
// and a no-policy-found policy for a DANE domain, or two sts policies when
// the domain's policy changed during the day.
//
// QUIRK: Microsoft lists an sts and a tlsa policy for the same domain over
// the same sessions, with the same summary and failure details. Such a
// tlsa policy, one whose summary and failure details (in any order) are
// exactly those of an sts policy of the same domain in the report, is the
// same sessions reported twice and does not count. Each sts policy
// mirrors at most one tlsa policy. Figures that differ in anything are
// different sessions and count.
func Counted(r *parse.Report) []bool {
	counted := make([]bool, len(r.Policies))
	for i := range counted {
		counted[i] = true
	}
	var paired []bool // sts policies already mirrored, made when needed
	for i := range r.Policies {
		t := &r.Policies[i]
		if t.Type != parse.PolicyTypeTLSA {
			continue
		}
		for j := range r.Policies {
			s := &r.Policies[j]
			if s.Type != parse.PolicyTypeSTS || (paired != nil && paired[j]) || !sameSessions(s, t) {
				continue
			}
			if paired == nil {
				paired = make([]bool, len(r.Policies))
			}
			paired[j], counted[i] = true, false
			break
		}
	}
	return counted
}

// sameSessions reports whether two policies are for the same domain with
// the same summary and the same failure details, in any order.
func sameSessions(a, b *parse.Policy) bool {
	if a.Domain != b.Domain || a.SuccessfulSessions != b.SuccessfulSessions || a.FailedSessions != b.FailedSessions ||
		len(a.FailureDetails) != len(b.FailureDetails) {
		return false
	}
	if slices.Equal(a.FailureDetails, b.FailureDetails) {
		return true
	}
	x, y := slices.Clone(a.FailureDetails), slices.Clone(b.FailureDetails)
	slices.SortFunc(x, compareDetails)
	slices.SortFunc(y, compareDetails)
	return slices.Equal(x, y)
}

func compareDetails(a, b parse.FailureDetail) int {
	return cmp.Or(cmp.Compare(a.ResultType, b.ResultType), cmp.Compare(a.ReceivingMXHostname, b.ReceivingMXHostname),
		cmp.Compare(a.SendingMTAIP, b.SendingMTAIP), cmp.Compare(a.ReceivingIP, b.ReceivingIP),
		cmp.Compare(a.ReceivingMXHelo, b.ReceivingMXHelo), cmp.Compare(a.FailedSessions, b.FailedSessions),
		cmp.Compare(a.AdditionalInformation, b.AdditionalInformation), cmp.Compare(a.FailureReasonCode, b.FailureReasonCode))
}

// Rollup counts each of a report's sessions once, as Counted decides: per
// domain, per MX host (or sending IP) and result type, the figures of the
// counted policies added up. Within one policy, failure details with the
// same key (from different sending IPs, say) are added up too. The order
// follows the report.
func Rollup(r *parse.Report) Sessions {
	var ro Roller
	return ro.Rollup(r)
}

// A Roller is Rollup for a caller rolling up many reports (a batch being
// stored): it keeps its maps and slices from one report to the next, so
// the Sessions it returns are valid only until its next call. Not safe for
// concurrent use; the zero value is ready.
type Roller struct {
	s       Sessions
	domIdx  map[string]int
	typeIdx map[policyKey]int
	mx, ip  sums
}

type policyKey struct{ domain, typ, mode string }

// Rollup is the package's Rollup, with the Roller's space.
func (ro *Roller) Rollup(r *parse.Report) Sessions {
	if ro.domIdx == nil {
		ro.domIdx, ro.typeIdx = map[string]int{}, map[policyKey]int{}
		ro.mx.total, ro.ip.total = map[rollKey]int64{}, map[rollKey]int64{}
	}
	clear(ro.domIdx)
	clear(ro.typeIdx)
	ro.mx.reset()
	ro.ip.reset()
	s := Sessions{Domains: ro.s.Domains[:0], MX: ro.s.MX[:0], IPs: ro.s.IPs[:0], Policies: ro.s.Policies[:0]}
	counted := Counted(r)
	for i := range r.Policies {
		p := &r.Policies[i]
		pk := policyKey{p.Domain, p.Type, p.Mode()}
		k, ok := ro.typeIdx[pk]
		if !ok {
			k = len(s.Policies)
			ro.typeIdx[pk] = k
			s.Policies = append(s.Policies, PolicySessions{Domain: pk.domain, Type: pk.typ, Mode: pk.mode})
		}
		s.Policies[k].SuccessfulSessions += p.SuccessfulSessions
		s.Policies[k].FailedSessions += p.FailedSessions
		j, ok := ro.domIdx[p.Domain]
		if !ok {
			j = len(s.Domains)
			ro.domIdx[p.Domain] = j
			s.Domains = append(s.Domains, DomainSessions{Domain: p.Domain})
		}
		if !counted[i] {
			continue
		}
		s.Domains[j].SuccessfulSessions += p.SuccessfulSessions
		s.Domains[j].FailedSessions += p.FailedSessions
		for _, fd := range p.FailureDetails {
			ro.mx.add(rollKey{p.Domain, fd.ReceivingMXHostname, fd.ResultType}, fd.FailedSessions)
			ro.ip.add(rollKey{p.Domain, fd.SendingMTAIP, fd.ResultType}, fd.FailedSessions)
		}
	}
	for _, k := range ro.mx.order {
		s.MX = append(s.MX, MXFailures{Domain: k.domain, MX: k.name, ResultType: k.resultType, FailedSessions: ro.mx.total[k]})
	}
	for _, k := range ro.ip.order {
		s.IPs = append(s.IPs, IPFailures{Domain: k.domain, IP: k.name, ResultType: k.resultType, FailedSessions: ro.ip.total[k]})
	}
	ro.s = s
	return s
}

type rollKey struct{ domain, name, resultType string }

// sums adds values up per key, keeping the order keys first came in.
type sums struct {
	total map[rollKey]int64
	order []rollKey
}

func (m *sums) reset() {
	clear(m.total)
	m.order = m.order[:0]
}

func (m *sums) add(k rollKey, n int64) {
	if _, seen := m.total[k]; !seen {
		m.order = append(m.order, k)
	}
	m.total[k] += n
}

// PolicyTypeFolder sums policies read from the reports themselves (not
// the rollups) into PolicyTypeTotals: per domain, type and sts mode (read
// from the policy lines as parse.Policy.Mode reads them), each report
// counted once per key. The backends' Trusted reads use it.
type PolicyTypeFolder struct {
	totals map[policyKey]*PolicyTypeTotal
	seen   map[policyKey]map[int64]bool
}

// Add adds one report's policies of a type with the same lines.
func (f *PolicyTypeFolder) Add(domain, typ, lines string, reportID, successful, failed int64, day time.Time) {
	if f.totals == nil {
		f.totals, f.seen = map[policyKey]*PolicyTypeTotal{}, map[policyKey]map[int64]bool{}
	}
	k := policyKey{domain, typ, (&parse.Policy{Type: typ, String: strings.Split(lines, "\n")}).Mode()}
	t := f.totals[k]
	if t == nil {
		t = &PolicyTypeTotal{Domain: domain, Type: typ, Mode: k.mode, First: day, Last: day}
		f.totals[k], f.seen[k] = t, map[int64]bool{}
	}
	if !f.seen[k][reportID] {
		f.seen[k][reportID] = true
		t.Reports++
	}
	t.SuccessfulSessions += successful
	t.FailedSessions += failed
	if day.Before(t.First) {
		t.First = day
	}
	if day.After(t.Last) {
		t.Last = day
	}
}

// Totals are the sums, by domain, type and mode.
func (f *PolicyTypeFolder) Totals() []PolicyTypeTotal {
	out := make([]PolicyTypeTotal, 0, len(f.totals))
	for _, t := range f.totals {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b PolicyTypeTotal) int {
		return cmp.Or(cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Mode, b.Mode))
	})
	return out
}
