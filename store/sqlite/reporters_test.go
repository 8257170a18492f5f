package sqlite_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
	"github.com/tlsrpt/tlsrpt/store/storetest"
)

// A database written by the release before counting changed (schema 5,
// testdata/schema5.db: the files of testdata/reporters and two quirks,
// imported by that release) is corrected when opened: its rollups are
// rebuilt from the stored reports, nothing re-imported.
func TestMigrateSchema5Recounts(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join("testdata", "schema5.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v5.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string][2]int64{
		"change.example.net": {13, 4}, // schema 5 said 10/4
		"dane.example.net":   {6, 1},  // 4/1
		// mox 8/1, sts+tlsa mirrored 20/5 once, details-exceed 0/1.
		"example.com":     {28, 7},
		"example.org":     {13, 7},
		"mx1.example.com": {6, 1},
	}
	if got := storetest.TotalsByDomain(t, db); !maps.Equal(got, want) {
		t.Errorf("totals after migrating %v\nwant %v", got, want)
	}
	mx, err := store.AllMXTotals(ctx, db, store.Filter{Domains: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mx {
		if m.MX == "mx1.example.com" && m.ResultType == "certificate-expired" && m.FailedSessions != 6 {
			t.Errorf("example.com mx1 certificate-expired: %d, want 6 (mox 1, the mirrored sts+tlsa 5 once)", m.FailedSessions)
		}
	}
	types, err := db.PolicyTypeTotals(ctx, store.Filter{Domains: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	var tlsa int64
	for _, p := range types {
		if p.Type == "tlsa" {
			tlsa += p.SuccessfulSessions
		}
	}
	if tlsa != 20 {
		t.Errorf("example.com's tlsa view: %d successful sessions, want 20 (%+v)", tlsa, types)
	}
	// The fingerprints were filled in: the same report is a duplicate, the
	// reused report-id (dropped by the old release) is stored.
	res := ingest(t, db, storetest.Fixture(t, "postfix-mx-fallback-reencoded.json"), storetest.Fixture(t, "postfix-reused-report-id.json.gz"))
	if res[0].Outcome != store.OutcomeDuplicate || res[1].Stored != 1 || res[1].Reused != 1 {
		t.Errorf("after migrating: %+v", res)
	}
	if got := storetest.TotalsByDomain(t, db)["example.org"]; got != [2]int64{13, 8} {
		t.Errorf("example.org %v, want 13/8", got)
	}
	// The contents kept before the upgrade are known by their bytes.
	again := ingest(t, db, storetest.Fixture(t, "postfix-dane-tlsa-and-no-policy.json.gz"))
	if !again[0].Known || again[0].Outcome != store.OutcomeDuplicate {
		t.Errorf("bytes kept by the old release, again: %+v", again[0])
	}
}

// The very reports the Postfix TLSRPT reporter and mox sent when run
// against a test setup (../shared/corpus/reporters, absent from a user's
// clone: skipped then).
func TestRealReportersCorpus(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "corpus", "reporters")
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(names) == 0 {
		t.Skipf("corpus not present at %s", dir)
	}
	db := testkit.OpenStore(t)
	p := parse.New(parse.Limits{})
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		items, err := p.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		in := store.Input{Data: data, Origin: name}
		for _, it := range items {
			if it.Err != nil {
				t.Fatalf("%s: %v", name, it.Err)
			}
			in.Reports = append(in.Reports, it.Report)
		}
		ingest(t, db, in)
	}
	totals := storetest.TotalsByDomain(t, db)
	for domain, want := range map[string][2]int64{"dane.example.test": {6, 1}, "change.example.test": {13, 4}} {
		if totals[domain] != want {
			t.Errorf("%s: %v, want %v", domain, totals[domain], want)
		}
	}
	list, err := db.Reports(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	reused := 0
	for _, r := range list {
		if r.ReportID == "2026-12-03T00:00:00Z_idx1_example.test" {
			reused++
		}
	}
	if reused != 2 {
		t.Errorf("%d reports under the reused report-id, want 2", reused)
	}
}
