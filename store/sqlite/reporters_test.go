package sqlite_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
)

// fixture parses one of testdata/reporters' files (at the repository's
// root) into an input.
func fixture(t *testing.T, name string) store.Input {
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

func totalsByDomain(t *testing.T, db store.Store) map[string][2]int64 {
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
func TestReportersCountEverySession(t *testing.T) {
	db := testkit.OpenStore(t)
	ctx := context.Background()
	for _, name := range []string{"postfix-dane-tlsa-and-no-policy.json.gz", "postfix-policy-changed.json.gz",
		"postfix-mx-fallback.json.gz", "mox-report.eml"} {
		ingest(t, db, fixture(t, name))
	}
	want := map[string][2]int64{
		"dane.example.net":   {6, 1},  // tlsa 4/1 + no-policy-found 2/0
		"change.example.net": {13, 4}, // sts enforce 3/4 + sts testing 10/0
		"example.org":        {8, 7},  // details add up to 9: kept, not "fixed"
		"example.com":        {8, 1},  // mox: sts 6/1 + no-policy-found 2/0
		"mx1.example.com":    {6, 1},  // mox: the MX host's own policy domain
	}
	if got := totalsByDomain(t, db); !maps.Equal(got, want) {
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
func TestReusedReportID(t *testing.T) {
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
		if got := totalsByDomain(t, db)["example.org"]; got != [2]int64{8, 8} {
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
		db := testkit.OpenStore(t)
		var res []store.Result
		for _, name := range []string{first, reused, reencoded} {
			res = append(res, ingest(t, db, fixture(t, name))...)
		}
		check(t, db, res)
	})
	t.Run("one batch", func(t *testing.T) {
		db := testkit.OpenStore(t)
		check(t, db, ingest(t, db, fixture(t, first), fixture(t, reencoded), fixture(t, reused)))
	})
	t.Run("after a duplicate (careful way)", func(t *testing.T) {
		db := testkit.OpenStore(t)
		res := ingest(t, db, fixture(t, first))
		res = append(res, ingest(t, db, fixture(t, reencoded))...) // sets the careful way
		res = append(res, ingest(t, db, fixture(t, reused))...)
		check(t, db, res)
		// Both variants again, and a third report under the key.
		third := fixture(t, reused)
		r := *third.Reports[0]
		r.Policies = slices.Clone(r.Policies)
		r.Policies[0].SuccessfulSessions = 5
		third.Reports = []*parse.Report{&r}
		again := ingest(t, db, fixture(t, first), fixture(t, reused), third)
		if again[0].Duplicates != 1 || again[1].Duplicates != 1 || again[2].Stored != 1 || again[2].Reused != 1 {
			t.Errorf("again %+v", again)
		}
	})
}

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
	if got := totalsByDomain(t, db); !maps.Equal(got, want) {
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
	res := ingest(t, db, fixture(t, "postfix-mx-fallback-reencoded.json"), fixture(t, "postfix-reused-report-id.json.gz"))
	if res[0].Outcome != store.OutcomeDuplicate || res[1].Stored != 1 || res[1].Reused != 1 {
		t.Errorf("after migrating: %+v", res)
	}
	if got := totalsByDomain(t, db)["example.org"]; got != [2]int64{13, 8} {
		t.Errorf("example.org %v, want 13/8", got)
	}
	// The contents kept before the upgrade are known by their bytes.
	again := ingest(t, db, fixture(t, "postfix-dane-tlsa-and-no-policy.json.gz"))
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
	totals := totalsByDomain(t, db)
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
