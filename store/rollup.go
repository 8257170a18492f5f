package store

import "github.com/tlsrpt/tlsrpt/parse"

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

// Sessions is a report's figures with each session counted once.
type Sessions struct {
	Domains []DomainSessions
	MX      []MXFailures
	IPs     []IPFailures
}

// Rollup counts each of a report's sessions once. A report may list several
// policies for the same domain over the same sessions (Microsoft lists an
// sts and a tlsa policy): per domain the report counts the largest of its
// policies' figures, not their sum, and likewise per MX (or sending IP) and
// result type. Within one policy, failure details with the same key (from
// different sending IPs, say) are added up. The order follows the report.
func Rollup(r *parse.Report) Sessions {
	var ro Roller
	return ro.Rollup(r)
}

// A Roller is Rollup for a caller rolling up many reports (a batch being
// stored): it keeps its maps and slices from one report to the next, so
// the Sessions it returns are valid only until its next call. Not safe for
// concurrent use; the zero value is ready.
type Roller struct {
	s      Sessions
	domIdx map[string]int
	mx, ip maxOfSums
}

// Rollup is the package's Rollup, with the Roller's space.
func (ro *Roller) Rollup(r *parse.Report) Sessions {
	if ro.domIdx == nil {
		ro.domIdx = map[string]int{}
		ro.mx.init()
		ro.ip.init()
	}
	clear(ro.domIdx)
	ro.mx.reset()
	ro.ip.reset()
	s := Sessions{Domains: ro.s.Domains[:0], MX: ro.s.MX[:0], IPs: ro.s.IPs[:0]}
	for i := range r.Policies {
		p := &r.Policies[i]
		j, ok := ro.domIdx[p.Domain]
		if !ok {
			j = len(s.Domains)
			ro.domIdx[p.Domain] = j
			s.Domains = append(s.Domains, DomainSessions{Domain: p.Domain})
		}
		s.Domains[j].SuccessfulSessions = max(s.Domains[j].SuccessfulSessions, p.SuccessfulSessions)
		s.Domains[j].FailedSessions = max(s.Domains[j].FailedSessions, p.FailedSessions)
		for _, fd := range p.FailureDetails {
			ro.mx.add(rollKey{p.Domain, fd.ReceivingMXHostname, fd.ResultType}, fd.FailedSessions)
			ro.ip.add(rollKey{p.Domain, fd.SendingMTAIP, fd.ResultType}, fd.FailedSessions)
		}
		ro.mx.endPolicy()
		ro.ip.endPolicy()
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

// maxOfSums sums values per key within a policy, then keeps per key the
// largest policy sum.
type maxOfSums struct {
	policy      map[rollKey]int64
	policyOrder []rollKey
	total       map[rollKey]int64
	order       []rollKey
}

func (m *maxOfSums) init() {
	m.policy, m.total = map[rollKey]int64{}, map[rollKey]int64{}
}

func (m *maxOfSums) reset() {
	clear(m.policy)
	clear(m.total)
	m.policyOrder, m.order = m.policyOrder[:0], m.order[:0]
}

func (m *maxOfSums) add(k rollKey, n int64) {
	if _, seen := m.policy[k]; !seen {
		m.policyOrder = append(m.policyOrder, k)
	}
	m.policy[k] += n
}

func (m *maxOfSums) endPolicy() {
	for _, k := range m.policyOrder {
		old, seen := m.total[k]
		if !seen {
			m.order = append(m.order, k)
		}
		m.total[k] = max(old, m.policy[k])
	}
	clear(m.policy)
	m.policyOrder = m.policyOrder[:0]
}
