package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

func TestSeriesRoundTripAndMerge(t *testing.T) {
	s, err := parseSeries([]byte("20730:5 20731:0 20740:12"))
	if err != nil {
		t.Fatal(err)
	}
	s = s.add(series{{20740, 3}, {20700, 1}, {20735, 2}})
	if got, want := s.String(), "20700:1 20730:5 20731:0 20735:2 20740:15"; got != want {
		t.Errorf("merged = %q, want %q", got, want)
	}
	if empty, err := parseSeries(nil); err != nil || len(empty) != 0 || empty.String() != "" {
		t.Errorf("empty series = %v, %v", empty, err)
	}
}

func TestSeriesRefusesGarbage(t *testing.T) {
	for _, bad := range []string{"x", "1", "1:", ":1", "1:2:3", "1:2  3:4", "1:2 ", "-1:2", "1:-2", "1:99999999999999999999", "1;2", "5:1 3:1", "5:1 5:2"} {
		if s, err := parseSeries([]byte(bad)); err == nil {
			t.Errorf("%q parsed as %v", bad, s)
		}
	}
}

// TestSeriesMergeAcrossBatches stores one MX group over several
// transactions, on a day already stored and on new days before and after.
func TestSeriesMergeAcrossBatches(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	for i, d := range []int{5, 5, 9, 2} {
		_, err := db.Ingest(ctx, []store.Input{{Data: []byte{byte(i)}, Reports: []*parse.Report{rep("O", fmt.Sprint(i), d,
			parse.Policy{Type: "sts", Domain: "a.example", FailedSessions: int64(i + 1),
				FailureDetails: []parse.FailureDetail{fdl("mx.a.example", "", "certificate-expired", int64(i+1))}})}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	var days string
	if err := db.read.QueryRow(`SELECT days FROM mx_series`).Scan(&days); err != nil {
		t.Fatal(err)
	}
	d := func(n int) int64 { return dayOf(rep("", "", n).DateRange.Start) }
	if want := fmt.Sprintf("%d:4 %d:3 %d:3", d(2), d(5), d(9)); days != want {
		t.Errorf("series = %q, want %q", days, want)
	}
	mx, err := store.AllMXTotals(ctx, db, store.Filter{Since: dayTime(d(3)), Until: dayTime(d(8))})
	if err != nil || len(mx) != 1 || mx[0].FailedSessions != 3 || dayOf(mx[0].First) != d(5) || dayOf(mx[0].Last) != d(5) {
		t.Errorf("totals on days 3-8 = %+v, %v", mx, err)
	}
	if mx, _ := store.AllMXTotals(ctx, db, store.Filter{Since: dayTime(d(6)), Until: dayTime(d(8))}); len(mx) != 0 {
		t.Errorf("totals on days without failures = %+v", mx)
	}
}

// TestCorruptStoredSeriesFailsTheBatch: a stored series the writer cannot
// read refuses the batch that would merge into it, with an error naming
// the table, and the store is left as it was.
func TestCorruptStoredSeriesFailsTheBatch(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	in := func(id string) []store.Input {
		return []store.Input{{Data: []byte(id), Reports: []*parse.Report{rep("O", id, 5,
			parse.Policy{Type: "sts", Domain: "a.example", FailedSessions: 1,
				FailureDetails: []parse.FailureDetail{fdl("mx.a.example", "", "certificate-expired", 1)}})}}}
	}
	if _, err := db.Ingest(ctx, in("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.Exec(`UPDATE mx_series SET days = '5:1 3:1'`); err != nil {
		t.Fatal(err)
	}
	_, err := db.Ingest(ctx, in("2"))
	if err == nil || !strings.Contains(err.Error(), "mx_series") || !strings.Contains(err.Error(), "not in ascending order") {
		t.Fatalf("err = %v", err)
	}
	if list, _ := db.Reports(ctx, store.Filter{}); len(list) != 1 {
		t.Errorf("reports after the refused batch = %d, want 1", len(list))
	}
}

// TestSeriesMigrationMatchesWriter checks migration 0004's conversion of
// the day-by-day rollup against the series the writer keeps.
func TestSeriesMigrationMatchesWriter(t *testing.T) {
	db := testDB(t)
	seed(t, db)
	ctx := context.Background()
	for i, d := range []int{3, 1, 3} { // a day before the seed's and one twice
		_, err := db.Ingest(ctx, []store.Input{{Data: []byte{byte(10 + i)}, Reports: []*parse.Report{rep("Yahoo", fmt.Sprint(i), d,
			parse.Policy{Type: "sts", Domain: "a.example", FailedSessions: 2,
				FailureDetails: []parse.FailureDetail{fdl("mx1.a.example", "", "certificate-expired", 2)}})}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	dump := func() string {
		var b strings.Builder
		rows, err := db.write.QueryContext(ctx, `SELECT * FROM mx_series ORDER BY 1, 2, 3`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var d, mx, rt, days string
			rows.Scan(&d, &mx, &rt, &days)
			fmt.Fprintln(&b, d, mx, rt, days)
		}
		return b.String()
	}
	written := dump()
	if strings.Count(written, "\n") != 2 {
		t.Fatalf("seeded series:\n%s", written)
	}
	body, err := migrations.ReadFile("migrations/0004_mx_series.sql")
	if err != nil {
		t.Fatal(err)
	}
	// Back to the schema of 0001, rows expanded day by day, then 0004.
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT policy_domain, mx_host, result_type, days FROM mx_series`)
		if err != nil {
			return err
		}
		var perDay [][]any
		for rows.Next() {
			var d, mx, rt string
			var days []byte
			rows.Scan(&d, &mx, &rt, &days)
			eachDay(days, func(day, n int64) { perDay = append(perDay, []any{d, mx, rt, day, n}) })
		}
		rows.Close()
		if _, err := tx.ExecContext(ctx, `DROP TABLE mx_series; CREATE TABLE mx_days (policy_domain TEXT NOT NULL,
mx_host TEXT NOT NULL, result_type TEXT NOT NULL, day INTEGER NOT NULL, failed_sessions INTEGER NOT NULL,
PRIMARY KEY (policy_domain, mx_host, result_type, day)) WITHOUT ROWID`); err != nil {
			return err
		}
		for i := len(perDay) - 1; i >= 0; i-- { // out of order on purpose
			if _, err := tx.ExecContext(ctx, `INSERT INTO mx_days VALUES (?, ?, ?, ?, ?)`, perDay[i]...); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, string(body))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(); got != written {
		t.Errorf("migrated series:\n%s\nwant\n%s", got, written)
	}
}

// TestFailingStatementLeavesNothing: the batch's last statement (its
// policy rollup) refused after its inputs, reports, policies and the other
// rollups went in, in each way SQLite can end a statement: the whole batch
// is undone, and the store takes the same batch afterwards.
func TestFailingStatementLeavesNothing(t *testing.T) {
	for i, how := range []string{"ABORT", "ROLLBACK", "FAIL"} {
		t.Run(how, func(t *testing.T) {
			db := testDB(t)
			ctx := context.Background()
			seed(t, db)
			before, _ := db.DomainTotals(ctx, store.Filter{})
			reports, _ := db.Reports(ctx, store.Filter{})
			countInputs := func() (n int) {
				if err := db.write.QueryRow(`SELECT count(*) FROM inputs`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			inputs := countInputs()
			if _, err := db.write.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON domain_policies BEGIN SELECT RAISE(` + how + `, 'refused by the test'); END`); err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprint("late", i)
			batch := []store.Input{{Data: []byte(id), Reports: []*parse.Report{rep("O", id, 5,
				parse.Policy{Type: "sts", Domain: "a.example", FailedSessions: 1,
					FailureDetails: []parse.FailureDetail{fdl("mx.a.example", "", "certificate-expired", 1)}})}}}
			if _, err := db.Ingest(ctx, batch); err == nil || !strings.Contains(err.Error(), "refused by the test") {
				t.Fatalf("err = %v", err)
			}
			if after, _ := db.DomainTotals(ctx, store.Filter{}); !slices.Equal(after, before) {
				t.Errorf("totals after the refused batch = %+v, want %+v", after, before)
			}
			if list, _ := db.Reports(ctx, store.Filter{}); len(list) != len(reports) {
				t.Errorf("reports after the refused batch = %d, want %d", len(list), len(reports))
			}
			if n := countInputs(); n != inputs {
				t.Errorf("inputs after the refused batch = %d, want %d", n, inputs)
			}
			if _, err := db.write.Exec(`DROP TRIGGER refuse`); err != nil {
				t.Fatal(err)
			}
			res, err := db.Ingest(ctx, batch)
			if err != nil || res[0].Stored != 1 {
				t.Fatalf("after: %+v, %v", res, err)
			}
		})
	}
}
