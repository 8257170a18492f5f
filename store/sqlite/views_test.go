package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

func testDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func rep(org, id string, d int, pols ...parse.Policy) *parse.Report {
	start := time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC)
	return &parse.Report{OrganizationName: org, ReportID: id, DateRange: parse.DateRange{Start: start, End: start.Add(time.Hour)}, Policies: pols}
}

func fdl(mx, ip, rt string, n int64) parse.FailureDetail {
	return parse.FailureDetail{ReceivingMXHostname: mx, SendingMTAIP: ip, ResultType: rt, FailedSessions: n}
}

// seed stores reports with every shape the rollups care about: two
// senders, sts+tlsa over the same sessions, several IPs, two days.
func seed(t *testing.T, db *DB) {
	t.Helper()
	sts := parse.Policy{Type: "sts", Domain: "a.example", String: []string{"version: STSv1", "mode: testing", "mx: *.a.example"},
		MXHosts: []string{"*.a.example"}, SuccessfulSessions: 90, FailedSessions: 10,
		FailureDetails: []parse.FailureDetail{fdl("mx1.a.example", "192.0.2.1", "certificate-expired", 6), fdl("mx1.a.example", "192.0.2.2", "certificate-expired", 4)}}
	tlsa := sts
	tlsa.Type, tlsa.String, tlsa.MXHosts = "tlsa", []string{"3 1 1 AB"}, nil
	_, err := db.Ingest(context.Background(), []store.Input{
		{Data: []byte("1"), Reports: []*parse.Report{rep("Microsoft", "m1", 1, sts, tlsa)}},
		{Data: []byte("2"), Reports: []*parse.Report{rep("Google", "g1", 1, parse.Policy{Type: "sts", Domain: "a.example",
			String: sts.String, MXHosts: sts.MXHosts, SuccessfulSessions: 50})}},
		{Data: []byte("3"), Reports: []*parse.Report{rep("Google", "g2", 2, parse.Policy{Type: "sts", Domain: "a.example",
			String: []string{"version: STSv1", "mode: enforce", "mx: *.a.example"}, SuccessfulSessions: 40, FailedSessions: 1,
			FailureDetails: []parse.FailureDetail{fdl("other.b.example", "", "starttls-not-supported", 1)}})}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestViews(t *testing.T) {
	db := testDB(t)
	seed(t, db)
	ctx := context.Background()
	d1, d2 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

	days, _ := db.DayTotals(ctx, store.Filter{})
	dt := func(day time.Time, reports, ok, failed int64) store.DayTotal {
		return store.DayTotal{Domain: "a.example", Day: day, Reports: reports, SuccessfulSessions: ok, FailedSessions: failed}
	}
	if want := []store.DayTotal{dt(d1, 2, 140, 10), dt(d2, 1, 40, 1)}; !reflect.DeepEqual(days, want) {
		t.Errorf("days = %+v, want %+v", days, want)
	}
	senders, _ := db.SenderTotals(ctx, store.Filter{})
	st := func(org string, reports, ok, failed int64) store.SenderTotal {
		return store.SenderTotal{Domain: "a.example", Organization: org, Reports: reports, SuccessfulSessions: ok, FailedSessions: failed}
	}
	if want := []store.SenderTotal{st("Google", 2, 90, 1), st("Microsoft", 1, 90, 10)}; !reflect.DeepEqual(senders, want) {
		t.Errorf("senders = %+v, want %+v", senders, want)
	}
	ips, _ := db.IPTotals(ctx, store.Filter{})
	it := func(ip, rt string, n int64) store.IPTotal {
		return store.IPTotal{IP: ip, Domain: "a.example", ResultType: rt, FailedSessions: n}
	}
	want := []store.IPTotal{it("", "starttls-not-supported", 1), it("192.0.2.1", "certificate-expired", 6), it("192.0.2.2", "certificate-expired", 4)}
	if !reflect.DeepEqual(ips, want) {
		t.Errorf("ips = %+v, want %+v", ips, want)
	}
	doms, _ := db.DomainTotals(ctx, store.Filter{})
	if len(doms) != 1 || doms[0].Days != 2 || !doms[0].First.Equal(d1) || !doms[0].Last.Equal(d2) {
		t.Errorf("domain totals = %+v", doms)
	}
	if rep, _ := db.Reporters(ctx, store.Filter{}); rep["a.example"] != 2 {
		t.Errorf("reporters = %v", rep)
	}
	if rep, _ := db.Reporters(ctx, store.Filter{Since: d2}); rep["a.example"] != 1 {
		t.Errorf("reporters since day 2 = %v", rep)
	}
	periods, _ := db.PeriodTotals(ctx, store.Filter{}, []store.Period{{Since: d2, Until: d2}, {Since: d1, Until: d1}})
	if len(periods) != 1 || periods[0].DomainTotal != doms[0] ||
		!reflect.DeepEqual(periods[0].PeriodSuccessful, []int64{40, 140}) || !reflect.DeepEqual(periods[0].PeriodFailed, []int64{1, 10}) {
		t.Errorf("periods = %+v", periods)
	}
	// A period outside the filter's range is still summed; a domain with
	// no day in the range is left out.
	periods, _ = db.PeriodTotals(ctx, store.Filter{Since: d2}, []store.Period{{Since: d1, Until: d1}})
	if len(periods) != 1 || periods[0].Days != 1 || !periods[0].First.Equal(d2) || periods[0].PeriodSuccessful[0] != 140 {
		t.Errorf("periods since day 2 = %+v", periods)
	}
	if periods, _ = db.PeriodTotals(ctx, store.Filter{Since: d2.AddDate(0, 0, 1)}, []store.Period{{Since: d1, Until: d2}}); len(periods) != 0 {
		t.Errorf("periods after the last day = %+v", periods)
	}
	mx, _ := store.AllMXTotals(ctx, db, store.Filter{})
	if len(mx) != 2 || mx[0].MX != "mx1.a.example" || mx[0].FailedSessions != 10 || !mx[0].First.Equal(d1) || !mx[1].Last.Equal(d2) {
		t.Errorf("mx = %+v", mx)
	}
	pols, _ := db.Policies(ctx, store.Filter{Since: d2})
	if len(pols) != 1 || pols[0].Lines[1] != "mode: enforce" || !pols[0].First.Equal(d2) {
		t.Errorf("policies since day 2 = %+v", pols)
	}
	fails, _ := db.Failures(ctx, store.FailureFilter{ResultTypes: []string{"certificate-expired"}, Senders: []string{"Microsoft"}})
	if len(fails) != 4 || fails[0].PolicyType != "sts" || fails[0].Detail.SendingMTAIP != "192.0.2.1" || fails[0].ReportRef != "m1" {
		t.Errorf("failures = %+v", fails)
	}
	newest, _ := db.Failures(ctx, store.FailureFilter{Filter: store.Filter{Limit: 1}})
	if len(newest) != 1 || newest[0].ReportRef != "g2" {
		t.Errorf("newest failure = %+v", newest)
	}
	stop, calls := errors.New("reader gone"), 0
	if err := db.EachFailure(ctx, store.FailureFilter{}, func(store.FailureRow) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("EachFailure with a failing callback: %v after %d calls", err, calls)
	}
	maxID, _ := db.MaxReportID(ctx)
	if after, _ := db.Failures(ctx, store.FailureFilter{AfterReport: maxID - 1, UpToReport: maxID}); len(after) != 1 {
		t.Errorf("failures after report %d = %+v", maxID-1, after)
	}
	if v, err := db.Mark(ctx, "x"); v != 0 || err != nil {
		t.Errorf("unset mark = %d, %v", v, err)
	}
	if err := db.SetMark(ctx, "x", 7); err != nil {
		t.Fatal(err)
	}
	db.SetMark(ctx, "x", 9)
	if v, _ := db.Mark(ctx, "x"); v != 9 {
		t.Errorf("mark = %d", v)
	}
}

// TestBackfillMatchesRollups checks migration 0002's SQL backfill against
// the rollups the writer keeps with store.Rollup: the same rule twice.
func TestBackfillMatchesRollups(t *testing.T) {
	db := testDB(t)
	seed(t, db)
	ctx := context.Background()
	tables := []string{"sender_days", "ip_days", "domain_policies"}
	dump := func() string {
		var b strings.Builder
		for _, table := range tables {
			rows, err := db.write.QueryContext(ctx, "SELECT * FROM "+table+" ORDER BY 1, 2, 3, 4")
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				rows.Scan(ptrs...)
				fmt.Fprintln(&b, table, vals)
			}
			rows.Close()
		}
		return b.String()
	}
	incremental := dump()
	body, err := migrations.ReadFile("migrations/0002_readiness.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, backfill, ok := strings.Cut(string(body), "-- backfill")
	if !ok {
		t.Fatal("0002 has no backfill section")
	}
	_, backfill, _ = strings.Cut(backfill, "\n") // the rest of the comment line
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		for _, table := range tables {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, backfill)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(); got != incremental {
		t.Errorf("backfill differs from the incremental rollups:\n%s\nwant\n%s", got, incremental)
	}
}

// TestReprocessUsesPartialIndex pins a plan, not a time: the inputs
// reprocess reads are found through the partial index, never by scanning
// every input kept.
func TestReprocessUsesPartialIndex(t *testing.T) {
	db := testDB(t)
	var plan strings.Builder
	q, _ := db.inputsQuery(store.InputFilter{Outcomes: store.Reprocessable})
	rows, err := db.read.Query("EXPLAIN QUERY PLAN "+q, int64(0))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		rows.Scan(&id, &parent, &unused, &detail)
		plan.WriteString(detail + "; ")
	}
	if !strings.Contains(plan.String(), "USING INDEX inputs_to_reprocess") {
		t.Errorf("plan: %s", plan.String())
	}
}

// TestReportsCountSessionsOnce: the listing counts a report's sessions as
// store.Counted does (policies add up; a tlsa policy that mirrors an sts
// one counts once), domains in the report's order, for many reports at
// once.
func TestReportsCountSessionsOnce(t *testing.T) {
	db := testDB(t)
	seed(t, db)
	ctx := context.Background()
	var inputs []store.Input
	for i := range 1800 { // a third of them is more than one query's worth
		inputs = append(inputs, store.Input{Data: []byte(fmt.Sprint("x", i)), Reports: []*parse.Report{rep("Bulk", fmt.Sprint(i), 3,
			parse.Policy{Type: "sts", Domain: "b.example", SuccessfulSessions: int64(i), FailedSessions: 1},
			parse.Policy{Type: "sts", Domain: "a.example", SuccessfulSessions: 5},
			parse.Policy{Type: "tlsa", Domain: "b.example", SuccessfulSessions: int64(i) - 1, FailedSessions: 2},
			parse.Policy{Type: "tlsa", Domain: "a.example", SuccessfulSessions: 5})}})
	}
	if _, err := db.Ingest(ctx, inputs); err != nil {
		t.Fatal(err)
	}
	list, err := db.Reports(ctx, store.Filter{})
	if err != nil || len(list) != 1803 {
		t.Fatalf("%d reports, %v", len(list), err)
	}
	// EachReport hands out the same list a page at a time, and stops at
	// the first error of its callback, returning it as is.
	var each []store.ReportInfo
	if err := db.EachReport(ctx, store.Filter{}, func(ri store.ReportInfo) error {
		each = append(each, ri)
		return nil
	}); err != nil || !reflect.DeepEqual(each, list) {
		t.Fatalf("EachReport: %d reports, %v; Reports: %d", len(each), err, len(list))
	}
	stop := errors.New("reader gone")
	calls := 0
	err = db.EachReport(ctx, store.Filter{}, func(store.ReportInfo) error {
		calls++
		if calls == firstPage+1 {
			return stop
		}
		return nil
	})
	if err != stop || calls != firstPage+1 {
		t.Errorf("callback error: %v after %d calls; want %v after %d", err, calls, stop, firstPage+1)
	}
	// Every third report: ids too sparse for one pass, looked up in chunks.
	var sparse, want []store.ReportInfo
	for i := 0; i < len(list); i += 3 {
		want = append(want, list[i])
		sparse = append(sparse, store.ReportInfo{ID: list[i].ID})
	}
	if err := db.addReportSessions(ctx, sparse); err != nil {
		t.Fatal(err)
	}
	for i := range sparse {
		if w := want[i]; !reflect.DeepEqual(sparse[i].Domains, w.Domains) || sparse[i].SuccessfulSessions != w.SuccessfulSessions ||
			sparse[i].FailedSessions != w.FailedSessions {
			t.Fatalf("looked up alone: %+v, listed: %+v", sparse[i], w)
		}
	}
	for _, r := range list {
		switch {
		case r.ReportID == "m1":
			if !reflect.DeepEqual(r.Domains, []string{"a.example"}) || r.SuccessfulSessions != 90 || r.FailedSessions != 10 {
				t.Errorf("Microsoft's sts+tlsa report: %+v", r)
			}
		case r.OrganizationName == "Bulk":
			var i int64
			fmt.Sscan(r.ReportID, &i)
			if !reflect.DeepEqual(r.Domains, []string{"b.example", "a.example"}) || r.SuccessfulSessions != 2*i+4 || r.FailedSessions != 3 {
				t.Fatalf("report %s: %+v", r.ReportID, r)
			}
		}
	}
}

// Listings are read in pages, each a query of its own resuming after the
// last row of the one before: ties on the start day are broken by id, and
// a failure's position within its report by policy and detail; limits
// that end inside a page or on its edge; no read transaction is open while
// the callback runs, so a checkpoint can fold the whole WAL back then.
func TestListingsInPages(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	var inputs []store.Input
	details := 0
	for i := range 1500 {
		// Three start days, so most neighbours tie on the day; 0 to 2
		// details in each of two policies.
		p1 := parse.Policy{Type: "sts", Domain: "a.example", SuccessfulSessions: 1}
		p2 := parse.Policy{Type: "tlsa", Domain: fmt.Sprintf("d%d.example", i%7), SuccessfulSessions: 1}
		for j := range i % 3 {
			p1.FailureDetails = append(p1.FailureDetails, fdl("mx1.a.example", fmt.Sprint("192.0.2.", j), "certificate-expired", int64(i)))
			p2.FailureDetails = append(p2.FailureDetails, fdl("mx2.a.example", "", "validation-failure", int64(j)))
			details += 2
		}
		inputs = append(inputs, store.Input{Data: []byte(fmt.Sprint(i)), Reports: []*parse.Report{rep("Org", fmt.Sprint(i), 1+i%3, p1, p2)}})
	}
	if _, err := db.Ingest(ctx, inputs); err != nil {
		t.Fatal(err)
	}

	reports, err := db.Reports(ctx, store.Filter{})
	if err != nil || len(reports) != 1500 {
		t.Fatalf("%d reports, %v", len(reports), err)
	}
	seen := map[int64]bool{}
	for i, r := range reports {
		if seen[r.ID] {
			t.Fatalf("report %d listed twice", r.ID)
		}
		seen[r.ID] = true
		if i > 0 {
			if p := reports[i-1]; p.Start.Before(r.Start) || p.Start.Equal(r.Start) && p.ID < r.ID {
				t.Fatalf("out of order at %d: %d (%s) before %d (%s)", i, p.ID, p.Start, r.ID, r.Start)
			}
		}
	}
	for _, limit := range []int{1, firstPage - 1, firstPage, firstPage + 1, 2*firstPage + 5} {
		got, err := db.Reports(ctx, store.Filter{Limit: limit})
		if err != nil || !reflect.DeepEqual(got, reports[:limit]) {
			t.Errorf("limit %d: %d reports, %v", limit, len(got), err)
		}
	}
	if got, _ := db.Reports(ctx, store.Filter{Domains: []string{"d3.example"}}); len(got) != 214 {
		t.Errorf("one domain: %d reports, want 214", len(got))
	}

	fails, err := db.Failures(ctx, store.FailureFilter{})
	if err != nil || len(fails) != details {
		t.Fatalf("%d failures, %v; want %d", len(fails), err, details)
	}
	type key struct {
		id     int64
		domain string
		ip     string
	}
	seenDetail := map[key]bool{}
	for i, f := range fails {
		k := key{f.ReportID, f.Domain, f.Detail.SendingMTAIP + f.Detail.ResultType + fmt.Sprint(f.Detail.FailedSessions)}
		if seenDetail[k] {
			t.Fatalf("failure %+v listed twice", k)
		}
		seenDetail[k] = true
		if i > 0 {
			p := fails[i-1]
			if p.Start.Before(f.Start) || p.Start.Equal(f.Start) && p.ReportID < f.ReportID {
				t.Fatalf("out of order at %d", i)
			}
			// Within a report: the sts policy's details, then the tlsa one's.
			if p.ReportID == f.ReportID && p.PolicyType == "tlsa" && f.PolicyType == "sts" {
				t.Fatalf("policies out of order in report %d", f.ReportID)
			}
		}
	}
	for _, limit := range []int{firstPage, firstPage + 1, 3*firstPage + 5} {
		got, err := db.Failures(ctx, store.FailureFilter{Filter: store.Filter{Limit: limit}})
		if err != nil || !reflect.DeepEqual(got, fails[:limit]) {
			t.Errorf("failures, limit %d: %d rows, %v", limit, len(got), err)
		}
	}
	// A filtered listing (one query, the planner's choice) lists the same
	// rows in the same order as the paged one.
	var d3 []store.FailureRow
	for _, f := range fails {
		if f.Domain == "d3.example" {
			d3 = append(d3, f)
		}
	}
	if got, err := db.Failures(ctx, store.FailureFilter{Filter: store.Filter{Domains: []string{"d3.example"}}}); err != nil || !reflect.DeepEqual(got, d3) {
		t.Errorf("failures of one domain: %d rows, %v; want %d", len(got), err, len(d3))
	}

	// While the callback runs, a report is stored and the WAL folded back
	// whole: no reader holds a snapshot.
	checkpointed := func() bool {
		t.Helper()
		if _, err := db.Ingest(ctx, []store.Input{{Data: []byte(fmt.Sprint("late", len(seen))),
			Reports: []*parse.Report{rep("Late", fmt.Sprint(len(seen)), 1)}}}); err != nil {
			t.Fatal(err)
		}
		seen[int64(len(seen))] = true
		var busy, log, done int
		if err := db.write.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &log, &done); err != nil {
			t.Fatal(err)
		}
		return busy == 0
	}
	// Each listing's callback, on its first row past the first page.
	calls := 0
	midway := func() error {
		if calls++; calls == firstPage+1 && !checkpointed() {
			return errors.New("a checkpoint could not complete while the callback ran")
		}
		return nil
	}
	if err := db.EachReport(ctx, store.Filter{}, func(store.ReportInfo) error { return midway() }); err != nil {
		t.Errorf("EachReport: %v", err)
	}
	calls = 0
	if err := db.EachFailure(ctx, store.FailureFilter{}, func(store.FailureRow) error { return midway() }); err != nil {
		t.Errorf("EachFailure: %v", err)
	}
}
