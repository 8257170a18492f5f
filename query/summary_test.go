package query_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

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

// summary --by sending-ip names the domain and sorts addresses as
// numbers: 192.0.2.2 before 192.0.2.11, IPv4 before IPv6.
func TestSendingIPViewOrder(t *testing.T) {
	s := newSet(t)
	for _, ip := range []string{"192.0.2.11", "2001:db8::1", "192.0.2.2", "not-an-ip"} {
		s.addWithIP("Org", "ip.example", daysAgo(1), ip)
	}
	s.assess(query.DefaultThresholds)
	v, err := query.SummarizeBy(context.Background(), s.db, query.BySendingIP, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range v.Rows {
		got = append(got, *r.SendingMTAIP+" "+r.PolicyDomain)
	}
	want := []string{"192.0.2.2 ip.example", "192.0.2.11 ip.example", "2001:db8::1 ip.example", "not-an-ip ip.example"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
}

// addWithIP adds a report with one failure from a sending MTA IP.
func (s *reportSet) addWithIP(org, domain string, day time.Time, ip string) {
	s.n++
	b, _ := json.Marshal(map[string]any{
		"organization-name": org, "contact-info": "c", "report-id": fmt.Sprintf("ip%d", s.n),
		"date-range": map[string]string{"start-datetime": day.Format(time.RFC3339), "end-datetime": day.Add(time.Hour).Format(time.RFC3339)},
		"policies": []any{map[string]any{
			"policy":          map[string]any{"policy-type": "sts", "policy-domain": domain},
			"summary":         map[string]any{"total-successful-session-count": 1, "total-failure-session-count": 1},
			"failure-details": []any{map[string]any{"result-type": "certificate-expired", "sending-mta-ip": ip, "failed-session-count": 1}},
		}},
	})
	if err := os.WriteFile(filepath.Join(s.dir, fmt.Sprintf("%05d.json", s.n)), b, 0o644); err != nil {
		s.t.Fatal(err)
	}
}
