package store_test

import (
	"slices"
	"testing"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

func ds(d string, ok, failed int64) store.DomainSessions {
	return store.DomainSessions{Domain: d, SuccessfulSessions: ok, FailedSessions: failed}
}

func mf(mx, rt string, n int64) store.MXFailures {
	return store.MXFailures{Domain: "a.example", MX: mx, ResultType: rt, FailedSessions: n}
}

func TestRollup(t *testing.T) {
	fd := func(mx, rt string, n int64) parse.FailureDetail {
		return parse.FailureDetail{ReceivingMXHostname: mx, ResultType: rt, FailedSessions: n}
	}
	tests := []struct {
		name string
		pols []parse.Policy
		doms []store.DomainSessions
		mxs  []store.MXFailures
	}{
		{
			name: "sts and tlsa with the same summary and details count once (Microsoft)",
			pols: []parse.Policy{
				{Type: "sts", Domain: "a.example", SuccessfulSessions: 20, FailedSessions: 5, FailureDetails: []parse.FailureDetail{fd("mx", "certificate-expired", 4), fd("mx2", "certificate-expired", 1)}},
				{Type: "tlsa", Domain: "a.example", SuccessfulSessions: 20, FailedSessions: 5, FailureDetails: []parse.FailureDetail{fd("mx2", "certificate-expired", 1), fd("mx", "certificate-expired", 4)}},
			},
			doms: []store.DomainSessions{ds("a.example", 20, 5)},
			mxs:  []store.MXFailures{mf("mx", "certificate-expired", 4), mf("mx2", "certificate-expired", 1)},
		},
		{
			name: "sts and tlsa with other figures are other sessions and add up (DANE on one MX, MTA-STS on another)",
			pols: []parse.Policy{
				{Type: "sts", Domain: "a.example", SuccessfulSessions: 20, FailedSessions: 5, FailureDetails: []parse.FailureDetail{fd("mx", "certificate-expired", 5)}},
				{Type: "tlsa", Domain: "a.example", SuccessfulSessions: 18, FailedSessions: 5, FailureDetails: []parse.FailureDetail{fd("mx", "certificate-expired", 5)}},
			},
			doms: []store.DomainSessions{ds("a.example", 38, 10)},
			mxs:  []store.MXFailures{mf("mx", "certificate-expired", 10)},
		},
		{
			name: "same summary, other details: add up",
			pols: []parse.Policy{
				{Type: "sts", Domain: "a.example", SuccessfulSessions: 1, FailedSessions: 1, FailureDetails: []parse.FailureDetail{fd("mx", "certificate-expired", 1)}},
				{Type: "tlsa", Domain: "a.example", SuccessfulSessions: 1, FailedSessions: 1, FailureDetails: []parse.FailureDetail{fd("mx", "dnssec-invalid", 1)}},
			},
			doms: []store.DomainSessions{ds("a.example", 2, 2)},
			mxs:  []store.MXFailures{mf("mx", "certificate-expired", 1), mf("mx", "dnssec-invalid", 1)},
		},
		{
			name: "one sts mirrors one tlsa: a second identical tlsa counts",
			pols: []parse.Policy{
				{Type: "sts", Domain: "a.example", SuccessfulSessions: 3},
				{Type: "tlsa", Domain: "a.example", SuccessfulSessions: 3},
				{Type: "tlsa", Domain: "a.example", SuccessfulSessions: 3},
			},
			doms: []store.DomainSessions{ds("a.example", 6, 0)},
		},
		{
			name: "two identical sts policies are two policies' sessions",
			pols: []parse.Policy{{Type: "sts", Domain: "a.example", SuccessfulSessions: 3}, {Type: "sts", Domain: "a.example", SuccessfulSessions: 3}},
			doms: []store.DomainSessions{ds("a.example", 6, 0)},
		},
		{
			name: "tlsa and no-policy-found add up (Postfix reporter, DANE domain)",
			pols: []parse.Policy{
				{Type: "tlsa", Domain: "a.example", SuccessfulSessions: 4, FailedSessions: 1, FailureDetails: []parse.FailureDetail{fd("mx", "dnssec-invalid", 1)}},
				{Type: "no-policy-found", Domain: "a.example", SuccessfulSessions: 2},
			},
			doms: []store.DomainSessions{ds("a.example", 6, 1)},
			mxs:  []store.MXFailures{mf("mx", "dnssec-invalid", 1)},
		},
		{
			name: "two sts policies add up (Postfix reporter, policy changed during the day)",
			pols: []parse.Policy{
				{Type: "sts", Domain: "a.example", SuccessfulSessions: 3, FailedSessions: 4, FailureDetails: []parse.FailureDetail{fd("mx", "certificate-expired", 4)}},
				{Type: "sts", Domain: "a.example", SuccessfulSessions: 10},
			},
			doms: []store.DomainSessions{ds("a.example", 13, 4)},
			mxs:  []store.MXFailures{mf("mx", "certificate-expired", 4)},
		},
		{
			name: "details of one policy add up per MX and type",
			pols: []parse.Policy{{Domain: "a.example", FailedSessions: 7, FailureDetails: []parse.FailureDetail{
				fd("mx", "starttls-not-supported", 3), fd("mx", "starttls-not-supported", 4), fd("", "sts-policy-fetch-error", 1)}}},
			doms: []store.DomainSessions{ds("a.example", 0, 7)},
			mxs:  []store.MXFailures{mf("mx", "starttls-not-supported", 7), mf("", "sts-policy-fetch-error", 1)},
		},
		{
			name: "an sts and a tlsa of different domains are separate",
			pols: []parse.Policy{{Type: "sts", Domain: "a.example", SuccessfulSessions: 1}, {Type: "tlsa", Domain: "b.example", SuccessfulSessions: 1}},
			doms: []store.DomainSessions{ds("a.example", 1, 0), ds("b.example", 1, 0)},
		},
	}
	// One Roller goes through the cases twice, the second time backwards:
	// nothing of a report may stay in it for the next.
	var ro store.Roller
	for pass := range 2 {
		for i := range tests {
			tt := tests[i]
			if pass == 1 {
				tt = tests[len(tests)-1-i]
			}
			t.Run(tt.name, func(t *testing.T) {
				r := &parse.Report{Policies: tt.pols}
				for _, s := range []store.Sessions{store.Rollup(r), ro.Rollup(r)} {
					if !slices.Equal(s.Domains, tt.doms) {
						t.Errorf("domains = %+v, want %+v", s.Domains, tt.doms)
					}
					if !slices.Equal(s.MX, tt.mxs) {
						t.Errorf("mx = %+v, want %+v", s.MX, tt.mxs)
					}
				}
			})
		}
	}
}

func TestRollupSendingIPs(t *testing.T) {
	fd := func(ip, rt string, n int64) parse.FailureDetail {
		return parse.FailureDetail{SendingMTAIP: ip, ResultType: rt, FailedSessions: n}
	}
	s := store.Rollup(&parse.Report{Policies: []parse.Policy{
		{Domain: "a.example", FailureDetails: []parse.FailureDetail{fd("192.0.2.1", "x", 2), fd("192.0.2.1", "x", 3), fd("192.0.2.2", "x", 1)}},
		{Domain: "a.example", FailureDetails: []parse.FailureDetail{fd("192.0.2.1", "x", 5), fd("192.0.2.2", "x", 4)}},
	}})
	want := []store.IPFailures{
		{Domain: "a.example", IP: "192.0.2.1", ResultType: "x", FailedSessions: 10},
		{Domain: "a.example", IP: "192.0.2.2", ResultType: "x", FailedSessions: 5},
	}
	if !slices.Equal(s.IPs, want) {
		t.Errorf("IPs = %+v, want %+v", s.IPs, want)
	}
}

// Each policy type and sts mode keeps its own figures, the mirrored tlsa
// policy included, so that both views can be shown.
func TestRollupPolicies(t *testing.T) {
	sts := func(mode string, ok, failed int64) parse.Policy {
		return parse.Policy{Type: "sts", Domain: "a.example", String: []string{"version: STSv1", "Mode: " + mode, "mx: mx"},
			SuccessfulSessions: ok, FailedSessions: failed}
	}
	s := store.Rollup(&parse.Report{Policies: []parse.Policy{
		sts("enforce", 3, 4), sts("TESTING", 10, 0), sts("testing", 1, 1),
		{Type: "tlsa", Domain: "a.example", SuccessfulSessions: 3, FailedSessions: 4},
		{Type: "sts", Domain: "a.example", SuccessfulSessions: 2}, // no lines: no mode
	}})
	want := []store.PolicySessions{
		{Domain: "a.example", Type: "sts", Mode: "enforce", SuccessfulSessions: 3, FailedSessions: 4},
		{Domain: "a.example", Type: "sts", Mode: "testing", SuccessfulSessions: 11, FailedSessions: 1},
		{Domain: "a.example", Type: "tlsa", SuccessfulSessions: 3, FailedSessions: 4},
		{Domain: "a.example", Type: "sts", SuccessfulSessions: 2},
	}
	if !slices.Equal(s.Policies, want) {
		t.Errorf("policies = %+v\nwant %+v", s.Policies, want)
	}
	// The tlsa policy mirrors the enforce one: counted once.
	if d := s.Domains; len(d) != 1 || d[0] != ds("a.example", 16, 5) {
		t.Errorf("domains = %+v", d)
	}
}
