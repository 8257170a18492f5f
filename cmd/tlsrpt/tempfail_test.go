package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An MTA's pipe into `tlsrpt import -` must be told to retry, not to
// bounce, when the database is locked by another process: exit 75
// (EX_TEMPFAIL), nothing stored; once the lock is gone the same message is
// stored.
func TestImportStdinLockedDatabaseExits75(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	if _, errOut, code := run(t, "", "--db", db, "import", "../../testdata/quirks/contact-info-null.json"); code != exitOK {
		t.Fatalf("setup import: exit %d: %s", code, errOut)
	}
	lock, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	conn, err := lock.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	msg, err := os.ReadFile("../../testdata/reporters/postfix-mail.eml")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, string(msg), "--db", db, "--busy-timeout", "100ms", "import", "-")
	if code != exitTempFail || !strings.Contains(errOut, "database is locked") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("locked: exit %d, stdout %q, stderr %q; want %d and one line", code, out, errOut, exitTempFail)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	out, errOut, code = run(t, string(msg), "--db", db, "import", "-")
	if code != exitOK || !strings.Contains(out, "stored:     1 report\n") {
		t.Fatalf("after the lock: exit %d, %q %q", code, out, errOut)
	}
}
