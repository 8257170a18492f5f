package capi

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// The two benchmarks insert the same rows, shaped like failure details (11
// columns, 7 of them text, 3 empty), 100 to a statement, 3,000 to a
// transaction: through database/sql's driver (as the writer did before
// capi) and through capi. Their ns/row is what binding costs the writer.

const benchTable = `CREATE TABLE d (report_id INTEGER NOT NULL, pp INTEGER NOT NULL, pos INTEGER NOT NULL,
rt TEXT NOT NULL, ip TEXT NOT NULL, mx TEXT NOT NULL, helo TEXT NOT NULL, rip TEXT NOT NULL,
failed INTEGER NOT NULL, info TEXT NOT NULL, code TEXT NOT NULL, PRIMARY KEY (report_id, pp, pos)) WITHOUT ROWID`

const benchRowsPerStatement, benchRowsPerTx = 100, 3000

var benchInsert = `INSERT INTO d VALUES ` + strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?),", benchRowsPerStatement), ",")

// benchRows returns a transaction's rows; next renumbers them so that
// every transaction inserts new keys.
func benchRows() (rows [][]any, next func()) {
	rows = make([][]any, benchRowsPerTx)
	for i := range rows {
		rows[i] = []any{int64(0), int64(0), int64(i % 3), "certificate-expired", fmt.Sprintf("192.0.2.%d", i%250),
			fmt.Sprintf("mx%d.d%05d.example", i%2, i%10000), "", fmt.Sprintf("198.51.100.%d", i%250), int64(i%50 + 1), "", ""}
	}
	n := int64(0)
	return rows, func() {
		for _, r := range rows {
			r[0] = n
			n++
		}
	}
}

func BenchmarkInsertThroughDriver(b *testing.B) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "b.db")+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(benchTable); err != nil {
		b.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	rows, next := benchRows()
	var args []driver.NamedValue
	err = conn.Raw(func(dc any) error {
		st, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, benchInsert)
		if err != nil {
			return err
		}
		defer st.Close()
		exec := func(q string) error { _, err := dc.(driver.ExecerContext).ExecContext(ctx, q, nil); return err }
		for b.Loop() {
			next()
			if err := exec("BEGIN"); err != nil {
				return err
			}
			for r := 0; r < len(rows); r += benchRowsPerStatement {
				args = args[:0]
				for _, row := range rows[r : r+benchRowsPerStatement] {
					for _, v := range row {
						args = append(args, driver.NamedValue{Ordinal: len(args) + 1, Value: v})
					}
				}
				if _, err := st.(driver.StmtExecContext).ExecContext(ctx, args); err != nil {
					return err
				}
			}
			if err := exec("COMMIT"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRowsPerTx), "ns/row")
}

func BenchmarkInsertThroughCAPI(b *testing.B) {
	c, err := Open(filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; ` + benchTable); err != nil {
		b.Fatal(err)
	}
	st, err := c.Prepare(benchInsert)
	if err != nil {
		b.Fatal(err)
	}
	rows, next := benchRows()
	var args []any
	for b.Loop() {
		next()
		if err := c.Exec("BEGIN"); err != nil {
			b.Fatal(err)
		}
		for r := 0; r < len(rows); r += benchRowsPerStatement {
			args = args[:0]
			for _, row := range rows[r : r+benchRowsPerStatement] {
				args = append(args, row...)
			}
			if _, err := st.Exec(args); err != nil {
				b.Fatal(err)
			}
		}
		if err := c.Exec("COMMIT"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRowsPerTx), "ns/row")
}
