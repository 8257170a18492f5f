package sqlite_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
)

func day(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }

func report(org, id string, d int, pols ...parse.Policy) *parse.Report {
	return &parse.Report{OrganizationName: org, ReportID: id, ContactInfo: "c@" + org,
		DateRange: parse.DateRange{Start: day(d), End: day(d).Add(24*time.Hour - time.Second)}, Policies: pols}
}

func pol(domain string, ok, failed int64, fds ...parse.FailureDetail) parse.Policy {
	return parse.Policy{Type: "sts", Domain: domain, String: []string{"version: STSv1", "mode: testing"},
		MXHosts: []string{"mx." + domain}, SuccessfulSessions: ok, FailedSessions: failed, FailureDetails: fds}
}

func ingest(t *testing.T, db store.Store, ins ...store.Input) []store.Result {
	t.Helper()
	res, err := db.Ingest(context.Background(), ins)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestIngestStoresOnceKeepsEveryInput(t *testing.T) {
	db := testkit.OpenStore(t)
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

func TestDuplicateWithinOneBatch(t *testing.T) {
	db := testkit.OpenStore(t)
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

func TestInvalidAndNoReportInputsAreKept(t *testing.T) {
	db := testkit.OpenStore(t)
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

func TestReportRoundTrip(t *testing.T) {
	db := testkit.OpenStore(t)
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

func TestFilters(t *testing.T) {
	db := testkit.OpenStore(t)
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

func TestReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ingest(t, db, store.Input{Data: []byte("x"), Reports: []*parse.Report{report("O", "1", 1, pol("a.example", 1, 0))}})
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	if list, _ := db.Reports(ctx, store.Filter{}); len(list) != 1 {
		t.Errorf("after reopen: %d reports", len(list))
	}
	if err := db.Ping(ctx); err != nil {
		t.Error(err)
	}
}

// Batches are assembled before the write lock with ids from zero and
// shifted under it; a batch holding a stored report is assembled again
// under the lock. Either way every id returned leads to its own report and
// input, also with callers writing at once.
func TestConcurrentIngestHandsOutConsistentIDs(t *testing.T) {
	db := testkit.OpenStore(t)
	ctx := context.Background()
	ingest(t, db, store.Input{Data: []byte("seed"), Reports: []*parse.Report{report("Org", "seed", 1, pol("a.example", 1, 0))}})

	const callers, perBatch = 4, 3
	results := make([][]store.Result, callers)
	errs := make(chan error, callers)
	for c := range callers {
		go func() {
			var ins []store.Input
			for i := range perBatch {
				id := fmt.Sprintf("c%d-%d", c, i)
				ins = append(ins, store.Input{Data: []byte(id), Origin: id,
					Reports: []*parse.Report{report("Org", id, 2, pol("a.example", 2, 0)), report("Other", id, 2, pol("b.example", 3, 0))}})
			}
			if c == 0 { // a stored report: the batch is assembled under the lock
				ins[1].Reports = append(ins[1].Reports, report("Org", "seed", 1, pol("a.example", 1, 0)))
			}
			var err error
			results[c], err = db.Ingest(ctx, ins)
			errs <- err
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	seenInputs, seenReports := map[int64]bool{}, map[int64]bool{}
	for c, res := range results {
		for i, r := range res {
			origin := fmt.Sprintf("c%d-%d", c, i)
			if seenInputs[r.InputID] || r.Stored != 2 || len(r.ReportIDs) != 2 {
				t.Fatalf("caller %d input %d: %+v (ids so far %v)", c, i, r, seenInputs)
			}
			seenInputs[r.InputID] = true
			for _, id := range r.ReportIDs {
				sr, err := db.Report(ctx, id)
				if err != nil || seenReports[id] || sr.Report.ReportID != origin || sr.Input.ID != r.InputID || sr.Input.Origin != origin {
					t.Fatalf("report %d of %s: %+v, %v", id, origin, sr, err)
				}
				seenReports[id] = true
			}
		}
	}
	if results[0][1].Duplicates != 1 {
		t.Errorf("stored report in a batch: %+v", results[0][1])
	}
	totals, _ := db.DomainTotals(ctx, store.Filter{})
	if len(totals) != 2 || totals[0].Reports != 1+callers*perBatch || totals[1].SuccessfulSessions != 3*callers*perBatch {
		t.Errorf("totals = %+v", totals)
	}
}

// Callers delivering the same reports at once: whichever looked for stored
// reports before another committed them must still count them as
// duplicates, whether few reports were stored in between (matched in
// memory when its own DB stored them, else read and matched) or many
// (looked up). With two handles on the file, as two processes would have,
// neither knows what the other stored.
func TestConcurrentDuplicatesStoredOnce(t *testing.T) {
	for _, handles := range []int{1, 2} {
		t.Run(fmt.Sprint(handles, " handles"), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.db")
			var dbs []*sqlite.DB
			for range handles {
				db, err := sqlite.Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				dbs = append(dbs, db)
			}
			concurrentDuplicates(t, dbs)
		})
	}
}

func concurrentDuplicates(t *testing.T, dbs []*sqlite.DB) {
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

// TestBatchSizes stores batches of every size the writer splits
// differently (statements of 100 rows, then of a power of two), and checks
// that each report comes back whole, with its input, policies and failure
// details, and nothing else was stored.
func TestBatchSizes(t *testing.T) {
	db := testkit.OpenStore(t)
	ctx := context.Background()
	want := map[int64]*parse.Report{}
	n := 0
	for _, size := range []int{1, 2, 3, 63, 64, 65, 99, 100, 101, 227} {
		var batch []store.Input
		for range size {
			n++
			var fds []parse.FailureDetail
			for k := range n % 4 {
				fds = append(fds, parse.FailureDetail{ResultType: "certificate-expired", SendingMTAIP: fmt.Sprintf("192.0.2.%d", k),
					ReceivingMXHostname: "mx.example.com", FailedSessions: int64(k + 1)})
			}
			r := report("Org", fmt.Sprint("r", n), 1+n%28, pol(fmt.Sprintf("d%d.example", n%7), int64(n), int64(n%4), fds...))
			batch = append(batch, store.Input{Data: []byte(fmt.Sprint("raw ", n)), Origin: fmt.Sprint(n), Reports: []*parse.Report{r}})
		}
		for i, res := range ingest(t, db, batch...) {
			if res.Stored != 1 || len(res.ReportIDs) != 1 {
				t.Fatalf("batch of %d, input %d: %+v", size, i, res)
			}
			want[res.ReportIDs[0]] = batch[i].Reports[0]
		}
	}
	list, err := db.Reports(ctx, store.Filter{})
	if err != nil || len(list) != n {
		t.Fatalf("%d reports listed (%v), want %d", len(list), err, n)
	}
	for id, r := range want {
		got, err := db.Report(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Report.ReportID != r.ReportID || !reflect.DeepEqual(got.Report.Policies, r.Policies) {
			t.Fatalf("report %d = %+v, want %+v", id, got.Report, *r)
		}
		if raw, err := db.Raw(ctx, got.Input.ID); err != nil || string(raw) != "raw "+r.ReportID[1:] {
			t.Fatalf("report %d: input %q, %v", id, raw, err)
		}
	}
}

// The same bytes twice in one batch, written without looking: one input,
// one arrival.
func TestSameBytesWithinOneBatch(t *testing.T) {
	db := testkit.OpenStore(t)
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
