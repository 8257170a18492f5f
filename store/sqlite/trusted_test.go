package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// TestTrustedReadsMatchRollups: with every report trusted (HTTPS), each
// total read from the reports themselves (Filter.Trusted) is what the
// rollups give: the two ways of counting agree on the sample and quirks.
func TestTrustedReadsMatchRollups(t *testing.T) {
	db := testkit.OpenStore(t)
	p := parse.New(parse.Limits{})
	var inputs []store.Input
	for _, dir := range []string{"../../testdata/sample", "../../testdata/quirks"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := p.ParseReport(data)
			if err != nil {
				continue
			}
			inputs = append(inputs, store.Input{Data: data, Source: "https", Origin: f, Reports: []*parse.Report{r}})
		}
	}
	ingest(t, db, inputs...)
	ctx := context.Background()
	for _, f := range []store.Filter{{}, {Domains: []string{"example.org"}}, {Since: time.Date(2026, 10, 10, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)}} {
		tf := f
		tf.Trusted = true
		check := func(what string, a, b any, errA, errB error) {
			t.Helper()
			if errA != nil || errB != nil {
				t.Fatalf("%s: %v %v", what, errA, errB)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s %+v: rollups\n%+v\nreports\n%+v", what, f, a, b)
			}
		}
		a, errA := db.DomainTotals(ctx, f)
		b, errB := db.DomainTotals(ctx, tf)
		check("DomainTotals", a, b, errA, errB)
		ma, errA := store.AllMXTotals(ctx, db, f)
		mb, errB := store.AllMXTotals(ctx, db, tf)
		check("MXTotals", ma, mb, errA, errB)
		ra, errA := db.Reporters(ctx, f)
		rb, errB := db.Reporters(ctx, tf)
		check("Reporters", ra, rb, errA, errB)
		periods := []store.Period{{Since: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 10, 7, 0, 0, 0, 0, time.UTC)}}
		pa, errA := db.PeriodTotals(ctx, f, periods)
		pb, errB := db.PeriodTotals(ctx, tf, periods)
		check("PeriodTotals", pa, pb, errA, errB)
		ta, errA := db.PolicyTypeTotals(ctx, f)
		tb, errB := db.PolicyTypeTotals(ctx, tf)
		check("PolicyTypeTotals", ta, tb, errA, errB)
		da, errA := db.DayTotals(ctx, f)
		dbb, errB := db.DayTotals(ctx, tf)
		check("DayTotals", da, dbb, errA, errB)
		sa, errA := db.SenderTotals(ctx, f)
		sb, errB := db.SenderTotals(ctx, tf)
		check("SenderTotals", sa, sb, errA, errB)
		ia, errA := db.IPTotals(ctx, f)
		ib, errB := db.IPTotals(ctx, tf)
		check("IPTotals", ia, ib, errA, errB)
		pol1, errA := db.Policies(ctx, f)
		pol2, errB := db.Policies(ctx, tf)
		if f.Since.IsZero() { // the rollup keeps first and last over all days
			check("Policies", pol1, pol2, errA, errB)
		}
	}
	if u, err := db.UntrustedTotals(ctx, store.Filter{}); err != nil || len(u) != 0 {
		t.Errorf("untrusted totals of HTTPS reports: %+v, %v", u, err)
	}
}

// TestTrustAndAuthentication: what counts as evidence, as recorded.
func TestTrustAndAuthentication(t *testing.T) {
	db := testkit.OpenStore(t)
	ctx := context.Background()
	pass := &store.Auth{DKIM: "pass", Domain: "reporter.example", Authenticated: true}
	fail := &store.Auth{DKIM: "fail", Domain: "reporter.example", Reason: "body hash did not verify"}
	res := ingest(t, db,
		store.Input{Data: []byte("a"), Source: "https", Origin: "192.0.2.1", Reports: []*parse.Report{report("A", "1", 1, pol("example.com", 10, 1))}},
		store.Input{Data: []byte("b"), Source: "imap", Origin: "INBOX/1", Auth: pass, Reports: []*parse.Report{report("B", "1", 1, pol("example.com", 20, 2))}},
		store.Input{Data: []byte("c"), Source: "imap", Origin: "INBOX/2", Auth: fail, Reports: []*parse.Report{report("C", "1", 2, pol("example.com", 40, 4))}},
		store.Input{Data: []byte("d"), Source: "import", Origin: "d.json", Reports: []*parse.Report{report("D", "1", 2, pol("example.com", 80, 8))}},
		store.Input{Data: []byte("e"), Source: "imap", Origin: "INBOX/3", Auth: fail, Unauthenticated: true,
			Reports: []*parse.Report{report("E", "1", 2, pol("example.com", 160, 16))}},
	)
	if res[4].Outcome != store.OutcomeUnauthenticated || res[4].Stored != 0 || res[4].Unauthenticated != 1 {
		t.Errorf("refused mail: %+v", res[4])
	}
	all, _ := db.DomainTotals(ctx, store.Filter{})
	trusted, _ := db.DomainTotals(ctx, store.Filter{Trusted: true})
	untrusted, _ := db.UntrustedTotals(ctx, store.Filter{})
	if all[0].SuccessfulSessions != 150 || trusted[0].SuccessfulSessions != 30 || trusted[0].Reports != 2 ||
		untrusted[0].SuccessfulSessions != 120 || untrusted[0].Reports != 2 || untrusted[0].Days != 1 {
		t.Errorf("all %+v, trusted %+v, untrusted %+v", all, trusted, untrusted)
	}
	list, _ := db.Reports(ctx, store.Filter{})
	byOrg := map[string]store.ReportInfo{}
	for _, r := range list {
		byOrg[r.OrganizationName] = r
	}
	if byOrg["A"].Source != "https" || byOrg["A"].Auth != nil || !reflect.DeepEqual(byOrg["B"].Auth, pass) ||
		!reflect.DeepEqual(byOrg["C"].Auth, fail) || byOrg["D"].Auth != nil {
		t.Errorf("listing: %+v", list)
	}
	counts, err := db.ReportsByAuth(ctx)
	want := []store.AuthCount{{DKIM: "fail", Reports: 1}, {DKIM: "pass", Authenticated: true, Reports: 1},
		{DKIM: "https", Authenticated: true, Reports: 1}, {DKIM: "unverified", Reports: 1}}
	if err != nil || !reflect.DeepEqual(counts, want) {
		t.Errorf("reports by authentication: %+v, %v; want %+v", counts, err, want)
	}
	if n, _ := db.CountReports(ctx, store.Filter{Trusted: true}); n != 2 {
		t.Errorf("%d trusted reports, want 2", n)
	}
	sr, err := db.Report(ctx, byOrg["B"].ID)
	if err != nil || !reflect.DeepEqual(sr.Input.Auth, pass) {
		t.Errorf("report B's input: %+v, %v", sr, err)
	}
	// The refused mail is kept, reprocessable, with its verification.
	refused, err := db.Inputs(ctx, store.InputFilter{Outcomes: store.Reprocessable})
	if err != nil || len(refused) != 1 || refused[0].Outcome != store.OutcomeUnauthenticated ||
		!reflect.DeepEqual(refused[0].Auth, fail) || !slices.Contains([]string{"unauthenticated: body hash did not verify"}, refused[0].Error) {
		t.Fatalf("refused inputs: %+v, %v", refused, err)
	}
	// Reprocessed, now taken (--dkim record), its verification kept.
	again := ingest(t, db, store.Input{ID: refused[0].ID, Data: []byte("e"), Source: "imap", Origin: "INBOX/3", Auth: refused[0].Auth,
		Reports: []*parse.Report{report("E", "1", 2, pol("example.com", 160, 16))}})
	if again[0].Outcome != store.OutcomeStored {
		t.Errorf("reprocessed: %+v", again[0])
	}
	untrusted, _ = db.UntrustedTotals(ctx, store.Filter{})
	if untrusted[0].SuccessfulSessions != 280 {
		t.Errorf("untrusted after reprocessing: %+v", untrusted)
	}
}
