// Package storetest is the conformance suite of the store.Store contract:
// every backend runs it (store/sqlite's TestConformance), so that the
// commands answer the same whatever holds the reports.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// Backend opens stores for the suite.
type Backend struct {
	// New opens a store on a new, empty database, closed when the test
	// ends.
	New func(t testing.TB) store.Store
	// Again opens another handle on the database st was opened on, as
	// another process would; nil when the backend has none.
	Again func(t testing.TB, st store.Store) store.Store
}

// Run runs the suite against a backend.
func Run(t *testing.T, b Backend) {
	for _, tt := range []struct {
		name string
		test func(*testing.T, Backend)
	}{
		{"IngestStoresOnceKeepsEveryInput", testIngestStoresOnceKeepsEveryInput},
		{"DuplicateWithinOneBatch", testDuplicateWithinOneBatch},
		{"InvalidAndNoReportInputsAreKept", testInvalidAndNoReportInputsAreKept},
		{"ReportRoundTrip", testReportRoundTrip},
		{"Filters", testFilters},
		{"SameBytesWithinOneBatch", testSameBytesWithinOneBatch},
		{"ConcurrentDuplicatesStoredOnce", testConcurrentDuplicatesStoredOnce},
		{"TrustedReadsMatchRollups", testTrustedReadsMatchRollups},
		{"TrustAndAuthentication", testTrustAndAuthentication},
		{"ReportersCountEverySession", testReportersCountEverySession},
		{"ReusedReportID", testReusedReportID},
		{"Prune", testPrune},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.test(t, b) })
	}
}

// Day is day d of March 2026, UTC: the suite's reports' days.
func Day(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }

// Report is a report of org with report-id id for Day(d).
func Report(org, id string, d int, pols ...parse.Policy) *parse.Report {
	return &parse.Report{OrganizationName: org, ReportID: id, ContactInfo: "c@" + org,
		DateRange: parse.DateRange{Start: Day(d), End: Day(d).Add(24*time.Hour - time.Second)}, Policies: pols}
}

// Policy is a testing sts policy for domain with its sessions.
func Policy(domain string, ok, failed int64, fds ...parse.FailureDetail) parse.Policy {
	return parse.Policy{Type: "sts", Domain: domain, String: []string{"version: STSv1", "mode: testing"},
		MXHosts: []string{"mx." + domain}, SuccessfulSessions: ok, FailedSessions: failed, FailureDetails: fds}
}

func day(d int) time.Time { return Day(d) }

func report(org, id string, d int, pols ...parse.Policy) *parse.Report {
	return Report(org, id, d, pols...)
}

func pol(domain string, ok, failed int64, fds ...parse.FailureDetail) parse.Policy {
	return Policy(domain, ok, failed, fds...)
}

// Ingest stores inputs or fails the test.
func Ingest(t *testing.T, db store.Store, ins ...store.Input) []store.Result {
	return ingest(t, db, ins...)
}

func ingest(t *testing.T, db store.Store, ins ...store.Input) []store.Result {
	t.Helper()
	res, err := db.Ingest(context.Background(), ins)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func testIngestStoresOnceKeepsEveryInput(t *testing.T, b Backend) {
	db := b.New(t)
	ctx := context.Background()
	r := report("Org", "r1", 1, pol("example.com", 10, 2, parse.FailureDetail{ResultType: "certificate-expired", ReceivingMXHostname: "mx.example.com", FailedSessions: 2}))
	first := ingest(t, db, store.Input{Data: []byte("raw-1"), Source: "import", Origin: "a.json", Reports: []*parse.Report{r}})
	second := ingest(t, db, store.Input{Data: []byte("raw-2"), Source: "https", Origin: "192.0.2.1", Reports: []*parse.Report{r}},
		store.Input{Data: []byte("raw-1"), Source: "import", Origin: "a-again.json", Reports: []*parse.Report{r}})
	if first[0].Outcome != store.OutcomeStored || first[0].Stored != 1 || len(first[0].ReportIDs) != 1 {
		t.Errorf("first = %+v", first[0])
	}
	for _, res := range second {
		if res.Outcome != store.OutcomeDuplicate || res.Duplicates != 1 || res.Stored != 0 {
			t.Errorf("re-delivery = %+v", res)
		}
	}
	// Each content is kept once; the same bytes again are an arrival of
	// the input that holds them.
	inputs, err := db.Inputs(ctx, store.InputFilter{})
	if err != nil || len(inputs) != 2 {
		t.Fatalf("inputs = %d, %v; want the 2 contents", len(inputs), err)
	}
	if !second[1].Known || second[1].InputID != first[0].InputID || second[0].Known {
		t.Errorf("the same bytes again: %+v, first %+v", second[1], first[0])
	}
	raw, err := db.Raw(ctx, second[1].InputID)
	if err != nil || string(raw) != "raw-1" {
		t.Errorf("raw = %q, %v", raw, err)
	}
	sum := sha256.Sum256([]byte("raw-1"))
	seen, err := db.Inputs(ctx, store.InputFilter{SHA256: sum[:]})
	if err != nil || len(seen) != 2 || seen[0].Origin != "a.json" || seen[1].Origin != "a-again.json" || seen[1].ID != first[0].InputID {
		t.Errorf("arrivals of raw-1: %+v, %v", seen, err)
	}
	totals, _ := db.DomainTotals(ctx, store.Filter{})
	if want := []store.DomainTotal{{Domain: "example.com", Reports: 1, SuccessfulSessions: 10, FailedSessions: 2, Days: 1, First: day(1), Last: day(1)}}; !slices.Equal(totals, want) {
		t.Errorf("totals = %+v, want %+v: a duplicate must not count", totals, want)
	}
}

func testDuplicateWithinOneBatch(t *testing.T, b Backend) {
	db := b.New(t)
	r := report("Org", "twice", 1, pol("example.com", 4, 0))
	res := ingest(t, db,
		store.Input{Data: []byte("a"), Reports: []*parse.Report{r}},
		store.Input{Data: []byte("b"), Reports: []*parse.Report{r, r}})
	if res[0].Stored != 1 || res[1].Stored != 0 || res[1].Duplicates != 2 || res[1].Outcome != store.OutcomeDuplicate {
		t.Errorf("results = %+v", res)
	}
	if res[0].InputID == res[1].InputID {
		t.Errorf("inputs share id %d", res[0].InputID)
	}
	totals, _ := db.DomainTotals(context.Background(), store.Filter{})
	if len(totals) != 1 || totals[0].Reports != 1 || totals[0].SuccessfulSessions != 4 {
		t.Errorf("totals = %+v", totals)
	}
}

func testInvalidAndNoReportInputsAreKept(t *testing.T, b Backend) {
	db := b.New(t)
	ctx := context.Background()
	res := ingest(t, db,
		store.Input{Data: []byte("garbage"), Source: "import", Origin: "bad.json", Errors: []string{"invalid report: not JSON"}},
		store.Input{Data: []byte("From: x\r\n\r\nhi"), Source: "import", Origin: "mail.eml", NoReport: true, Errors: []string{"no report"}})
	if res[0].Outcome != store.OutcomeInvalid || res[0].Invalid != 1 || res[1].Outcome != store.OutcomeNoReport {
		t.Fatalf("results = %+v", res)
	}
	bad, err := db.Inputs(ctx, store.InputFilter{Outcomes: []store.Outcome{store.OutcomeInvalid}})
	if err != nil || len(bad) != 1 || bad[0].Error != "invalid report: not JSON" || bad[0].Size != 7 {
		t.Fatalf("invalid inputs = %+v, %v", bad, err)
	}
	if list, _ := db.Reports(ctx, store.Filter{}); len(list) != 0 {
		t.Errorf("reports from invalid input: %+v", list)
	}
	// Refused inputs newest first, a page at a time (the dashboard's).
	refused := []store.Outcome{store.OutcomeInvalid, store.OutcomeNoReport}
	page, err := db.Inputs(ctx, store.InputFilter{Outcomes: refused, Newest: true, Limit: 1})
	if err != nil || len(page) != 1 || page[0].Outcome != store.OutcomeNoReport {
		t.Fatalf("newest refused = %+v, %v", page, err)
	}
	page, err = db.Inputs(ctx, store.InputFilter{Outcomes: refused, Newest: true, Limit: 1, BeforeID: page[0].ID})
	if err != nil || len(page) != 1 || page[0].ID != bad[0].ID {
		t.Fatalf("next page = %+v, %v", page, err)
	}
	// Reprocessing replaces the outcome of the same input, raw kept.
	fixed := store.Input{ID: bad[0].ID, Data: []byte("garbage"), Reports: []*parse.Report{report("Org", "late", 2, pol("example.com", 1, 0))}}
	if res := ingest(t, db, fixed); res[0].Outcome != store.OutcomeStored || res[0].InputID != bad[0].ID {
		t.Errorf("reprocessed = %+v", res[0])
	}
	if all, _ := db.Inputs(ctx, store.InputFilter{}); len(all) != 2 {
		t.Errorf("reprocessing added an input: %d", len(all))
	}
	// Reprocessed again with one more report: the one it stored is found
	// stored (looked up on the writer), the new one is stored.
	again := fixed
	again.Reports = append(again.Reports, report("Org", "new", 2, pol("example.com", 1, 0)))
	if res := ingest(t, db, again); res[0].Stored != 1 || res[0].Duplicates != 1 || res[0].InputID != bad[0].ID {
		t.Errorf("reprocessed with a stored report = %+v", res[0])
	}
	if list, _ := db.Reports(ctx, store.Filter{}); len(list) != 2 {
		t.Errorf("%d reports, want 2 (late, new)", len(list))
	}
}

func testReportRoundTrip(t *testing.T, b Backend) {
	db := b.New(t)
	r := report("Org", "full", 3,
		pol("example.com", 5, 3,
			parse.FailureDetail{ResultType: "starttls-not-supported", SendingMTAIP: "192.0.2.1", ReceivingMXHostname: "mx.example.com",
				ReceivingMXHelo: "helo.example.com", ReceivingIP: "198.51.100.2", FailedSessions: 2, AdditionalInformation: "https://x", FailureReasonCode: "E1"},
			parse.FailureDetail{ResultType: "odd-new-type", FailedSessions: 1}),
		parse.Policy{Type: "no-policy-found", Domain: "example.net"})
	r.Warnings = []string{"a: one", "b: two"}
	res := ingest(t, db, store.Input{Data: []byte("x"), Source: "import", Origin: "f", Reports: []*parse.Report{r}})
	got, err := db.Report(context.Background(), res[0].ReportIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Report, *r) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got.Report, *r)
	}
	if got.Input.Origin != "f" || got.Input.Source != "import" {
		t.Errorf("input = %+v", got.Input)
	}
	if _, err := db.Report(context.Background(), 999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing report: %v", err)
	}
}

func testFilters(t *testing.T, b Backend) {
	db := b.New(t)
	ctx := context.Background()
	for d := 1; d <= 5; d++ {
		ingest(t, db, store.Input{Data: []byte{byte(d)}, Reports: []*parse.Report{
			report("Org", "a"+string(rune('0'+d)), d, pol("a.example", 10, 1, parse.FailureDetail{ResultType: "certificate-expired", ReceivingMXHostname: "mx", FailedSessions: 1})),
			report("Org", "b"+string(rune('0'+d)), d, pol("b.example", 1, 0)),
		}})
	}
	tests := []struct {
		name      string
		f         store.Filter
		domains   int
		aReports  int64
		aMXFailed int64
	}{
		{"all", store.Filter{}, 2, 5, 5},
		{"since day 2", store.Filter{Since: day(2)}, 2, 4, 4},
		{"until day 2 includes day 2", store.Filter{Until: day(2)}, 2, 2, 2},
		{"one day", store.Filter{Since: day(3), Until: day(3)}, 2, 1, 1},
		{"domain", store.Filter{Domains: []string{"a.example"}}, 1, 5, 5},
		{"nothing", store.Filter{Since: day(9)}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			totals, err := db.DomainTotals(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(totals) != tt.domains {
				t.Fatalf("domains = %+v", totals)
			}
			if tt.domains > 0 && totals[0].Reports != tt.aReports {
				t.Errorf("a.example reports = %d, want %d", totals[0].Reports, tt.aReports)
			}
			mx, _ := store.AllMXTotals(ctx, db, tt.f)
			var failed int64
			for _, m := range mx {
				failed += m.FailedSessions
			}
			if failed != tt.aMXFailed {
				t.Errorf("MX failed = %d, want %d", failed, tt.aMXFailed)
			}
			list, _ := db.Reports(ctx, tt.f)
			if want := int(tt.aReports); tt.name != "domain" && len(list) != want*min(tt.domains, 2) {
				t.Errorf("listed %d reports", len(list))
			}
		})
	}
}

// The same bytes twice in one batch, written without looking: one input,
// one arrival.
func testSameBytesWithinOneBatch(t *testing.T, b Backend) {
	db := b.New(t)
	r := report("Org", "once", 1, pol("example.com", 4, 0))
	res := ingest(t, db,
		store.Input{Data: []byte("same"), Source: "import", Origin: "a", Reports: []*parse.Report{r}},
		store.Input{Data: []byte("same"), Source: "import", Origin: "b", Reports: []*parse.Report{r}},
		store.Input{Data: []byte("other"), Source: "import", Origin: "c"})
	if res[0].Known || !res[1].Known || res[1].InputID != res[0].InputID || res[1].Duplicates != 1 || res[2].InputID == res[0].InputID {
		t.Errorf("results %+v", res)
	}
	inputs, _ := db.Inputs(context.Background(), store.InputFilter{})
	if len(inputs) != 2 {
		t.Errorf("%d inputs, want 2", len(inputs))
	}
}

// Callers delivering the same reports at once: whichever looked for stored
// reports before another committed them must still count them as
// duplicates, whether few reports were stored in between (matched in
// memory when its own DB stored them, else read and matched) or many
// (looked up). With two handles on the file, as two processes would have,
// neither knows what the other stored.
func testConcurrentDuplicatesStoredOnce(t *testing.T, b Backend) {
	for _, handles := range []int{1, 2} {
		t.Run(fmt.Sprint(handles, " handles"), func(t *testing.T) {
			first := b.New(t)
			dbs := []store.Store{first}
			for range handles - 1 {
				if b.Again == nil {
					t.Skip("the backend opens no second handle on a database")
				}
				dbs = append(dbs, b.Again(t, first))
			}
			concurrentDuplicates(t, dbs)
		})
	}
}

func concurrentDuplicates(t *testing.T, dbs []store.Store) {
	ctx := context.Background()
	const callers, rounds, keys = 6, 15, 40
	type tally struct{ stored, dups int }
	tallies := make(chan tally, callers)
	errs := make(chan error, callers)
	for c := range callers {
		db := dbs[c%len(dbs)]
		go func() {
			var got tally
			for r := range rounds {
				// Batch sizes 1 to 12, keys overlapping between callers.
				var ins []store.Input
				for i := range 1 + (c*rounds+r)%12 {
					k := fmt.Sprintf("k%d", (c*7+r*5+i*3)%keys)
					ins = append(ins, store.Input{Data: []byte(fmt.Sprintf("%d-%d-%d", c, r, i)),
						Reports: []*parse.Report{report("Org", k, 1, pol("a.example", 1, 0))}})
				}
				res, err := db.Ingest(ctx, ins)
				if err != nil {
					errs <- err
					return
				}
				for _, x := range res {
					got.stored += x.Stored
					got.dups += x.Duplicates
				}
			}
			errs <- nil
			tallies <- got
		}()
	}
	var all tally
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		got := <-tallies
		all.stored += got.stored
		all.dups += got.dups
	}
	db := dbs[0]
	list, err := db.Reports(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for _, r := range list {
		if distinct[r.ReportID] {
			t.Fatalf("report %s stored twice", r.ReportID)
		}
		distinct[r.ReportID] = true
	}
	if all.stored != len(list) {
		t.Errorf("callers were told %d stored, the store holds %d", all.stored, len(list))
	}
	totals, _ := db.DomainTotals(ctx, store.Filter{})
	if len(totals) != 1 || totals[0].Reports != int64(len(list)) {
		t.Errorf("totals = %+v, want %d reports", totals, len(list))
	}
	t.Logf("%d stored, %d duplicates", all.stored, all.dups)
}

// TestTrustedReadsMatchRollups: with every report trusted (HTTPS), each
// total read from the reports themselves (Filter.Trusted) is what the
// rollups give: the two ways of counting agree on the sample and quirks.
func testTrustedReadsMatchRollups(t *testing.T, b Backend) {
	db := b.New(t)
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
func testTrustAndAuthentication(t *testing.T, b Backend) {
	db := b.New(t)
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

// Fixture parses one of testdata/reporters' files (at the repository's
// root) into an input.
func Fixture(t *testing.T, name string) store.Input {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "reporters", name))
	if err != nil {
		t.Fatal(err)
	}
	items, err := parse.New(parse.Limits{}).Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	in := store.Input{Data: data, Source: "test", Origin: name}
	for _, it := range items {
		if it.Err != nil {
			t.Fatalf("%s: %v", name, it.Err)
		}
		in.Reports = append(in.Reports, it.Report)
	}
	return in
}

// TotalsByDomain is the successful and failed sessions per domain.
func TotalsByDomain(t *testing.T, db store.Store) map[string][2]int64 {
	t.Helper()
	totals, err := db.DomainTotals(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]int64{}
	for _, d := range totals {
		out[d.Domain] = [2]int64{d.SuccessfulSessions, d.FailedSessions}
	}
	return out
}

// The reports of the Postfix TLSRPT reporter and mox count every session
// once: policies over different sessions add up.
func testReportersCountEverySession(t *testing.T, b Backend) {
	db := b.New(t)
	ctx := context.Background()
	for _, name := range []string{"postfix-dane-tlsa-and-no-policy.json.gz", "postfix-policy-changed.json.gz",
		"postfix-mx-fallback.json.gz", "mox-report.eml"} {
		ingest(t, db, Fixture(t, name))
	}
	want := map[string][2]int64{
		"dane.example.net":   {6, 1},  // tlsa 4/1 + no-policy-found 2/0
		"change.example.net": {13, 4}, // sts enforce 3/4 + sts testing 10/0
		"example.org":        {8, 7},  // details add up to 9: kept, not "fixed"
		"example.com":        {8, 1},  // mox: sts 6/1 + no-policy-found 2/0
		"mx1.example.com":    {6, 1},  // mox: the MX host's own policy domain
	}
	if got := TotalsByDomain(t, db); !maps.Equal(got, want) {
		t.Errorf("totals %v\nwant %v", got, want)
	}
	types, err := db.PolicyTypeTotals(ctx, store.Filter{Domains: []string{"change.example.net", "dane.example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range types {
		got = append(got, strings.Join([]string{p.Domain, p.Type, p.Mode}, "/")+" "+
			strings.Join([]string{strconv.FormatInt(p.SuccessfulSessions, 10), strconv.FormatInt(p.FailedSessions, 10)}, "/"))
	}
	if w := []string{"change.example.net/sts/enforce 3/4", "change.example.net/sts/testing 10/0",
		"dane.example.net/no-policy-found/ 2/0", "dane.example.net/tlsa/ 4/1"}; !slices.Equal(got, w) {
		t.Errorf("policy types %q\nwant %q", got, w)
	}
	list, err := db.Reports(ctx, store.Filter{Domains: []string{"change.example.net"}})
	if err != nil || len(list) != 1 || list[0].SuccessfulSessions != 13 || list[0].FailedSessions != 4 {
		t.Errorf("listed %+v, %v", list, err)
	}
}

// A report-id reused with other figures is another report: stored,
// counted and flagged on both; the same report however encoded is a
// duplicate. Whether the batch went the optimistic or the careful way,
// and within one batch.
func testReusedReportID(t *testing.T, b Backend) {
	first, reencoded, reused := "postfix-mx-fallback.json.gz", "postfix-mx-fallback-reencoded.json", "postfix-reused-report-id.json.gz"
	check := func(t *testing.T, db store.Store, res []store.Result) {
		t.Helper()
		var stored, dups, flagged int
		for _, r := range res {
			stored, dups, flagged = stored+r.Stored, dups+r.Duplicates, flagged+r.Reused
		}
		if stored != 2 || dups != 1 || flagged != 1 {
			t.Errorf("stored %d, duplicates %d, reused %d; want 2, 1, 1: %+v", stored, dups, flagged, res)
		}
		if got := TotalsByDomain(t, db)["example.org"]; got != [2]int64{8, 8} {
			t.Errorf("example.org %v, want 8 ok and 8 failed", got)
		}
		list, err := db.Reports(context.Background(), store.Filter{})
		if err != nil || len(list) != 2 {
			t.Fatalf("%d reports, %v", len(list), err)
		}
		for _, ri := range list {
			sr, err := db.Report(context.Background(), ri.ID)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, w := range sr.Report.Warnings {
				if strings.Contains(w, `report-id "2026-03-05T00:00:00Z_idx1_example.org" was used`) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("report %d (%d failed) warns of the reuse %d times: %q", ri.ID, ri.FailedSessions, n, sr.Report.Warnings)
			}
		}
	}
	t.Run("batch by batch", func(t *testing.T) {
		db := b.New(t)
		var res []store.Result
		for _, name := range []string{first, reused, reencoded} {
			res = append(res, ingest(t, db, Fixture(t, name))...)
		}
		check(t, db, res)
	})
	t.Run("one batch", func(t *testing.T) {
		db := b.New(t)
		check(t, db, ingest(t, db, Fixture(t, first), Fixture(t, reencoded), Fixture(t, reused)))
	})
	t.Run("after a duplicate (careful way)", func(t *testing.T) {
		db := b.New(t)
		res := ingest(t, db, Fixture(t, first))
		res = append(res, ingest(t, db, Fixture(t, reencoded))...) // sets the careful way
		res = append(res, ingest(t, db, Fixture(t, reused))...)
		check(t, db, res)
		// Both variants again, and a third report under the key.
		third := Fixture(t, reused)
		r := *third.Reports[0]
		r.Policies = slices.Clone(r.Policies)
		r.Policies[0].SuccessfulSessions = 5
		third.Reports = []*parse.Report{&r}
		again := ingest(t, db, Fixture(t, first), Fixture(t, reused), third)
		if again[0].Duplicates != 1 || again[1].Duplicates != 1 || again[2].Stored != 1 || again[2].Reused != 1 {
			t.Errorf("again %+v", again)
		}
	})
}

// testPrune: after Prune, the totals are those of the reports left, the
// inputs only they held are gone, and refused inputs stay unless asked.
func testPrune(t *testing.T, b Backend) {
	db := b.New(t)
	pr, ok := db.(store.Pruner)
	if !ok {
		t.Skip("the backend does not prune")
	}
	ctx := context.Background()
	fd := parse.FailureDetail{ResultType: "certificate-expired", ReceivingMXHostname: "mx.a.example", SendingMTAIP: "192.0.2.1", FailedSessions: 1}
	// An MX host that failed on the first day only: its figures all go.
	old := parse.FailureDetail{ResultType: "starttls-not-supported", ReceivingMXHostname: "old.a.example", FailedSessions: 2}
	for d := 1; d <= 5; d++ {
		fds := []parse.FailureDetail{fd}
		if d == 1 {
			fds = append(fds, old)
		}
		ingest(t, db, store.Input{Data: []byte(fmt.Sprint("in", d)), Source: "import", ReceivedAt: day(d), Reports: []*parse.Report{
			report("Org", fmt.Sprint("a", d), d, pol("a.example", 10, 1, fds...)),
			report("Other", fmt.Sprint("b", d), d, pol("b.example", 5, 0)),
		}})
	}
	// A duplicate and a refused input, both received on day 1.
	ingest(t, db, store.Input{Data: []byte("dup"), ReceivedAt: day(1), Reports: []*parse.Report{report("Org", "a1", 1, pol("a.example", 10, 1, fd, old))}},
		store.Input{Data: []byte("junk"), ReceivedAt: day(1), Errors: []string{"invalid report: junk"}})
	left := store.Filter{Since: day(3)}
	type view struct {
		totals  []store.DomainTotal
		mx      []store.MXTotal
		days    []store.DayTotal
		senders []store.SenderTotal
		ips     []store.IPTotal
		types   []store.PolicyTypeTotal
	}
	read := func(f store.Filter) view {
		var v view
		var err error
		if v.totals, err = db.DomainTotals(ctx, f); err != nil {
			t.Fatal(err)
		}
		v.mx, _ = store.AllMXTotals(ctx, db, f)
		v.days, _ = db.DayTotals(ctx, f)
		v.senders, _ = db.SenderTotals(ctx, f)
		v.ips, _ = db.IPTotals(ctx, f)
		v.types, _ = db.PolicyTypeTotals(ctx, f)
		return v
	}
	want := read(left)
	dry, err := pr.Prune(ctx, store.PruneOptions{Before: day(3), DryRun: true})
	if err != nil || dry.Reports != 4 || dry.Inputs != 3 {
		t.Fatalf("dry run: %+v, %v; want 4 reports and 3 inputs (two days' and the duplicate)", dry, err)
	}
	if n, _ := db.CountReports(ctx, store.Filter{}); n != 10 {
		t.Fatalf("the dry run deleted: %d reports left", n)
	}
	got, err := pr.Prune(ctx, store.PruneOptions{Before: day(3)})
	if err != nil || got != dry {
		t.Fatalf("prune: %+v, %v; the dry run said %+v", got, err, dry)
	}
	if after := read(store.Filter{}); !reflect.DeepEqual(after, want) {
		t.Errorf("after pruning:\n%+v\nwant the reports left's:\n%+v", after, want)
	}
	pols, _ := db.Policies(ctx, store.Filter{})
	for _, p := range pols {
		if p.First.Before(day(3)) || p.Reports != 3 {
			t.Errorf("policy seen %+v after pruning", p)
		}
	}
	inputs, _ := db.Inputs(ctx, store.InputFilter{})
	if len(inputs) != 4 || inputs[len(inputs)-1].Outcome != store.OutcomeInvalid {
		t.Errorf("inputs left: %+v", inputs)
	}
	if _, err := db.Raw(ctx, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the first day's bytes: %v", err)
	}
	if got, err := pr.Prune(ctx, store.PruneOptions{Before: day(3), Refused: true}); err != nil || got.Inputs != 1 || got.Reports != 0 {
		t.Errorf("pruning the refused: %+v, %v", got, err)
	}
	// Reports stored after a prune count as before.
	ingest(t, db, store.Input{Data: []byte("late"), Reports: []*parse.Report{report("Org", "a6", 5, pol("a.example", 10, 1, fd))}})
	if tot, _ := db.DomainTotals(ctx, store.Filter{Domains: []string{"a.example"}}); len(tot) != 1 || tot[0].Reports != 4 || tot[0].SuccessfulSessions != 40 {
		t.Errorf("after a new report: %+v", tot)
	}
}
