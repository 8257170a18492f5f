package query_test

import (
	"context"
	"maps"
	"testing"

	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
)

// The summary counts each session once and shows each policy type's own
// figures beside: Microsoft's mirrored sts+tlsa once in the totals and
// under both types; the Postfix reporter's tlsa + no-policy-found added up.
func TestSummaryPolicyTypes(t *testing.T) {
	s := newSet(t)
	sts := policy{mode: "testing", mx: []string{"mx.ms.example"}, ok: 10, fail: 2, details: []detail{{"certificate-expired", "mx.ms.example", 2}}}
	tlsa := sts
	tlsa.typ = "tlsa"
	s.add("Microsoft Corporation", "ms.example", daysAgo(1), sts, tlsa)
	s.add("Sender Org", "dane.example", daysAgo(1),
		policy{typ: "tlsa", ok: 4, fail: 1, details: []detail{{"dnssec-invalid", "mx.dane.example", 1}}},
		policy{typ: "no-policy-found", ok: 2})
	s.assess(query.DefaultThresholds) // imports
	db := s.db
	sum, err := query.Summarize(context.Background(), db, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]query.DomainSummary{}
	for _, d := range sum.Domains {
		got[d.PolicyDomain] = d
	}
	ms, dane := got["ms.example"], got["dane.example"]
	if ms.SuccessfulSessions != 10 || ms.FailedSessions != 2 || ms.MX[0].FailedSessions != 2 {
		t.Errorf("ms.example counted twice? %+v", ms)
	}
	if want := map[string]query.Sessions{"sts": {10, 2}, "tlsa": {10, 2}}; !maps.Equal(ms.PolicyTypes, want) {
		t.Errorf("ms.example policy types %+v, want %+v", ms.PolicyTypes, want)
	}
	if dane.SuccessfulSessions != 6 || dane.FailedSessions != 1 || dane.FailureRate != 0.1429 {
		t.Errorf("dane.example %+v, want 6/1", dane)
	}
	if want := map[string]query.Sessions{"tlsa": {4, 1}, "no-policy-found": {2, 0}}; !maps.Equal(dane.PolicyTypes, want) {
		t.Errorf("dane.example policy types %+v, want %+v", dane.PolicyTypes, want)
	}
}
