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
			name: "sts and tlsa over the same sessions count once",
			pols: []parse.Policy{
				{Type: "sts", Domain: "a.example", SuccessfulSessions: 20, FailedSessions: 5, FailureDetails: []parse.FailureDetail{fd("mx", "certificate-expired", 5)}},
				{Type: "tlsa", Domain: "a.example", SuccessfulSessions: 18, FailedSessions: 5, FailureDetails: []parse.FailureDetail{fd("mx", "certificate-expired", 5)}},
			},
			doms: []store.DomainSessions{ds("a.example", 20, 5)},
			mxs:  []store.MXFailures{mf("mx", "certificate-expired", 5)},
		},
		{
			name: "details of one policy add up per MX and type",
			pols: []parse.Policy{{Domain: "a.example", FailedSessions: 7, FailureDetails: []parse.FailureDetail{
				fd("mx", "starttls-not-supported", 3), fd("mx", "starttls-not-supported", 4), fd("", "sts-policy-fetch-error", 1)}}},
			doms: []store.DomainSessions{ds("a.example", 0, 7)},
			mxs:  []store.MXFailures{mf("mx", "starttls-not-supported", 7), mf("", "sts-policy-fetch-error", 1)},
		},
		{
			name: "different domains are separate",
			pols: []parse.Policy{{Domain: "a.example", SuccessfulSessions: 1}, {Domain: "b.example", SuccessfulSessions: 2}},
			doms: []store.DomainSessions{ds("a.example", 1, 0), ds("b.example", 2, 0)},
		},
		{
			name: "largest per MX and type across policies, not per policy total",
			pols: []parse.Policy{
				{Domain: "a.example", FailedSessions: 3, FailureDetails: []parse.FailureDetail{fd("mx1", "x", 3)}},
				{Domain: "a.example", FailedSessions: 4, FailureDetails: []parse.FailureDetail{fd("mx1", "x", 1), fd("mx2", "x", 3)}},
			},
			doms: []store.DomainSessions{ds("a.example", 0, 4)},
			mxs:  []store.MXFailures{mf("mx1", "x", 3), mf("mx2", "x", 3)},
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
		{Domain: "a.example", IP: "192.0.2.1", ResultType: "x", FailedSessions: 5},
		{Domain: "a.example", IP: "192.0.2.2", ResultType: "x", FailedSessions: 4},
	}
	if !slices.Equal(s.IPs, want) {
		t.Errorf("IPs = %+v, want %+v", s.IPs, want)
	}
}
