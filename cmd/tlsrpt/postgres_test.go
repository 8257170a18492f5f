package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/imaptest"
	"github.com/tlsrpt/tlsrpt/internal/pgtest"
	"github.com/tlsrpt/tlsrpt/internal/reportgen"
	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store/postgres"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
)

// pg is the PostgreSQL the command tests share, nil when it cannot run
// here (those tests skip, saying why).
var pg *pgtest.Server

func TestMain(m *testing.M) {
	if pgtest.Skip() == "" {
		var err error
		if pg, err = pgtest.Start("fsync=off"); err != nil {
			fmt.Fprintln(os.Stderr, "postgres:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if pg != nil {
		pg.Stop()
	}
	os.Exit(code)
}

// TestCommandsOnPostgres: the same imports give the same answers on
// PostgreSQL as on SQLite, command by command.
func TestCommandsOnPostgres(t *testing.T) {
	if pg == nil {
		t.Skip(pgtest.Skip())
	}
	lite := filepath.Join(t.TempDir(), "t.db")
	url := pg.NewDatabase(t)
	imports := []string{"../../testdata/sample", "../../testdata/quirks", "../../testdata/mail"}
	for _, db := range []string{lite, url} {
		// One batch: the ids are handed out in the same order on both.
		out, errOut, code := run(t, "", append([]string{"--db", db, "import", "--workers", "1", "--batch", "10000"}, imports...)...)
		if code != exitOK {
			t.Fatalf("import into %s: exit %d: %s %s", db, code, out, errOut)
		}
		// Again: every report a duplicate, every content known.
		if out, _, _ := run(t, "", append([]string{"--db", db, "import"}, imports...)...); !strings.Contains(out, "stored:     0 reports") {
			t.Errorf("import again into %s: %s", db, out)
		}
	}
	for _, args := range [][]string{
		{"summary"},
		{"summary", "--format", "json"},
		{"summary", "--by", "day", "--format", "csv"},
		{"summary", "--by", "result"},
		{"summary", "--by", "sender"},
		{"summary", "--by", "sending-ip", "--domain", "example.org"},
		{"summary", "--authenticated-only"},
		{"readiness", "--as-of", "2026-11-01", "--format", "json"},
		{"readiness", "--as-of", "2026-10-15", "--window", "7"},
		{"reports", "--limit", "0", "--format", "csv"},
		{"failures", "--limit", "0", "--domain", "example.org", "--format", "csv"},
	} {
		want, _, wcode := run(t, "", append([]string{"--db", lite}, args...)...)
		got, errOut, code := run(t, "", append([]string{"--db", url}, args...)...)
		if code != wcode || got != want {
			t.Errorf("%v: PostgreSQL (exit %d, %s) and SQLite (exit %d) differ:\n--- postgres\n%.2000s\n--- sqlite\n%.2000s", args, code, errOut, wcode, got, want)
		}
	}
	// check-new moves its mark in the database.
	if _, _, code := run(t, "", "--db", url, "check-new", "--mark-only"); code != exitOK {
		t.Errorf("check-new --mark-only: exit %d", code)
	}
	if out, _, code := run(t, "", "--db", url, "check-new"); code != exitOK || strings.TrimSpace(out) != "" {
		t.Errorf("check-new after the mark: exit %d %q", code, out)
	}
	// The password comes from a file, never the command line; a URL with
	// one is not printed.
	bad := strings.Replace(url, "postgres@", "postgres:secret@", 1)
	bad = strings.Replace(bad, fmt.Sprint(pg.Port), "1", 1) // nothing listens there
	_, errOut, code := run(t, "", "--db", bad, "summary")
	if code != exitTempFail || strings.Contains(errOut, "secret") {
		t.Errorf("unreachable database: exit %d: %s", code, errOut)
	}
}

// TestTwoServersOnePostgres: two serve processes on one database, every
// report posted to both at once, as a sender retrying through a load
// balancer might: each report is stored once; one server answers 201 and
// the other 200 (202 when its commit took longer than --store-wait).
func TestTwoServersOnePostgres(t *testing.T) {
	if pg == nil {
		t.Skip(pgtest.Skip())
	}
	url := pg.NewDatabase(t)
	bin := buildBinary(t)
	addrs := []string{testkit.FreeAddr(t), testkit.FreeAddr(t)}
	for i, addr := range addrs {
		cmd := startServe(t, bin, url, addr, "--spool", filepath.Join(t.TempDir(), fmt.Sprint("spool", i)))
		t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	}
	g := reportgen.New(reportgen.Options{Domains: 50, Seed: 7})
	const n = 150
	client := &http.Client{Timeout: 20 * time.Second}
	var created, seen, accepted atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		r, _ := g.Next()
		r.ReportID = fmt.Sprintf("both-%d", i)
		body := r.JSON()
		statuses := make([]int, 2)
		for j, addr := range addrs {
			wg.Go(func() {
				resp, err := client.Post("http://"+addr+"/tlsrpt", "application/tlsrpt+json", bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses[j] = resp.StatusCode
				switch resp.StatusCode {
				case http.StatusCreated:
					created.Add(1)
				case http.StatusOK:
					seen.Add(1)
				case http.StatusAccepted:
					accepted.Add(1)
				default:
					t.Errorf("report %d: %d", i, resp.StatusCode)
				}
			})
		}
		if i%10 == 9 {
			wg.Wait()
		}
	}
	wg.Wait()
	if created.Load() > n || created.Load()+accepted.Load() < n {
		t.Errorf("%d created, %d already stored, %d accepted for %d reports posted twice", created.Load(), seen.Load(), accepted.Load(), n)
	}
	// Once the spools are drained, each report is in the store once.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _, _ := run(t, "", "--db", url, "reports", "--limit", "0", "--format", "csv")
		if lines := strings.Count(out, "\n") - 1; lines == n {
			break
		} else if lines > n || time.Now().After(deadline) {
			t.Fatalf("%d reports stored for %d posted (twice each)", lines, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d answered 201, %d answered 200, %d answered 202", created.Load(), seen.Load(), accepted.Load())
}

// TestDBCopyBothWays: SQLite to PostgreSQL and back, every command
// answering the same on all three; a second run goes on from the first's
// mark and copies nothing twice.
func TestDBCopyBothWays(t *testing.T) {
	if pg == nil {
		t.Skip(pgtest.Skip())
	}
	lite := sampleDB(t)
	// A refused input, an arrival of bytes kept before, a reused report-id,
	// and check-new's mark.
	if _, _, code := run(t, "", "--db", lite, "import", "../../testdata/sample/google!example.com!1790812800!1790899199.json.gz"); code != exitOK {
		t.Fatal("re-import")
	}
	run(t, "not a report\n", "--db", lite, "import", "-")
	if _, _, code := run(t, "", "--db", lite, "import", "../../testdata/reporters"); code != exitOK && code != exitInvalid {
		t.Fatal("reporters")
	}
	run(t, "", "--db", lite, "check-new", "--mark-only")
	url := pg.NewDatabase(t)
	out, errOut, code := run(t, "", "db", "copy", lite, url)
	if code != exitOK || !strings.Contains(out, "verified:") {
		t.Fatalf("copy to PostgreSQL: exit %d\n%s%s", code, out, errOut)
	}
	back := filepath.Join(t.TempDir(), "back.db")
	if out, errOut, code := run(t, "", "db", "copy", url, back); code != exitOK || !strings.Contains(out, "verified:") {
		t.Fatalf("copy back: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"summary", "--format", "json"},
		{"readiness", "--as-of", "2026-11-01", "--format", "json"},
		{"reports", "--limit", "0", "--format", "json"},
		{"failures", "--limit", "0", "--format", "csv"},
		{"check-new", "--format", "json"},
	} {
		want, _, wcode := run(t, "", append([]string{"--db", lite}, args...)...)
		for _, db := range []string{url, back} {
			got, _, code := run(t, "", append([]string{"--db", db}, args...)...)
			if code != wcode || got != want {
				t.Errorf("%v on %s differs from the original:\n%.1500s\n--- original\n%.1500s", args, db, got, want)
			}
		}
	}
	stats := func(db string) string {
		out, errOut, code := run(t, "", "--db", db, "db", "stats", "--format", "json")
		if code != exitOK {
			t.Fatalf("db stats: %d %s", code, errOut)
		}
		var s statsJSON
		json.Unmarshal([]byte(out), &s)
		s.Database, s.Size = "", 0
		b, _ := json.Marshal(s)
		return string(b)
	}
	if a, b, c := stats(lite), stats(url), stats(back); a != b || a != c {
		t.Errorf("stats differ:\n%s\n%s\n%s", a, b, c)
	}
	// Run again: it goes on from its mark, and copies nothing more.
	out, errOut, code = run(t, "", "db", "copy", lite, url)
	if code != exitOK || !strings.Contains(out, "copied 0 inputs, 0 later arrivals and 0 reports") || !strings.Contains(out, "going on from an earlier copy") {
		t.Errorf("copy again: exit %d\n%s%s", code, out, errOut)
	}
}

// TestDBBackup: a copy of a SQLite file in use opens as a store with the
// same answers.
func TestDBBackup(t *testing.T) {
	lite := sampleDB(t)
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, errOut, code := run(t, "", "--db", lite, "db", "backup", backup); code != exitOK || !strings.Contains(errOut, "backed up") {
		t.Fatalf("backup: exit %d %s", code, errOut)
	}
	want, _, _ := run(t, "", "--db", lite, "summary", "--format", "json")
	got, _, _ := run(t, "", "--db", backup, "summary", "--format", "json")
	if got != want {
		t.Errorf("the backup answers differently")
	}
	if _, errOut, code := run(t, "", "--db", lite, "db", "backup", backup); code == exitOK || !strings.Contains(errOut, "exists") {
		t.Errorf("backup over a file: exit %d %s", code, errOut)
	}
	if pg != nil {
		if _, errOut, code := run(t, "", "--db", pg.DSN("postgres"), "db", "backup", "x"); code != exitUsage || !strings.Contains(errOut, "pg_dump") {
			t.Errorf("backup of PostgreSQL: exit %d %s", code, errOut)
		}
	}
}

// TestDBPrune: prune on both backends leaves the answers of the reports
// kept.
func TestDBPrune(t *testing.T) {
	dbs := []string{sampleDB(t)}
	if pg != nil {
		url := pg.NewDatabase(t)
		if _, _, code := run(t, "", "--db", url, "import", "../../testdata/sample", "../../testdata/quirks", "../../testdata/mail"); code != exitOK {
			t.Fatal("import into PostgreSQL")
		}
		dbs = append(dbs, url)
	}
	for _, db := range dbs {
		want, _, _ := run(t, "", "--db", db, "summary", "--since", "2026-10-15", "--format", "json")
		out, _, code := run(t, "", "--db", db, "db", "prune", "--older-than", "2026-10-15", "--dry-run")
		if code != exitOK || !strings.HasPrefix(out, "would delete ") {
			t.Fatalf("dry run: exit %d %s", code, out)
		}
		out, _, code = run(t, "", "--db", db, "db", "prune", "--older-than", "2026-10-15")
		if code != exitOK || !strings.HasPrefix(out, "deleted ") {
			t.Fatalf("prune: exit %d %s", code, out)
		}
		if got, _, _ := run(t, "", "--db", db, "summary", "--format", "json"); got != want {
			t.Errorf("%s after pruning:\n%s\nwant\n%s", db, got, want)
		}
	}
	if _, errOut, code := run(t, "", "--db", dbs[0], "db", "prune"); code != exitUsage || !strings.Contains(errOut, "--older-than") {
		t.Errorf("prune without an age: exit %d %s", code, errOut)
	}
}

// TestTwoFetchersOnePostgres: two fetch runs at once, as two machines'
// watchers would, on one Dovecot mailbox and one database: every report is
// stored once and every message leaves the mailbox once.
func TestTwoFetchersOnePostgres(t *testing.T) {
	if pg == nil {
		t.Skip(pgtest.Skip())
	}
	srv := imaptest.StartDovecot(t)
	g := reportgen.New(reportgen.Options{Domains: 20, Seed: 11})
	const n = 120
	for i := range n {
		r, _ := g.Next()
		r.ReportID = fmt.Sprintf("mail-%d", i)
		msg := "From: reporter@example.net\r\nTo: tlsrpt@example.com\r\nSubject: Report\r\nContent-Type: application/tlsrpt+json\r\n\r\n" + string(r.JSON()) + "\r\n"
		srv.Deliver(t, []byte(msg))
	}
	url := pg.NewDatabase(t)
	o := ingest.FetchOptions{Server: srv.Addr, User: imaptest.DovecotUser, Password: imaptest.DovecotPassword, TLS: ingest.TLSNone}
	var wg sync.WaitGroup
	var stored, dups atomic.Int64
	for range 2 {
		db, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		wg.Go(func() {
			for range 3 { // a watcher's next rounds
				s, err := ingest.Fetch(context.Background(), db, parse.New(parse.Limits{}), o)
				if err != nil {
					t.Error(err)
					return
				}
				stored.Add(int64(s.Stored))
				dups.Add(int64(s.Duplicates))
			}
		})
	}
	wg.Wait()
	out, _, _ := run(t, "", "--db", url, "reports", "--limit", "0", "--format", "csv")
	if lines := strings.Count(out, "\n") - 1; lines != n || stored.Load() != n {
		t.Errorf("%d reports in the store, %d told stored (%d duplicates), for %d messages", lines, stored.Load(), dups.Load(), n)
	}
	if in, done := srv.Count(t, "INBOX"), srv.Count(t, "TLSRPT/Processed"); in != 0 || done != n {
		t.Errorf("INBOX holds %d, the processed folder %d, of %d messages", in, done, n)
	}
}

// TestDBCopyResumes: a copy stopped part way goes on where it stopped,
// copying nothing twice.
func TestDBCopyResumes(t *testing.T) {
	if pg == nil {
		t.Skip(pgtest.Skip())
	}
	lite := sampleDB(t)
	run(t, "", "--db", lite, "import", "../../testdata/sample") // arrivals of bytes kept before
	url := pg.NewDatabase(t)
	ctx := context.Background()
	src, err := sqlite.Open(ctx, lite)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	stop, cancel := context.WithCancel(ctx)
	stats, err := ingest.Copy(stop, src, dst, parse.New(parse.Limits{}), ingest.CopyOptions{Batch: 50, Progress: func(n int) {
		if n >= 100 {
			cancel()
		}
	}})
	if err == nil || stats.Inputs < 100 || stats.Inputs >= 231 {
		t.Fatalf("the interrupted copy: %+v, %v", stats, err)
	}
	out, errOut, code := run(t, "", "db", "copy", lite, url)
	if code != exitOK || !strings.Contains(out, "going on from an earlier copy") || !strings.Contains(out, "verified:") {
		t.Fatalf("the copy again: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{{"db", "stats", "--format", "json"}, {"reports", "--limit", "0", "--format", "csv"}} {
		want, _, _ := run(t, "", append([]string{"--db", lite}, args...)...)
		got, _, _ := run(t, "", append([]string{"--db", url}, args...)...)
		if args[1] == "stats" {
			var a, b statsJSON
			json.Unmarshal([]byte(want), &a)
			json.Unmarshal([]byte(got), &b)
			a.Database, a.Size, b.Database, b.Size = "", 0, "", 0
			if !reflect.DeepEqual(a, b) {
				t.Errorf("stats after resuming: %+v, want %+v", b, a)
			}
			continue
		}
		if strings.Count(got, "\n") != strings.Count(want, "\n") {
			t.Errorf("%v: %d lines, want %d", args, strings.Count(got, "\n"), strings.Count(want, "\n"))
		}
	}
}
