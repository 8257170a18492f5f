package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/ingest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var fixedNow = func() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) }

// run executes tlsrpt in-process and returns its stdout, stderr and exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := newRootCommand(fixedNow)
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	code := exitCode(cmd.ExecuteContext(context.Background()), &errOut)
	return out.String(), errOut.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s--- want\n%s", name, got, want)
	}
}

// sampleDB imports the project's sample and quirk fixtures into a new database.
func sampleDB(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "t.db")
	out, errOut, code := run(t, "", "--db", db, "import", "--workers", "1", "../../testdata/sample", "../../testdata/quirks", "../../testdata/mail")
	if code != exitOK {
		t.Fatalf("import exit %d: %s %s", code, out, errOut)
	}
	return db
}

func TestImportOutputAndExitCodes(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	out, _, code := run(t, "", "--db", db, "import", "../../testdata/sample", "../../testdata/quirks", "../../testdata/mail")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	golden(t, "import.txt", out)

	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"organization-name":"x"}`), 0o644)
	out, errOut, code := run(t, "", "--db", db, "import", bad, "../../testdata/mail/base64-tlsrpt-gzip.eml")
	if code != exitInvalid {
		t.Errorf("exit %d, want %d for an invalid input", code, exitInvalid)
	}
	if !strings.Contains(out, "duplicates: 1 report\n") || !strings.Contains(out, "invalid:    1 input\n") {
		t.Errorf("stdout = %q", out)
	}
	if want := bad + ": invalid report: report-id: missing\n"; errOut != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}

	msg, _ := os.ReadFile("../../testdata/mail/two-reports.eml")
	out, _, code = run(t, string(msg), "--db", db, "import", "-q", "-")
	if code != exitOK || out != "" {
		t.Errorf("quiet stdin import: exit %d, out %q", code, out)
	}
}

func TestSummaryGolden(t *testing.T) {
	db := sampleDB(t)
	for _, format := range []string{"table", "json", "csv"} {
		t.Run(format, func(t *testing.T) {
			out, errOut, code := run(t, "", "--db", db, "summary", "--format", format)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, "summary."+format, out)
		})
	}
	out, _, _ := run(t, "", "--db", db, "summary", "--domain", "Example.NET.", "--since", "2026-03-02", "--until", "2026-03-02", "-f", "json")
	golden(t, "summary-filtered.json", out)
	out, _, _ = run(t, "", "--db", db, "summary", "--since", "1d")
	if out != "no reports match\n" {
		t.Errorf("since 1d before %v: %q", fixedNow(), out)
	}
}

func TestReportsGolden(t *testing.T) {
	db := sampleDB(t)
	out, _, code := run(t, "", "--db", db, "reports", "--domain", "example.net", "--limit", "5")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	golden(t, "reports.txt", out)
	out, _, _ = run(t, "", "--db", db, "reports", "--format", "json", "--domain", "example.com", "--since", "2026-03-01", "--until", "2026-03-01")
	if !strings.Contains(out, `"report_id": "quirk-sts-and-tlsa"`) || !strings.Contains(out, `"successful_sessions": 20,`) {
		t.Errorf("sts+tlsa report listed wrongly: %s", out)
	}
	out, _, code = run(t, "", "--db", db, "reports", "show", "1")
	if code != exitOK {
		t.Fatalf("show exit %d", code)
	}
	golden(t, "reports-show.txt", out)
	if _, errOut, code := run(t, "", "--db", db, "reports", "show", "99999"); code != exitError || !strings.Contains(errOut, "report 99999: store: not found") {
		t.Errorf("missing report: exit %d, %q", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"summary", "--format", "xml"}, `--format "xml": want one of table, json, csv`},
		{[]string{"summary", "--since", "last tuesday"}, `--since: "last tuesday" is not a date`},
		{[]string{"summary", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"import"}, "requires at least 1 arg"},
		{[]string{"reports", "show", "abc"}, `report id "abc" is not a number`},
		{[]string{"serve", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--acme-http-listen", ":80"}, "--acme-http-listen needs --acme-domain"},
		{[]string{"readiness", "--as-of", "soon"}, `--as-of: "soon" is not a date`},
	}
	for _, tt := range tests {
		_, errOut, code := run(t, "", append([]string{"--db", db}, tt.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tt.msg) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d and one line with %q", tt.args, code, errOut, exitUsage, tt.msg)
		}
	}
}

func TestCompletionAndHelp(t *testing.T) {
	out, _, code := run(t, "", "completion", "bash")
	if code != exitOK || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: exit %d", code)
	}
	out, _, _ = run(t, "", "__complete", "summary", "--format", "")
	if !strings.Contains(out, "table\njson\ncsv\n") {
		t.Errorf("format completion = %q", out)
	}
	out, _, _ = run(t, "", "import", "--help")
	if !strings.Contains(out, "tlsrpt import testdata/sample") {
		t.Errorf("import help lacks examples: %q", out)
	}
}

func TestReprocessCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	run(t, "", "--db", db, "import", "../../testdata/mail/no-report.eml")
	out, _, code := run(t, "", "--db", db, "reprocess")
	if code != exitOK || !strings.Contains(out, "no report:  1 input") {
		t.Errorf("reprocess: exit %d, %q", code, out)
	}
}

func TestImportSkipsItsOwnDatabase(t *testing.T) {
	dir := t.TempDir()
	report, _ := os.ReadFile("../../testdata/quirks/no-timezone.json")
	os.WriteFile(filepath.Join(dir, "r.json"), report, 0o644)
	t.Chdir(dir)
	t.Setenv("TLSRPT_DB", "tlsrpt.db") // the default, set the way a user would
	run(t, "", "import", "r.json")
	out, errOut, code := run(t, "", "import", ".")
	if code != exitOK || !strings.Contains(out, "duplicates: 1 report") || !strings.Contains(out, "invalid:    0 inputs") {
		t.Errorf("import of the database's own directory: exit %d, %q %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "tlsrpt.db")); err != nil {
		t.Errorf("TLSRPT_DB not used: %v", err)
	}
}

func TestImportProblemLinesAreBounded(t *testing.T) {
	var s ingest.ImportStats
	for i := range 60 {
		s.Problems = append(s.Problems, fmt.Sprintf("f%d: bad", i))
	}
	s.Invalid, s.MoreProblems = 65, 5
	var out, errOut bytes.Buffer
	printImportStats(&out, &errOut, s, true)
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if len(lines) != 51 || lines[49] != "f49: bad" || lines[50] != "... and 15 more problems" {
		t.Errorf("stderr:\n%s", errOut.String())
	}
}

func TestCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	stop := cpuProfile(path)
	run(t, "", "--db", filepath.Join(t.TempDir(), "t.db"), "summary")
	stop()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("profile: %v", err)
	}
	cpuProfile("")() // unset: nothing to stop
}
