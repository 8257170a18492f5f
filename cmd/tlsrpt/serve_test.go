package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/reportgen"
	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
)

// buildBinary compiles tlsrpt once for the tests that run it as a process.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tlsrpt")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startServe runs `tlsrpt serve` as a process and waits until /healthz
// answers (503 too: while the database is locked, the server is up and
// its health says the store cannot take writes).
func startServe(t *testing.T, bin, db, addr string, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"--db", db, "serve", "--insecure-http", "--listen", addr, "--rate", "100000", "--burst", "100000"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("tlsrpt serve did not come up")
		}
	}
}

// load posts distinct generated reports from many clients until stop is
// closed, and returns the report ids acknowledged (201, or 202: kept in the
// spool).
func load(t *testing.T, addr string, seed uint64, clients int, stop <-chan struct{}) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := reportgen.New(reportgen.Options{Domains: 100, Seed: seed*1000 + uint64(c)})
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r, _ := g.Next()
				r.ReportID = fmt.Sprintf("load-%d-%d-%d", seed, c, i)
				resp, err := client.Post("http://"+addr+"/tlsrpt", "application/tlsrpt+json", bytes.NewReader(r.JSON()))
				if err != nil {
					continue // the server was killed under this request: not acknowledged
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusAccepted {
					mu.Lock()
					acked[r.ReportID] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return acked
}

func storedIDs(t *testing.T, db string) map[string]bool {
	t.Helper()
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.Reports(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range list {
		ids[r.ReportID] = true
	}
	return ids
}

func TestServeLoadNothingLostEvenOnSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "t.db")
	addr := testkit.FreeAddr(t)

	// 1. A load, stopped cleanly: exactly the acknowledged reports are stored.
	srv := startServe(t, bin, db, addr)
	stop := make(chan struct{})
	time.AfterFunc(1500*time.Millisecond, func() { close(stop) })
	acked := load(t, addr, 1, 16, stop)
	srv.Process.Signal(syscall.SIGTERM)
	if err := srv.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	stored := storedIDs(t, db)
	if len(acked) == 0 || len(stored) != len(acked) {
		t.Fatalf("acknowledged %d, stored %d", len(acked), len(stored))
	}
	for id := range acked {
		if !stored[id] {
			t.Fatalf("acknowledged %s is not stored", id)
		}
	}

	// 2. SIGKILL in the middle of a load: every acknowledged report survives.
	srv = startServe(t, bin, db, addr)
	stop = make(chan struct{})
	time.AfterFunc(1000*time.Millisecond, func() { srv.Process.Signal(syscall.SIGKILL) })
	time.AfterFunc(1500*time.Millisecond, func() { close(stop) })
	acked2 := load(t, addr, 2, 16, stop)
	srv.Wait()
	srv = startServe(t, bin, db, addr) // the restart opens the database, WAL and all
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	stored = storedIDs(t, db)
	lost := 0
	for id := range acked2 {
		if !stored[id] {
			lost++
		}
	}
	if len(acked2) == 0 || lost > 0 {
		t.Errorf("after SIGKILL: %d acknowledged, %d of them lost", len(acked2), lost)
	}
	t.Logf("clean run: %d reports acknowledged and stored; killed run: %d acknowledged, all stored", len(acked), len(acked2))
}

// lockDB takes the database's write lock from another connection, as
// another process (an import, a reprocess, an administrator's sqlite3)
// would; the function it returns releases it.
func lockDB(t *testing.T, db string) func() {
	t.Helper()
	other, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Error(err)
		}
		conn.Close()
		other.Close()
	}
}

// postAll posts bodies from 8 clients at once, as a sender that takes any
// answer as delivered would (a 10 s timeout, no retry), and returns each
// answer's status and how long the slowest took.
func postAll(t *testing.T, addr string, bodies [][]byte) ([]int, time.Duration) {
	t.Helper()
	status := make([]int, len(bodies))
	took := make([]time.Duration, len(bodies))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	client := &http.Client{Timeout: 10 * time.Second}
	for i, b := range bodies {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			start := time.Now()
			resp, err := client.Post("http://"+addr+"/tlsrpt", "application/tlsrpt+gzip", bytes.NewReader(b))
			took[i] = time.Since(start)
			if err != nil {
				return
			}
			resp.Body.Close()
			status[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	return status, slices.Max(took)
}

// Under a database another process holds locked, every acceptable report
// is answered 2xx well within the Postfix reporter's 10 s, kept in the
// spool across a SIGKILL and a restart, and stored, each once, as soon as
// the lock is gone.
func TestServeLockedDatabaseSpoolAcrossSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	addr := testkit.FreeAddr(t)
	if _, errOut, code := run(t, "", "--db", db, "import", "../../testdata/quirks/contact-info-null.json"); code != exitOK {
		t.Fatalf("setup: %s", errOut)
	}
	var bodies [][]byte
	want := map[string]bool{"quirk-contact-null": true}
	for _, name := range []string{"postfix-dane-tlsa-and-no-policy.json.gz", "postfix-policy-changed.json.gz",
		"postfix-mx-fallback.json.gz", "postfix-reused-report-id.json.gz"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/reporters", name))
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	want["2026-03-05T00:00:00Z_idx1_dane.example.net"] = true
	want["2026-03-05T00:00:00Z_idx1_change.example.net"] = true
	want["2026-03-05T00:00:00Z_idx1_example.org"] = true // twice: two reports under one id
	g := reportgen.New(reportgen.Options{Domains: 20, Seed: 7})
	for i := range 60 {
		r, _ := g.Next()
		r.ReportID = fmt.Sprintf("locked-%d", i)
		want[r.ReportID] = true
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		w.Write(r.JSON())
		w.Close()
		bodies = append(bodies, gz.Bytes())
	}
	first, second := bodies[:40], bodies[40:]

	unlock := lockDB(t, db)
	srv := startServe(t, bin, db, addr, "--busy-timeout", "1s", "--store-wait", "500ms")
	status, slowest := postAll(t, addr, first)
	for i, s := range status {
		if s < 200 || s > 299 {
			t.Fatalf("post %d under the lock: status %d", i, s)
		}
	}
	if slowest > 5*time.Second {
		t.Errorf("slowest answer under the lock took %v", slowest)
	}
	srv.Process.Signal(syscall.SIGKILL)
	srv.Wait()
	// Restarted while still locked: it comes up, takes more, stores nothing yet.
	srv = startServe(t, bin, db, addr, "--busy-timeout", "1s", "--store-wait", "500ms")
	status2, slowest2 := postAll(t, addr, second)
	for i, s := range status2 {
		if s < 200 || s > 299 {
			t.Fatalf("post %d after the restart: status %d", i, s)
		}
	}
	t.Logf("under the lock: %d posts answered 2xx, the slowest in %v; after SIGKILL and restart, %d more, the slowest in %v",
		len(first), slowest, len(second), max(slowest2, slowest))
	unlock()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if bytes.Contains(metrics, []byte("\ntlsrpt_spool_inputs 0\n")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the spool did not drain")
		}
	}
	srv.Process.Signal(syscall.SIGTERM)
	if err := srv.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	if got := storedIDs(t, db); !maps.Equal(got, want) {
		t.Errorf("stored %d report ids, want %d", len(got), len(want))
	}
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inputs, err := st.Inputs(context.Background(), store.InputFilter{})
	if err != nil || len(inputs) != 1+len(bodies) {
		t.Errorf("%d inputs recorded, %v; want %d: none lost, none twice", len(inputs), err, 1+len(bodies))
	}
	reports, _ := st.Reports(context.Background(), store.Filter{})
	if len(reports) != 1+len(bodies) {
		t.Errorf("%d reports, want %d", len(reports), 1+len(bodies))
	}
	if left, _ := filepath.Glob(filepath.Join(db+".spool", "*.log")); len(left) != 0 {
		t.Errorf("spool segments left after a clean stop: %q", left)
	}
}

// serve says where it listens and what it takes, warns when anyone may
// fill the store, and says when it stops, at the default log level; it
// refuses contradictory flags.
func TestServeSaysWhatItDoes(t *testing.T) {
	if _, errOut, code := run(t, "", "serve", "--insecure-http", "--acme-domain", "reports.example.com"); code != exitUsage ||
		!strings.Contains(errOut, "--insecure-http serves plain HTTP") {
		t.Errorf("contradictory flags: exit %d, %q", code, errOut)
	}
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	addr := testkit.FreeAddr(t)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--db", filepath.Join(t.TempDir(), "t.db"), "serve", "--insecure-http", "--listen", addr)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("serve did not come up")
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"tlsrpt serve: listening on " + addr + " (plain HTTP, for a reverse proxy that terminates TLS); reports for any domain; spool ",
		"tlsrpt serve: warning: no --domain given", "tlsrpt serve: stopped on " + addr} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}
