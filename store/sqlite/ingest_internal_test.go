package sqlite

import (
	"context"
	"fmt"
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
		db.assemble(batch, 1, 1, map[reportKey]bool{})
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "reports/s")
}

// TestRecentSince: the reports stored since a look-up are matched in memory
// only when the batches this DB remembers are exactly those reports.
func TestRecentSince(t *testing.T) {
	k := func(id string) reportKey { return reportKey{"Org", id} }
	db := &DB{}
	for _, b := range []struct {
		first int64
		ids   []string
	}{{11, []string{"a", "b"}}, {13, []string{"c"}}, {20, []string{"d", "e", "f"}}, {23, []string{"g"}}, {24, []string{"h"}}} {
		var keys []reportKey
		for _, id := range b.ids {
			keys = append(keys, k(id))
		}
		db.remember(&batch{firstReport: b.first, storedSet: keySet(keys)})
	}
	db.remember(&batch{firstReport: 99}) // stored nothing: not remembered
	if len(db.recent) != keepRecent || db.recent[0].first != 13 {
		t.Fatalf("remembered %+v", db.recent)
	}
	keys := []reportKey{k("a"), k("c"), k("d"), k("g"), k("h"), k("x")}
	for _, c := range []struct {
		after, last int64
		ok          bool
		found       string
	}{
		{12, 13, true, "c"},
		{19, 24, true, "d g h"},
		{22, 23, true, "g"},
		{10, 12, false, ""}, // forgotten
		{12, 22, false, ""}, // 14-19 stored by another process
		{19, 21, false, ""}, // ends inside a batch: ids reused
		{19, 25, false, ""}, // 25 unknown
	} {
		found, ok := db.recentSince(keys, c.after, c.last)
		var got []string
		for _, key := range keys {
			if found[key] {
				got = append(got, key.id)
			}
		}
		if ok != c.ok || strings.Join(got, " ") != c.found {
			t.Errorf("recentSince(%d, %d) = %v, %v; want %q, %v", c.after, c.last, got, ok, c.found, c.ok)
		}
	}
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

// Reports another process stored since a look-up are found under the
// lock: read back and matched when they are few, looked up by key when
// they are many.
func TestStoredSinceByAnotherProcess(t *testing.T) {
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
	var ins []store.Input
	for i := range 10 {
		ins = append(ins, store.Input{Data: []byte{byte(i)}, Reports: []*parse.Report{
			rep("Org", fmt.Sprint("r", i), 1, parse.Policy{Type: "sts", Domain: "a.example"})}})
	}
	if _, err := dbs[1].Ingest(context.Background(), ins); err != nil {
		t.Fatal(err)
	}
	db := dbs[0] // remembers none of them
	for _, keys := range [][]reportKey{
		{{"Org", "r3"}, {"Org", "nope"}},                  // 10 stored since > 4 keys each: looked up
		{{"Org", "r3"}, {"Org", "nope"}, {"Other", "r4"}}, // 10 <= 12: read back and matched
	} {
		db.mu.Lock()
		found, err := db.storedSince(keys, 0, 10)
		db.mu.Unlock()
		if err != nil || len(found) != 1 || !found[reportKey{"Org", "r3"}] {
			t.Errorf("%d keys: found %v, %v; want r3 only", len(keys), found, err)
		}
	}
}

// A commit the deferred foreign keys refuse leaves nothing written and
// the writer out of its transaction, ready for the next.
func TestRefusedCommitRollsBack(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	err := db.inWriteTx(ctx, func() error {
		return db.w.Exec(`INSERT INTO policies VALUES (99, 0, 'sts', 'orphan.example', '', '', 0, 0)`)
	}, func() { t.Error("committed") })
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
