package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reportgen"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// GeneratedBatches returns a source of batches of parsed generated
// reports over 10,000 domains, every report a new one, for benchmarks here
// and in package sqlite_test.
func GeneratedBatches(tb testing.TB) func(n int) []store.Input {
	g := reportgen.New(reportgen.Options{Domains: 10_000})
	p := parse.New(parse.Limits{})
	return func(n int) []store.Input {
		batch := make([]store.Input, n)
		for i := range batch {
			r, name := g.Next()
			data := r.JSON()
			rep, err := p.ParseReport(data)
			if err != nil {
				tb.Fatal(err)
			}
			batch[i] = store.Input{Data: data, Source: "bench", Origin: name, Reports: []*parse.Report{rep}}
		}
		return batch
	}
}

// BenchmarkAssemble measures building one import batch's rows and rollups
// (2,048 generated reports over 10,000 domains), the work Ingest does
// before it takes the writer's lock.
func BenchmarkAssemble(b *testing.B) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	batch := GeneratedBatches(b)(2048)
	b.ReportAllocs()
	for b.Loop() {
		db.assemble(batch, 1, 1, map[reportKey][]variant{}, map[[32]byte]int64{}, map[int64]bool{})
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "reports/s")
}

// A batch is written without looking for stored reports until one meets
// a stored report: that attempt leaves nothing behind, the batch is stored
// the careful way, and so are the next ones until one holds no stored
// report.
func TestLookFirstAfterStoredReport(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	in := func(data string, ids ...string) store.Input {
		var reps []*parse.Report
		for _, id := range ids {
			reps = append(reps, rep("Org", id, 1, parse.Policy{Type: "sts", Domain: "a.example", SuccessfulSessions: 1}))
		}
		return store.Input{Data: []byte(data), Reports: reps}
	}
	step := func(want bool, ins ...store.Input) []store.Result {
		t.Helper()
		res, err := db.Ingest(ctx, ins)
		if err != nil {
			t.Fatal(err)
		}
		if got := db.lookFirst.Load(); got != want {
			t.Fatalf("after %d inputs: looking first %v, want %v", len(ins), got, want)
		}
		return res
	}
	step(false, in("1", "r1"))
	// Written without looking, r1 is met by the insert: rolled back and
	// stored again knowing it.
	res := step(true, in("2", "r2"), in("3", "r1", "r3"))
	if res[0].InputID != 2 || res[0].Stored != 1 || res[1].InputID != 3 || res[1].Stored != 1 || res[1].Duplicates != 1 ||
		!slices.Equal(res[1].ReportIDs, []int64{3}) {
		t.Fatalf("results %+v", res)
	}
	res = step(true, in("4", "r1")) // looked up: still looking first
	if res[0].Duplicates != 1 || res[0].InputID != 4 {
		t.Fatalf("results %+v", res)
	}
	step(false, in("5", "r4")) // looked up, none stored
	step(false, in("6", "r5"))
	var inputs, reports, sessions int
	err := db.write.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM inputs), (SELECT count(*) FROM reports),
(SELECT sum(successful_sessions) FROM domain_days)`).Scan(&inputs, &reports, &sessions)
	if err != nil || inputs != 6 || reports != 5 || sessions != 5 {
		t.Errorf("inputs %d, reports %d, sessions %d (%v); want 6, 5, 5", inputs, reports, sessions, err)
	}
}

// Two processes on one file: a report the other stored is found by the
// careful way's look-up under the lock, whichever way the batch started.
func TestStoredByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	var dbs [2]*DB
	for i := range dbs {
		db, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	in := func(id string) store.Input {
		return store.Input{Data: []byte(id), Reports: []*parse.Report{
			rep("Org", id, 1, parse.Policy{Type: "sts", Domain: "a.example", SuccessfulSessions: 1})}}
	}
	if _, err := dbs[1].Ingest(context.Background(), []store.Input{in("r1"), in("r2")}); err != nil {
		t.Fatal(err)
	}
	res, err := dbs[0].Ingest(context.Background(), []store.Input{in("r2"), in("r3")})
	if err != nil || res[0].Duplicates != 1 || res[0].Stored != 0 || res[1].Stored != 1 {
		t.Fatalf("results %+v, %v", res, err)
	}
}

// A commit the deferred foreign keys refuse leaves nothing written and
// the writer out of its transaction, ready for the next.
func TestRefusedCommitRollsBack(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	err := db.inWriteTx(ctx, func() error {
		return db.w.Exec(`INSERT INTO policies VALUES (99, 0, 'sts', 'orphan.example', '', '', 0, 0, 1)`)
	})
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY constraint failed") {
		t.Fatalf("orphan policy: %v", err)
	}
	if db.w.InTransaction() {
		t.Fatal("the writer is still in the refused transaction")
	}
	if err := db.SetMark(ctx, "m", 7); err != nil {
		t.Fatal(err)
	}
	var policies int
	if err := db.write.QueryRowContext(ctx, `SELECT count(*) FROM policies`).Scan(&policies); err != nil || policies != 0 {
		t.Errorf("%d policies after the refused commit, %v", policies, err)
	}
	if v, err := db.Mark(ctx, "m"); err != nil || v != 7 {
		t.Errorf("mark after: %d, %v", v, err)
	}
}
