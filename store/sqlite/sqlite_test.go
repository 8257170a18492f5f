package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
	"github.com/tlsrpt/tlsrpt/store/storetest"
)

var (
	day    = storetest.Day
	report = storetest.Report
	pol    = storetest.Policy
	ingest = storetest.Ingest
)

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

// TestConformance runs the store.Store conformance suite on SQLite files;
// a second handle on a file is what another process would have.
func TestConformance(t *testing.T) {
	var paths sync.Map // *sqlite.DB -> its file
	open := func(t testing.TB, path string) *sqlite.DB {
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		paths.Store(db, path)
		return db
	}
	storetest.Run(t, storetest.Backend{
		New: func(t testing.TB) store.Store { return open(t, filepath.Join(t.TempDir(), "t.db")) },
		Again: func(t testing.TB, st store.Store) store.Store {
			path, ok := paths.Load(st)
			if !ok {
				t.Fatal("not a store of New")
			}
			return open(t, path.(string))
		},
	})
}
