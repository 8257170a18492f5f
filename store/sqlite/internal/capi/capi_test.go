package capi

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func open(t *testing.T) *Conn {
	t.Helper()
	c, err := Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func prepare(t *testing.T, c *Conn, sql string) *Stmt {
	t.Helper()
	s, err := c.Prepare(sql)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Every kind of argument goes in and comes back as it was: empty texts and
// blobs stay empty, not NULL; texts are copied at the bind, so the next
// statement's arguments cannot change rows already written.
func TestBindRoundTrip(t *testing.T) {
	c := open(t)
	if err := c.Exec(`CREATE TABLE t (i INTEGER, s TEXT, b BLOB, n); CREATE TABLE u (x)`); err != nil {
		t.Fatal(err)
	}
	ins := prepare(t, c, `INSERT INTO t VALUES (?, ?, ?, ?), (?, ?, ?, ?)`)
	long := strings.Repeat("é", 5000) // grows the arena past its first 4 KiB
	n, err := ins.Exec([]any{int64(-1 << 62), "", []byte{}, nil, 7, long, []byte{0, 1, 2}, "x\x00y"})
	if err != nil || n != 2 {
		t.Fatalf("insert: %d rows, %v", n, err)
	}
	if _, err := ins.Exec([]any{int64(3), "zzzz", []byte("zz"), nil, 4, "w", []byte("w"), nil}); err != nil {
		t.Fatal(err)
	}
	sel := prepare(t, c, `SELECT i, s, typeof(s), b, typeof(b), typeof(n), n FROM t ORDER BY rowid`)
	var got []string
	err = sel.Query(nil, func() error {
		got = append(got, strings.Join([]string{sel.Text(0), sel.Text(1), sel.Text(2), sel.Text(3), sel.Text(4), sel.Text(5), sel.Text(6)}, "|"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-4611686018427387904||text||blob|null|", "7|" + long + "|text|\x00\x01\x02|blob|text|x\x00y",
		"3|zzzz|text|zz|blob|null|", "4|w|text|w|blob|null|"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%q\nwant\n%q", got, want)
	}
	var sum int64
	count := prepare(t, c, `SELECT count(*), sum(length(s)) FROM t WHERE s = ?`)
	for range 2 { // a statement runs again after its reset
		if err := count.Query([]any{"w"}, func() error { sum += count.Int64(0) + count.Int64(1); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if sum != 4 {
		t.Errorf("count and length twice = %d, want 4", sum)
	}
}

func TestErrorsNameTheProblem(t *testing.T) {
	c := open(t)
	if err := c.Exec(`CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Prepare(`INSERT INTO nowhere VALUES (1)`); err == nil || !strings.Contains(err.Error(), "no such table: nowhere") {
		t.Errorf("prepare: %v", err)
	}
	ins := prepare(t, c, `INSERT INTO t VALUES (?, ?)`)
	if _, err := ins.Exec([]any{"a"}); err == nil || !strings.Contains(err.Error(), "1 arguments for 2 parameters") {
		t.Errorf("too few: %v", err)
	}
	if _, err := ins.Exec([]any{"a", 1.5}); err == nil || !strings.Contains(err.Error(), "cannot bind a float64") {
		t.Errorf("float: %v", err)
	}
	if _, err := ins.Exec([]any{"a", 1}); err != nil {
		t.Fatal(err)
	}
	_, err := ins.Exec([]any{"a", 2})
	var e *Error
	if !errors.As(err, &e) || e.Code != 1555 || !strings.Contains(e.Msg, "UNIQUE constraint failed: t.k") {
		t.Errorf("duplicate key: %v", err)
	}
	if _, err := ins.Exec([]any{"b", nil}); err == nil || !strings.Contains(err.Error(), "NOT NULL constraint failed: t.v") {
		t.Errorf("null: %v", err)
	}
	// The statement is usable after its errors.
	if n, err := ins.Exec([]any{"c", 3}); n != 1 || err != nil {
		t.Errorf("after errors: %d, %v", n, err)
	}
	if err := c.Exec(`BEGIN; INSERT OR ROLLBACK INTO t VALUES ('a', 9)`); err == nil || c.InTransaction() {
		t.Errorf("OR ROLLBACK: %v, in a transaction %v", err, c.InTransaction())
	}
	if err := c.Exec(`BEGIN`); err != nil || !c.InTransaction() {
		t.Errorf("begin: %v, in a transaction %v", err, c.InTransaction())
	}
	if err := c.Exec(`ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	// A row cannot run another statement: their arguments share the arena.
	sel := prepare(t, c, `SELECT k FROM t WHERE k > ?`)
	err = sel.Query([]any{""}, func() error {
		_, err := ins.Exec([]any{"z" + sel.Text(0), 1})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "another statement of the connection is running") {
		t.Errorf("a statement run from a row: %v", err)
	}
	if n, err := ins.Exec([]any{"d", 4}); n != 1 || err != nil {
		t.Errorf("after the refused nesting: %d, %v", n, err)
	}
	ins.Close()
	if _, err := ins.Exec([]any{"e", 5}); err == nil {
		t.Error("a closed statement ran")
	}
}

func TestScalarFunction(t *testing.T) {
	c := open(t)
	err := c.CreateFunction("joined", 2, func(args [][]byte) (string, error) {
		if args[0] == nil {
			return "", errors.New("joined: the first argument is NULL")
		}
		return string(bytes.ToUpper(args[0])) + "+" + string(args[1]), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sel := prepare(t, c, `SELECT joined(?, ?)`)
	var got []string
	for _, args := range [][]any{{"ab", "cd"}, {"", ""}, {"x", nil}} {
		if err := sel.Query(args, func() error { got = append(got, sel.Text(0)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, ",") != "AB+cd,+,X+" {
		t.Errorf("got %q", got)
	}
	err = sel.Query([]any{nil, "y"}, func() error { return nil })
	if err == nil || !strings.Contains(err.Error(), "joined: the first argument is NULL") {
		t.Errorf("error from the function: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	funcs.Lock()
	left := len(funcs.byID)
	funcs.Unlock()
	if left != 0 {
		t.Errorf("%d functions still registered after closing", left)
	}
}

func TestOpenFails(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "missing", "t.db"))
	if err == nil || !strings.Contains(err.Error(), "unable to open database file") {
		t.Errorf("open in a missing directory: %v", err)
	}
}

// A statement with megabytes of arguments grows the arena for itself; it
// is given back after, and what was written is whole.
func TestArenaGivenBack(t *testing.T) {
	c := open(t)
	if err := c.Exec(`CREATE TABLE t (b BLOB NOT NULL, s TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789"), 300_000)
	if _, err := prepare(t, c, `INSERT INTO t VALUES (?, ?)`).Exec([]any{big, "after the blob"}); err != nil {
		t.Fatal(err)
	}
	if c.size != keepArena {
		t.Errorf("arena after a 3 MB statement: %d bytes, want %d", c.size, keepArena)
	}
	sel := prepare(t, c, `SELECT b, s FROM t`)
	err := sel.Query(nil, func() error {
		if b, s := sel.Text(0), sel.Text(1); b != string(big) || s != "after the blob" {
			t.Errorf("read back %d bytes and %q", len(b), s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
