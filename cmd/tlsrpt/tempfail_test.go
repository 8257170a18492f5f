package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// After upgrading a database of schema 5, reprocess --duplicates stores
// the report the old release took for a duplicate (a reused report-id)
// and leaves the true duplicate as it was.
func TestReprocessDuplicatesAfterUpgrade(t *testing.T) {
	data, err := os.ReadFile("../../store/sqlite/testdata/schema5.db")
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "v5.db")
	if err := os.WriteFile(db, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "", "--db", db, "reprocess", "--duplicates")
	if code != exitOK || !strings.Contains(out, "stored:     1 report\nduplicates: 1 report\nreused ids: 1 report stored") {
		t.Fatalf("exit %d, %q %q", code, out, errOut)
	}
	out, _, _ = run(t, "", "--db", db, "summary", "--domain", "example.org", "--since", "2026-03-01", "-f", "csv")
	if !strings.Contains(out, "domain,example.org,,,3,13,8,") {
		t.Errorf("summary after reprocess:\n%s", out)
	}
	out, _, code = run(t, "", "--db", db, "reprocess", "--duplicates")
	if code != exitOK || !strings.Contains(out, "stored:     0 reports\nduplicates: 1 report\n") {
		t.Errorf("again: exit %d, %q", code, out)
	}
}

// A Maildir anyone can mail into may hold messages of the input limit
// each: import's memory must not grow with them (it held up to 2,048
// inputs a batch, and 1.2 GB for 40 such files). Against the built binary,
// its peak memory measured.
func TestImportLargeJunkMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	junk := bytes.Repeat([]byte("junk line of an attachment nobody asked for\r\n"), 31<<20/45)
	for i := range 16 {
		msg := append([]byte("From: x@example.com\r\nSubject: junk\r\nContent-Type: application/octet-stream\r\n\r\n"), junk...)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("j%02d.eml", i)), msg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "--db", filepath.Join(t.TempDir(), "t.db"), "import", dir)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no report:  16 inputs") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss >> 10 // KiB to MiB
	t.Logf("16 messages of 31 MB: peak RSS %d MB", peak)
	if peak > 300 {
		t.Errorf("peak RSS %d MB importing 16 messages of 31 MB, want under 300", peak)
	}
}
