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
	var s Sessions
	domIdx := make(map[string]int, len(r.Policies))
	mx := newMaxOfSums()
	ip := newMaxOfSums()
	for i := range r.Policies {
		p := &r.Policies[i]
		j, ok := domIdx[p.Domain]
		if !ok {
			j = len(s.Domains)
			domIdx[p.Domain] = j
			s.Domains = append(s.Domains, DomainSessions{Domain: p.Domain})
		}
		s.Domains[j].SuccessfulSessions = max(s.Domains[j].SuccessfulSessions, p.SuccessfulSessions)
		s.Domains[j].FailedSessions = max(s.Domains[j].FailedSessions, p.FailedSessions)
		for _, fd := range p.FailureDetails {
			mx.add(rollKey{p.Domain, fd.ReceivingMXHostname, fd.ResultType}, fd.FailedSessions)
			ip.add(rollKey{p.Domain, fd.SendingMTAIP, fd.ResultType}, fd.FailedSessions)
		}
		mx.endPolicy()
		ip.endPolicy()
	}
	for _, k := range mx.order {
		s.MX = append(s.MX, MXFailures{Domain: k.domain, MX: k.name, ResultType: k.resultType, FailedSessions: mx.total[k]})
	}
	for _, k := range ip.order {
		s.IPs = append(s.IPs, IPFailures{Domain: k.domain, IP: k.name, ResultType: k.resultType, FailedSessions: ip.total[k]})
	}
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

func newMaxOfSums() *maxOfSums {
	return &maxOfSums{policy: map[rollKey]int64{}, total: map[rollKey]int64{}}
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
