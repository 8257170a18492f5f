package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// migrationsUpTo returns the embedded migrations numbered up to last, and
// the extra ones given, as a file system for migrateWith.
func migrationsUpTo(t *testing.T, last int, extra map[string]string) fs.FS {
	t.Helper()
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, name := range names {
		var n int
		fmt.Sscanf(filepath.Base(name), "%d", &n)
		if n > last {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		fsys[name] = &fstest.MapFile{Data: body}
	}
	for name, body := range extra {
		fsys["migrations/"+name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

// dumpTable returns every row of table, one line each, in the order of
// the lines.
func dumpTable(t *testing.T, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, table string) string {
	t.Helper()
	rows, err := q.QueryContext(context.Background(), "SELECT * FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintln(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return strings.Join(lines, "")
}

// TestDeferredForeignKeysMigration takes a database of schema 4 with
// reports in it through 0005: every policy and failure detail is still
// there, the keys are checked at the commit, not per statement, and
// still checked and still cascade.
func TestDeferredForeignKeysMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v4.db")
	w, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	wal, err := walFile(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	old := &DB{write: w, wal: wal}
	if err := old.migrateWith(ctx, migrationsUpTo(t, 4, nil)); err != nil {
		t.Fatal(err)
	}
	_, err = w.ExecContext(ctx, `
INSERT INTO inputs (id, sha256, size, source, origin, received_at, outcome, stored, data) VALUES
	(1, x'01', 1, 'file', 'a.json', 0, 'stored', 1, x'61'),
	(2, x'02', 1, 'file', 'b.json', 0, 'stored', 1, x'62');
INSERT INTO reports (id, input_id, organization_name, report_id, contact_info, start_time, end_time) VALUES
	(1, 1, 'Google', 'g1', '', 86400, 172799),
	(2, 2, 'Microsoft', 'm1', '', 86400, 172799);
INSERT INTO policies VALUES
	(1, 0, 'sts', 'a.example', 'version: STSv1', 'mx.a.example', 90, 10),
	(2, 0, 'sts', 'a.example', 'version: STSv1', 'mx.a.example', 5, 3),
	(2, 1, 'tlsa', 'a.example', '3 1 1 AB', '', 5, 3);
INSERT INTO failure_details VALUES
	(1, 0, 0, 'certificate-expired', '192.0.2.1', 'mx.a.example', '', '', 6, '', ''),
	(1, 0, 1, 'certificate-expired', '192.0.2.2', 'mx.a.example', '', '', 4, '', ''),
	(2, 1, 0, 'dane-required', '192.0.2.3', 'mx.a.example', 'helo', '198.51.100.1', 3, 'info', 'code');`)
	if err != nil {
		t.Fatal(err)
	}
	policies, details := dumpTable(t, w, "policies"), dumpTable(t, w, "failure_details")
	if strings.Count(policies, "\n") != 3 || strings.Count(details, "\n") != 3 {
		t.Fatalf("seeded:\n%s%s", policies, details)
	}
	w.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	latest, _ := fs.Glob(migrations, "migrations/*.sql")
	if err := db.write.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil || version != len(latest) {
		t.Fatalf("user_version = %d, %v", version, err)
	}
	// The columns of schema 4 (0006 adds counted).
	if got := dumpTable(t, db.write, `(SELECT report_id, position, policy_type, policy_domain, policy_string, mx_host,
successful_sessions, failed_sessions FROM policies)`); got != policies {
		t.Errorf("policies after 0005:\n%s\nwant\n%s", got, policies)
	}
	if got := dumpTable(t, db.write, "failure_details"); got != details {
		t.Errorf("failure details after 0005:\n%s\nwant\n%s", got, details)
	}
	var index string
	if err := db.write.QueryRowContext(ctx, `SELECT tbl_name FROM sqlite_schema WHERE name = 'policies_domain'`).Scan(&index); err != nil || index != "policies" {
		t.Errorf("index policies_domain on %q, %v", index, err)
	}
	checkWriterSettings(t, db)

	// Children before their parents, in one transaction: checked at the
	// commit, so accepted.
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
INSERT INTO failure_details VALUES (3, 0, 0, 'validation-failure', '', '', '', '', 1, '', '');
INSERT INTO policies VALUES (3, 0, 'sts', 'b.example', '', '', 0, 1, 1);
INSERT INTO reports (id, input_id, organization_name, report_id, contact_info, start_time, end_time, fingerprint)
	VALUES (3, 2, 'Yahoo', 'y1', '', 86400, 172799, x'');`)
		return err
	})
	if err != nil {
		t.Errorf("children before parents in one transaction: %v", err)
	}
	// Still checked there.
	for _, orphan := range []string{
		`INSERT INTO policies VALUES (99, 0, 'sts', 'c.example', '', '', 0, 0, 1)`,
		`INSERT INTO failure_details VALUES (1, 7, 0, 'validation-failure', '', '', '', '', 1, '', '')`,
	} {
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, orphan)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY constraint failed") {
			t.Errorf("%s: err = %v", orphan, err)
		}
	}
	// And a report's rows still go with it.
	if _, err := db.write.ExecContext(ctx, `DELETE FROM reports WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.write.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM policies WHERE report_id = 2) +
(SELECT count(*) FROM failure_details WHERE report_id = 2)`).Scan(&left); err != nil || left != 0 {
		t.Errorf("rows of a deleted report left: %d, %v", left, err)
	}
}

// TestEveryForeignKeyDeferred: Ingest sets nothing per transaction (see
// 0005), so a foreign key declared without DEFERRABLE INITIALLY DEFERRED
// would bring back a statement journal for every multi-row insert.
func TestEveryForeignKeyDeferred(t *testing.T) {
	db := testDB(t)
	rows, err := db.write.Query(`SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%REFERENCES%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	tables := 0
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		tables++
		refs := strings.Split(def, "REFERENCES")[1:]
		for _, ref := range refs {
			// Up to the end of this constraint: the next comma outside
			// its parentheses, or the table's end.
			depth, end := 0, len(ref)
		scan:
			for i, c := range ref {
				switch {
				case c == '(':
					depth++
				case c == ')' && depth == 0:
					end = i
					break scan
				case c == ')':
					depth--
				case c == ',' && depth == 0:
					end = i
					break scan
				}
			}
			if clause := strings.Join(strings.Fields(ref[:end]), " "); !strings.Contains(clause, "DEFERRABLE INITIALLY DEFERRED") {
				t.Errorf("%s: foreign key REFERENCES %s is checked per statement", name, clause)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if tables != 6 {
		t.Errorf("%d tables with foreign keys, want 6 (reports, policies, failure_details, input_hashes, arrivals, input_auth)", tables)
	}
}

// TestMigrationBreakingForeignKeysIsRefused: migrations run with foreign
// keys off, so one that leaves rows without their parent must be caught
// before its commit, and the connection must get its foreign keys back.
func TestMigrationBreakingForeignKeysIsRefused(t *testing.T) {
	db := testDB(t)
	seed(t, db)
	ctx := context.Background()
	before := dumpTable(t, db.write, "policies")
	err := db.migrateWith(ctx, migrationsUpTo(t, 99, map[string]string{
		"0099_orphan.sql": `INSERT INTO policies VALUES (999, 0, 'sts', 'x.example', '', '', 0, 0, 1)`,
	}))
	if err == nil || !strings.Contains(err.Error(), "0099_orphan.sql: it leaves 1 rows of policies without the reports row they refer to") {
		t.Fatalf("err = %v", err)
	}
	if got := dumpTable(t, db.write, "policies"); got != before {
		t.Errorf("policies after the refused migration:\n%s\nwant\n%s", got, before)
	}
	latest, _ := fs.Glob(migrations, "migrations/*.sql")
	var version int
	if err := db.write.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != len(latest) {
		t.Errorf("user_version = %d, %v; want %d", version, err, len(latest))
	}
	checkWriterSettings(t, db)
}

// checkWriterSettings: after migrating, the migrating connection has its
// foreign keys and its temporary storage in memory back, and the writer
// has them too.
func checkWriterSettings(t *testing.T, db *DB) {
	t.Helper()
	var fk, temp int
	if err := db.write.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d after migrating, %v", fk, err)
	}
	if err := db.write.QueryRow("PRAGMA temp_store").Scan(&temp); err != nil || temp != 2 {
		t.Errorf("temp_store = %d after migrating, %v; want 2 (memory)", temp, err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	for pragma, want := range map[string]int64{"foreign_keys": 1, "temp_store": 2, "synchronous": 1, "cache_size": -32 << 10,
		"wal_autocheckpoint": 8192, "busy_timeout": 10000} {
		st, err := db.w.Prepare("PRAGMA " + pragma)
		if err != nil {
			t.Fatal(err)
		}
		var got int64
		err = st.Query(nil, func() error { got = st.Int64(0); return nil })
		st.Close()
		if err != nil || got != want {
			t.Errorf("writer's %s = %d, %v; want %d", pragma, got, err, want)
		}
	}
}
