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

type mxKey struct{ domain, mx, resultType string }

// Rollup counts each of a report's sessions once. A report may list several
// policies for the same domain over the same sessions (Microsoft lists an
// sts and a tlsa policy): per domain the report counts the largest of its
// policies' figures, not their sum, and likewise per MX and result type.
// Within one policy, failure details with the same MX and result type (from
// different sending IPs, say) are added up. The order follows the report.
func Rollup(r *parse.Report) ([]DomainSessions, []MXFailures) {
	var doms []DomainSessions
	var mxs []MXFailures
	domIdx := make(map[string]int, len(r.Policies))
	mxIdx := make(map[mxKey]int)
	own := make(map[mxKey]int64)
	var order []mxKey
	for i := range r.Policies {
		p := &r.Policies[i]
		j, ok := domIdx[p.Domain]
		if !ok {
			j = len(doms)
			domIdx[p.Domain] = j
			doms = append(doms, DomainSessions{Domain: p.Domain})
		}
		doms[j].SuccessfulSessions = max(doms[j].SuccessfulSessions, p.SuccessfulSessions)
		doms[j].FailedSessions = max(doms[j].FailedSessions, p.FailedSessions)

		// This policy's sums per (MX, result type)...
		clear(own)
		order = order[:0]
		for _, fd := range p.FailureDetails {
			k := mxKey{p.Domain, fd.ReceivingMXHostname, fd.ResultType}
			if _, seen := own[k]; !seen {
				order = append(order, k)
			}
			own[k] += fd.FailedSessions
		}
		// ...merged into the report's by taking the largest.
		for _, k := range order {
			if at, ok := mxIdx[k]; ok {
				mxs[at].FailedSessions = max(mxs[at].FailedSessions, own[k])
				continue
			}
			mxIdx[k] = len(mxs)
			mxs = append(mxs, MXFailures{Domain: k.domain, MX: k.mx, ResultType: k.resultType, FailedSessions: own[k]})
		}
	}
	return doms, mxs
}
