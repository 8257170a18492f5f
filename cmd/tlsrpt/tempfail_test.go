package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tlsrpt/tlsrpt/server"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
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

// On a full disk (a 3 MB file system mounted for the test, as root):
// import exits 75 saying which database is full and how much was
// committed before, nothing committed is lost, /healthz says the store
// cannot take writes, and once there is room the same import stores the
// rest.
func TestFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small file system (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	db := filepath.Join(dir, "t.db")
	if _, errOut, code := run(t, "", "--db", db, "import", "../../testdata/quirks/contact-info-null.json"); code != exitOK {
		t.Fatalf("first import: %s", errOut)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(st.Bavail)*st.Bsize-1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "", "--db", db, "import", "--batch", "16", "../../testdata/sample")
	if code != exitTempFail || !strings.Contains(errOut, "importing into "+db+": stopped after ") ||
		!strings.Contains(errOut, "full") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("full disk: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Logf("on a full disk: %s", errOut)
	store, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	server.Healthz(store, server.DiskCheck(dir, 1<<20)).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "cannot take writes") {
		t.Errorf("healthz on a full disk: %d %q", rec.Code, rec.Body.String())
	}
	store.Close()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = run(t, "", "--db", db, "import", "../../testdata/sample")
	if code != exitOK {
		t.Fatalf("with room again: exit %d %s %s", code, out, errOut)
	}
	out, _, _ = run(t, "", "--db", db, "reports", "--limit", "0", "--since", "2020-01-01", "-f", "csv")
	if n := strings.Count(out, "\n") - 1; n != 211 {
		t.Errorf("%d reports stored, want 211: the sample's 210 and the first", n)
	}
}

// Importing the same folder again keeps no byte twice: every input is an
// arrival of what is kept, and says so.
func TestReimportKeepsBytesOnce(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	for range 3 {
		if _, errOut, code := run(t, "", "--db", db, "import", "../../testdata/sample"); code != exitOK {
			t.Fatalf("import: %s", errOut)
		}
	}
	out, _, _ := run(t, "", "--db", db, "import", "../../testdata/sample")
	if !strings.Contains(out, "duplicates: 210 reports\n") || !strings.Contains(out, "kept before: 210 inputs with the same bytes") {
		t.Errorf("fourth import:\n%s", out)
	}
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inputs, _ := st.Inputs(context.Background(), store.InputFilter{})
	if len(inputs) != 210 {
		t.Errorf("%d inputs kept after four imports of 210 files, want 210", len(inputs))
	}
}

// A newcomer's mistakes: a mistyped command or value is a usage error
// (exit 2) saying what is wrong; a read-only command on a path with no
// database says so (exit 1) and creates nothing.
func TestNewcomerMistakes(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	for _, tt := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"sumary"}, exitUsage, `unknown command "sumary" for "tlsrpt" (did you mean summary?)`},
		{[]string{"--log-level", "loud", "summary"}, exitUsage, `--log-level "loud"`},
		{[]string{"import", "--batch", "0", "x"}, exitUsage, "--batch at least 1"},
		{[]string{"import", "--workers", "-1", "x"}, exitUsage, "--workers must be 0"},
		{[]string{"failures", "-n", "-1"}, exitUsage, "--limit -1"},
		{[]string{"summary", "--since", "2026-10-02", "--until", "2026-10-01"}, exitUsage, "--since 2026-10-02 is after --until 2026-10-01"},
		{[]string{"summary"}, exitError, "no database at " + db + ": create one with tlsrpt --db " + db + " import"},
		{[]string{"readiness"}, exitError, "no database at"},
		{[]string{"reports"}, exitError, "no database at"},
		{[]string{"failures"}, exitError, "no database at"},
		{[]string{"check-new"}, exitError, "no database at"},
	} {
		_, errOut, code := run(t, "", append([]string{"--db", db}, tt.args...)...)
		if code != tt.code || !strings.Contains(errOut, tt.msg) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want %d with %q", tt.args, code, errOut, tt.code, tt.msg)
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a read-only command created the database")
	}
	if out, _, code := run(t, ""); code != exitOK || !strings.Contains(out, "Usage:") {
		t.Errorf("tlsrpt alone: exit %d, %q", code, out)
	}
}

// A folder of reports with notes beside them: the notes are skipped and
// counted, the reports stored, and the import succeeds. A file named
// explicitly is still refused when it is no report.
func TestImportFolderWithOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"README.md":    "# Reports\n\nDaily TLS reports, kept for the audit.\n",
		"notes.txt":    "mx2 had an expired certificate in October\n",
		"logo.png":     "\x89PNG\r\n\x1a\n....",
		"report.json":  `{"organization-name":"Org","date-range":{"start-datetime":"2026-10-01T00:00:00Z","end-datetime":"2026-10-01T23:59:59Z"},"contact-info":"c","report-id":"r1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`,
		"broken.json":  `{"organization-name":"x"}`,
		"unnamed-junk": "not a report, but no extension to tell",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(t.TempDir(), "t.db")
	out, errOut, code := run(t, "", "--db", db, "import", dir)
	if !strings.Contains(out, "stored:     1 report\n") || !strings.Contains(out, "skipped:    3 files that are no reports by name and content\n") {
		t.Errorf("stdout %q", out)
	}
	// broken.json and the extensionless junk are refused, not skipped.
	if code != exitInvalid || !strings.Contains(errOut, "broken.json") || !strings.Contains(errOut, "unnamed-junk") || strings.Contains(errOut, "README") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if _, errOut, code := run(t, "", "--db", db, "import", filepath.Join(dir, "notes.txt")); code != exitInvalid || !strings.Contains(errOut, "notes.txt") {
		t.Errorf("notes.txt named: exit %d, %q", code, errOut)
	}
}

// The help of the commands that never open a database leaves out its
// flags; the others show them.
func TestHelpShowsTheFlagsACommandUses(t *testing.T) {
	for _, tt := range []struct {
		args []string
		db   bool
	}{
		{[]string{"policy", "--help"}, false}, {[]string{"policy", "validate", "--help"}, false},
		{[]string{"check", "--help"}, false}, {[]string{"completion", "bash", "--help"}, false},
		{[]string{"summary", "--help"}, true}, {[]string{"import", "--help"}, true},
	} {
		out, _, code := run(t, "", tt.args...)
		if code != exitOK || strings.Contains(out, "--db string") != tt.db {
			t.Errorf("%v: exit %d, --db shown %v, want %v", tt.args, code, strings.Contains(out, "--db string"), tt.db)
		}
	}
}

// The readiness example in docs/REFERENCE.md is what the command prints on
// the sample.
func TestReadinessExampleInReference(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	if _, errOut, code := run(t, "", "--db", db, "import", "-q", "../../testdata/sample"); code != exitOK {
		t.Fatal(errOut)
	}
	out, _, _ := run(t, "", "--db", db, "readiness", "--as-of", "2026-11-01")
	ref, err := os.ReadFile("../../docs/REFERENCE.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ref), "$ tlsrpt readiness --as-of 2026-11-01\n"+out+"```") {
		t.Errorf("docs/REFERENCE.md's readiness example is not what the command prints:\n%s", out)
	}
}

// The README's first example is what the commands print.
func TestReadmeTryIt(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	imp, _, _ := run(t, "", "--db", db, "import", "../../testdata/sample")
	sum, _, _ := run(t, "", "--db", db, "summary")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```\n"+imp+sum+"```") {
		t.Errorf("README's Try it is not what the commands print:\n%s%s", imp, sum)
	}
}
