package query_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
)

// now is the tests' clock: "today" is 2026-11-22.
var now = time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)

func daysAgo(n int) time.Time { return now.Truncate(24*time.Hour).AddDate(0, 0, -n) }

type detail struct {
	rt, mx string
	n      int64
}

type policy struct {
	typ, mode string
	mx        []string
	ok, fail  int64
	details   []detail
}

// reportSet writes reports as JSON files, imports them with ingest.Import
// (what tlsrpt import runs) into a new store, and returns the store.
type reportSet struct {
	t   *testing.T
	dir string
	n   int
	db  store.Store // the store assess imported into
}

func newSet(t *testing.T) *reportSet { return &reportSet{t: t, dir: t.TempDir()} }

func (s *reportSet) add(org, domain string, day time.Time, pols ...policy) {
	s.n++
	var ps []map[string]any
	for _, p := range pols {
		lines := []string{"version: STSv1", "mode: " + p.mode, "max_age: 86400"}
		for _, m := range p.mx {
			lines = append(lines, "mx: "+m)
		}
		var fds []map[string]any
		for _, d := range p.details {
			fds = append(fds, map[string]any{"result-type": d.rt, "receiving-mx-hostname": d.mx, "failed-session-count": d.n})
		}
		typ := p.typ
		if typ == "" {
			typ = "sts"
		}
		ps = append(ps, map[string]any{
			"policy":          map[string]any{"policy-type": typ, "policy-string": lines, "policy-domain": domain, "mx-host": p.mx},
			"summary":         map[string]any{"total-successful-session-count": p.ok, "total-failure-session-count": p.fail},
			"failure-details": fds,
		})
	}
	b, _ := json.Marshal(map[string]any{
		"organization-name": org, "contact-info": "c@" + org, "report-id": fmt.Sprintf("r%d", s.n),
		"date-range": map[string]string{"start-datetime": day.Format(time.RFC3339), "end-datetime": day.Add(24*time.Hour - time.Second).Format(time.RFC3339)},
		"policies":   ps,
	})
	if err := os.WriteFile(filepath.Join(s.dir, fmt.Sprintf("%05d.json", s.n)), b, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// clean adds a report per organisation per day for days first..last ago.
func (s *reportSet) clean(domain string, orgs []string, first, last int, ok int64) {
	for d := first; d >= last; d-- {
		for _, org := range orgs {
			s.add(org, domain, daysAgo(d), policy{mode: "testing", mx: []string{"*.mx." + domain}, ok: ok})
		}
	}
}

func (s *reportSet) assess(th query.Thresholds) map[string]query.Readiness {
	s.t.Helper()
	db := testkit.OpenStore(s.t)
	s.db = db
	stats, err := ingest.Import(context.Background(), db, parse.New(parse.Limits{}), ingest.ImportOptions{Paths: []string{s.dir}})
	if err != nil || stats.Invalid > 0 {
		s.t.Fatalf("import: %+v %v", stats, err)
	}
	rs, err := query.Assess(context.Background(), db, nil, now, th)
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]query.Readiness{}
	for _, r := range rs {
		out[r.PolicyDomain] = r
	}
	return out
}

func hasReason(r query.Readiness, sub string) bool {
	return slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.Contains(s, sub) })
}

var two = []string{"Google Inc.", "Microsoft Corporation"}

func TestReadinessVerdicts(t *testing.T) {
	s := newSet(t)
	s.clean("clean.example", two, 29, 0, 50)

	s.clean("expired.example", two, 29, 0, 50)
	s.add("Google Inc.", "expired.example", daysAgo(1), policy{mode: "testing", mx: []string{"*.mx.expired.example"}, ok: 10, fail: 4,
		details: []detail{{"certificate-expired", "mx2.mx.expired.example", 4}}})

	s.clean("young.example", two, 4, 0, 500)

	s.clean("outside.example", two, 29, 0, 50)
	s.add("Google Inc.", "outside.example", daysAgo(20), policy{mode: "testing", mx: []string{"*.mx.outside.example"}, ok: 1, fail: 1,
		details: []detail{{"starttls-not-supported", "legacy.outside.example", 1}, {"dane-required", "a.mx.outside.example", 2}}})

	rs := s.assess(query.DefaultThresholds)

	if r := rs["clean.example"]; r.Verdict != query.Ready || r.DaysCovered != 30 || r.Reporters != 2 || r.SuccessfulSessions != 3000 ||
		r.PolicyMode != "testing" || !slices.Equal(r.MXPatterns, []string{"*.mx.clean.example"}) || len(r.UnmatchedMX) != 0 {
		t.Errorf("clean = %+v", r)
	}
	r := rs["expired.example"]
	if r.Verdict != query.NotReady || !hasReason(r, "4 sessions to mx2.mx.expired.example failed with certificate-expired") {
		t.Errorf("expired = %+v", r)
	}
	if len(r.Failures) != 1 || !r.Failures[0].WouldBounce || r.Failures[0].LastSeen != daysAgo(1).Format(time.DateOnly) {
		t.Errorf("expired failures = %+v", r.Failures)
	}
	if r := rs["young.example"]; r.Verdict != query.InsufficientData || !hasReason(r, "reports cover 5 days of the last 30, fewer than 14") {
		t.Errorf("young = %+v", r)
	}
	r = rs["outside.example"]
	if !slices.Equal(r.UnmatchedMX, []string{"legacy.outside.example"}) || r.Verdict != query.NotReady ||
		!hasReason(r, "MX host legacy.outside.example is not matched by the policy's mx patterns (*.mx.outside.example)") {
		t.Errorf("outside = %+v", r)
	}
	// The starttls failure was 20 days ago: not a bounce reason by itself; the DANE one never is.
	if hasReason(r, "failed with") {
		t.Errorf("outside: old or DANE failures given as reasons: %q", r.Reasons)
	}
}

func TestReadinessSTSAndTLSACountedOnce(t *testing.T) {
	s := newSet(t)
	for d := 29; d >= 0; d-- {
		for _, org := range two {
			sts := policy{mode: "testing", mx: []string{"mx.ms.example"}, ok: 10, fail: 2, details: []detail{{"dane-required", "mx.ms.example", 2}}}
			tlsa := sts
			tlsa.typ = "tlsa"
			s.add(org, "ms.example", daysAgo(d), sts, tlsa)
		}
	}
	r := s.assess(query.DefaultThresholds)["ms.example"]
	if r.SuccessfulSessions != 600 || r.FailedSessions != 120 || r.FailureRate != 0.1667 || r.Failures[0].FailedSessions != 120 {
		t.Errorf("figures doubled? %+v", r)
	}
	if r.Verdict != query.Ready {
		t.Errorf("DANE failures blocked an MTA-STS verdict: %+v", r)
	}
}

func TestReadinessThresholdBoundaries(t *testing.T) {
	tests := []struct {
		name   string
		build  func(s *reportSet)
		want   query.Verdict
		reason string
	}{
		{"13 days", func(s *reportSet) { s.clean("d.example", two, 12, 0, 10) }, query.InsufficientData, "13 days"},
		{"14 days", func(s *reportSet) { s.clean("d.example", two, 13, 0, 10) }, query.Ready, ""},
		{"1 reporter", func(s *reportSet) { s.clean("d.example", two[:1], 29, 0, 10) }, query.InsufficientData, "1 reporting organisations, fewer than 2"},
		{"99 sessions", func(s *reportSet) {
			s.clean("d.example", two[:1], 14, 0, 3)
			s.add(two[1], "d.example", daysAgo(0), policy{mode: "testing", ok: 54})
		},
			query.InsufficientData, "99 sessions reported, fewer than 100"},
		{"100 sessions", func(s *reportSet) {
			s.clean("d.example", two[:1], 14, 0, 3)
			s.add(two[1], "d.example", daysAgo(0), policy{mode: "testing", ok: 55})
		},
			query.Ready, ""},
		{"failure 6 days ago", func(s *reportSet) {
			s.clean("d.example", two, 29, 0, 10)
			s.add("Other", "d.example", daysAgo(6), policy{mode: "testing", fail: 1, details: []detail{{"sts-policy-fetch-error", "", 1}}})
		}, query.NotReady, "1 sessions to an unnamed MX failed with sts-policy-fetch-error"},
		{"failure 7 days ago", func(s *reportSet) {
			s.clean("d.example", two, 29, 0, 10)
			s.add("Other", "d.example", daysAgo(7), policy{mode: "testing", fail: 1, details: []detail{{"sts-policy-fetch-error", "", 1}}})
		}, query.Ready, ""},
		{"no reports in the last 7 days", func(s *reportSet) { s.clean("d.example", two, 29, 7, 10) }, query.InsufficientData, "no reports in the last 7 days"},
		{"reports 6 days ago", func(s *reportSet) { s.clean("d.example", two, 29, 6, 10) }, query.Ready, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSet(t)
			tt.build(s)
			r := s.assess(query.DefaultThresholds)["d.example"]
			if r.Verdict != tt.want || tt.reason != "" && !hasReason(r, tt.reason) {
				t.Errorf("verdict %s, reasons %q; want %s with %q", r.Verdict, r.Reasons, tt.want, tt.reason)
			}
		})
	}
}

func TestReadinessTrend(t *testing.T) {
	s := newSet(t)
	for d := 13; d >= 0; d-- {
		var fail int64
		if d >= 7 {
			fail = 10 // the week before: 10%
		} else if d == 3 {
			fail = 5 // last week: 5 of 905 sessions
		}
		for _, org := range two {
			s.add(org, "t.example", daysAgo(d), policy{mode: "testing", ok: 90, fail: fail / 2,
				details: []detail{{"validation-failure", "old.t.example", fail / 2}}})
		}
	}
	r := s.assess(query.Thresholds{Window: 30, MinDays: 1, MinReporters: 1, MinSessions: 1, QuietDays: 1, TrendDays: 7})["t.example"]
	if r.Trend.Direction != "better" || *r.Trend.Previous <= *r.Trend.Recent {
		t.Errorf("trend = %+v (%v, %v)", r.Trend, *r.Trend.Recent, *r.Trend.Previous)
	}
}

func TestWouldBounce(t *testing.T) {
	for rt, want := range map[string]bool{"certificate-expired": true, "starttls-not-supported": true, "validation-failure": true,
		"sts-policy-fetch-error": true, "sts-webpki-invalid": true, "tlsa-invalid": false, "dane-required": false,
		"dnssec-invalid": false, "something-new": true, "": true} {
		if got := query.WouldBounce(rt); got != want {
			t.Errorf("WouldBounce(%q) = %v", rt, got)
		}
	}
}

// The Postfix reporter on the day a domain's policy changed from testing
// to enforce: two sts policies over different sessions. Readiness adds
// them up, judges the mode from the policy that began last, and names the
// failures seen under each mode.
func TestReadinessPolicyChanged(t *testing.T) {
	s := newSet(t)
	for d := 29; d >= 1; d-- {
		for _, org := range two {
			s.add(org, "c.example", daysAgo(d), policy{mode: "testing", mx: []string{"mx1.c.example"}, ok: 10})
		}
	}
	s.add("Sender Org", "c.example", daysAgo(0),
		policy{mode: "enforce", mx: []string{"mx1.c.example"}, ok: 3, fail: 4, details: []detail{{"certificate-expired", "mx1.c.example", 4}}},
		policy{mode: "testing", mx: []string{"mx1.c.example"}, ok: 10})
	r := s.assess(query.DefaultThresholds)["c.example"]
	if r.SuccessfulSessions != 593 || r.FailedSessions != 4 || r.PolicyMode != "enforce" {
		t.Errorf("figures %d/%d, mode %q; want 593/4 under enforce", r.SuccessfulSessions, r.FailedSessions, r.PolicyMode)
	}
	want := []query.ModeSessions{{Mode: "enforce", SuccessfulSessions: 3, FailedSessions: 4}, {Mode: "testing", SuccessfulSessions: 590}}
	if !slices.Equal(r.Modes, want) {
		t.Errorf("modes %+v, want %+v", r.Modes, want)
	}
	if !hasReason(r, "failed sessions by sts policy mode: enforce 4 of 7, testing 0 of 590 (under enforce, senders did not deliver") {
		t.Errorf("reasons %q", r.Reasons)
	}
	if r.Verdict != query.NotReady || !hasReason(r, "4 sessions to mx1.c.example failed with certificate-expired") {
		t.Errorf("verdict %s, reasons %q", r.Verdict, r.Reasons)
	}
}

// Both policies seen over the same days: which replaced which cannot be
// told, and readiness says so.
func TestReadinessTwoModesOnTheLastDay(t *testing.T) {
	s := newSet(t)
	s.add("Sender Org", "c.example", daysAgo(0),
		policy{mode: "enforce", mx: []string{"mx1.c.example"}, ok: 3},
		policy{mode: "testing", mx: []string{"mx1.c.example"}, ok: 10})
	r := s.assess(query.DefaultThresholds)["c.example"]
	if r.SuccessfulSessions != 13 || !hasReason(r, "senders applied 2 sts policies on "+daysAgo(0).Format(time.DateOnly)+" (modes enforce, testing)") {
		t.Errorf("%d sessions, reasons %q", r.SuccessfulSessions, r.Reasons)
	}
}
