package ingest_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
)

// lockedStore opens a store whose writes wait busy for another process's
// lock, and returns a function that takes the file's write lock from
// another connection (as another process would) and one that releases it.
func lockedStore(t *testing.T, busy time.Duration) (st *sqlite.DB, lock, unlock func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.db")
	st, err := sqlite.OpenWith(context.Background(), path, sqlite.Options{BusyTimeout: busy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	var conn *sql.Conn
	lock = func() {
		if conn, err = other.Conn(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
	}
	unlock = func() {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	return st, lock, unlock
}

func reportInput(t *testing.T, id string) store.Input {
	t.Helper()
	data := good(id, "1")
	r, err := parse.New(parse.Limits{}).ParseReport(data)
	if err != nil {
		t.Fatal(err)
	}
	return store.Input{Data: data, Source: "https", Origin: "192.0.2.1", ReceivedAt: time.UnixMilli(1_790_000_000_123),
		Reports: []*parse.Report{r}}
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// While another process holds the database, inputs are kept in the spool
// and Submit answers within its wait; once the lock is gone they are all
// stored, in order, once, and the spool is empty.
func TestSpoolUnderALockedDatabase(t *testing.T) {
	st, lock, unlock := lockedStore(t, 200*time.Millisecond)
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := ingest.OpenSpool(context.Background(), st, parse.New(parse.Limits{}),
		ingest.SpoolOptions{Dir: dir, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, MaxMemory: 2000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close(context.Background()) })
	// Unlocked: committed within the wait.
	res, err := sp.Submit(context.Background(), reportInput(t, "before"), 5*time.Second)
	if err != nil || res.Outcome != store.OutcomeStored {
		t.Fatalf("unlocked: %+v, %v", res, err)
	}
	lock()
	const n = 20
	for i := range n {
		start := time.Now()
		_, err := sp.Submit(context.Background(), reportInput(t, fmt.Sprint("locked-", i)), 100*time.Millisecond)
		if !errors.Is(err, ingest.ErrSpooled) {
			t.Fatalf("locked: %v, want ErrSpooled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Submit took %v under the lock", d)
		}
	}
	if got := sp.Len(); got != n {
		t.Errorf("%d inputs in the spool, want %d", got, n)
	}
	unlock()
	waitFor(t, "the spool to drain", func() bool { return sp.Len() == 0 })
	if err := sp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if files := spoolFiles(t, dir); len(files) != 0 {
		t.Errorf("segments left: %q", files)
	}
	list, err := st.Reports(context.Background(), store.Filter{})
	if err != nil || len(list) != n+1 {
		t.Fatalf("%d reports stored, %v", len(list), err)
	}
	inputs, err := st.Inputs(context.Background(), store.InputFilter{})
	if err != nil || len(inputs) != n+1 {
		t.Fatalf("%d inputs recorded, %v", len(inputs), err)
	}
	// In the order they came: input ids follow the report ids' numbers.
	for i, in := range inputs[1:] {
		sr, err := st.Report(context.Background(), list[len(list)-2-i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if sr.Input.ID != in.ID || sr.Report.ReportID != fmt.Sprint("locked-", i) {
			t.Errorf("input %d holds %s", in.ID, sr.Report.ReportID)
		}
	}
}

// unavailable is a store that cannot be written, as while another
// process holds the database past the busy timeout.
type unavailable struct{ store.Store }

func (unavailable) Ingest(context.Context, []store.Input) ([]store.Result, error) {
	return nil, fmt.Errorf("%w: database is locked", store.ErrUnavailable)
}

// What a crash leaves in the spool is handled at the next open: an input
// committed before the crash (its record not yet done) is dropped, the
// others are stored in order, a torn record at the end (never synced, so
// never acknowledged) is cut off.
func TestSpoolRecovery(t *testing.T) {
	st, _, _ := lockedStore(t, time.Second)
	dir := filepath.Join(t.TempDir(), "spool")
	first, err := ingest.OpenSpool(context.Background(), unavailable{st}, parse.New(parse.Limits{}),
		ingest.SpoolOptions{Dir: dir, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ins := []store.Input{reportInput(t, "committed"), reportInput(t, "pending-1"), reportInput(t, "pending-2")}
	for _, in := range ins {
		if _, err := first.Submit(context.Background(), in, 0); !errors.Is(err, ingest.ErrSpooled) {
			t.Fatal(err)
		}
	}
	// The process stops with the store still unavailable: kept on disk.
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	segments := spoolFiles(t, dir)
	if len(segments) != 1 {
		t.Fatalf("segments %q", segments)
	}
	// As if the first had been committed just before a crash.
	if _, err := st.Ingest(context.Background(), ins[:1]); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(segments[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 1, 0, 9, 9}) // a torn record
	f.Close()

	sp, err := ingest.OpenSpool(context.Background(), st, parse.New(parse.Limits{}), ingest.SpoolOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the spool to drain", func() bool { return sp.Len() == 0 })
	if _, err := sp.Submit(context.Background(), reportInput(t, "next"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	inputs, err := st.Inputs(context.Background(), store.InputFilter{})
	if err != nil || len(inputs) != 4 {
		t.Fatalf("%d inputs, %v; want 4: the committed one not again", len(inputs), err)
	}
	for i, want := range []string{"committed", "pending-1", "pending-2", "next"} {
		list, err := st.Reports(context.Background(), store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		sr, err := st.Report(context.Background(), list[len(list)-1-i].ID)
		if err != nil || sr.Report.ReportID != want || sr.Input.ID != inputs[i].ID {
			t.Errorf("report %d: %+v, %v; want %s in input %d", i, sr, err, want, inputs[i].ID)
		}
		if in := inputs[i]; !in.ReceivedAt.Equal(time.UnixMilli(1_790_000_000_123)) || in.Origin != "192.0.2.1" || in.Source != "https" {
			t.Errorf("input %+v: not as spooled", in)
		}
	}
	if left := spoolFiles(t, dir); len(left) != 0 {
		t.Errorf("segments left: %q", left)
	}
}

// A full spool refuses; what it refuses was not kept.
func TestSpoolFull(t *testing.T) {
	st, lock, unlock := lockedStore(t, 100*time.Millisecond)
	dir := filepath.Join(t.TempDir(), "spool")
	in := reportInput(t, "a")
	sp, err := ingest.OpenSpool(context.Background(), st, parse.New(parse.Limits{}),
		ingest.SpoolOptions{Dir: dir, MaxBytes: int64(len(in.Data)) + 10, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close(context.Background())
	lock()
	if _, err := sp.Submit(context.Background(), in, 0); !errors.Is(err, ingest.ErrSpooled) {
		t.Fatalf("first: %v", err)
	}
	if _, err := sp.Submit(context.Background(), reportInput(t, "b"), 0); !errors.Is(err, ingest.ErrSpoolFull) {
		t.Fatalf("second: %v, want ErrSpoolFull", err)
	}
	unlock()
	waitFor(t, "the spool to drain", func() bool { return sp.Len() == 0 })
	if _, err := sp.Submit(context.Background(), reportInput(t, "b"), 5*time.Second); err != nil {
		t.Fatalf("after draining: %v", err)
	}
}

// refusing is a store that refuses, for good, inputs whose bytes hold a
// marker: a fault the real store shows only with a bug or a damaged file.
type refusing struct{ store.Store }

func (r refusing) Ingest(ctx context.Context, ins []store.Input) ([]store.Result, error) {
	for _, in := range ins {
		if bytes.Contains(in.Data, []byte("refuse-me")) {
			return nil, errors.New("constraint failed")
		}
	}
	return r.Store.Ingest(ctx, ins)
}

// An input the store refuses for good is moved aside and does not hold up
// those behind it.
func TestSpoolMovesAsideWhatTheStoreRefuses(t *testing.T) {
	st, lock, unlock := lockedStore(t, 100*time.Millisecond)
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := ingest.OpenSpool(context.Background(), refusing{st}, parse.New(parse.Limits{}),
		ingest.SpoolOptions{Dir: dir, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close(context.Background())
	lock() // so that the three go in one batch
	for _, id := range []string{"ok-1", "refuse-me", "ok-2"} {
		if _, err := sp.Submit(context.Background(), reportInput(t, id), 0); !errors.Is(err, ingest.ErrSpooled) {
			t.Fatal(err)
		}
	}
	unlock()
	waitFor(t, "the spool to drain", func() bool { return sp.Len() == 0 })
	failed, _ := filepath.Glob(filepath.Join(dir, "failed", "*.input"))
	if len(failed) != 1 {
		t.Fatalf("moved aside: %q", failed)
	}
	// The bytes as they arrived: importable again once the cause is fixed.
	if b, _ := os.ReadFile(failed[0]); !bytes.Equal(b, good("refuse-me", "1")) {
		t.Errorf("moved aside:\n%s", b)
	}

	list, err := st.Reports(context.Background(), store.Filter{})
	if err != nil || len(list) != 2 {
		t.Errorf("%d reports stored, %v; want the two others", len(list), err)
	}
	stats, err := ingest.Import(context.Background(), st, parse.New(parse.Limits{}), ingest.ImportOptions{Paths: []string{filepath.Join(dir, "failed")}})
	if err != nil || stats.Stored != 1 {
		t.Errorf("importing failed/: %+v, %v", stats, err)
	}
}

// Through the endpoint, with the database locked by another process: a
// report is answered 202 (kept) within the store wait, a refusal at once
// without waiting, and a body the spool cannot keep 503 with Retry-After.
func TestEndpointWithSpoolUnderALock(t *testing.T) {
	st, lock, unlock := lockedStore(t, 100*time.Millisecond)
	in := reportInput(t, "x")
	sp, err := ingest.OpenSpool(context.Background(), st, parse.New(parse.Limits{}),
		ingest.SpoolOptions{Dir: filepath.Join(t.TempDir(), "spool"), MaxBytes: int64(len(in.Data)) + 40,
			RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close(context.Background())
	srv := httptest.NewServer(ingest.NewHandler(parse.New(parse.Limits{}), sp, ingest.HandlerOptions{StoreWait: 300 * time.Millisecond}))
	defer srv.Close()
	post := func(body []byte) (*http.Response, time.Duration) {
		start := time.Now()
		resp, err := http.Post(srv.URL+"/tlsrpt", "application/tlsrpt+json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp, time.Since(start)
	}
	if resp, _ := post(good("unlocked", "1")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("unlocked: %d", resp.StatusCode)
	}
	lock()
	if resp, took := post(good("locked", "1")); resp.StatusCode != http.StatusAccepted || took > 2*time.Second {
		t.Errorf("locked: %d after %v, want 202", resp.StatusCode, took)
	}
	if resp, took := post([]byte(`{"organization-name":"x"}`)); resp.StatusCode != http.StatusBadRequest || took > 200*time.Millisecond {
		t.Errorf("invalid while locked: %d after %v, want 400 at once", resp.StatusCode, took)
	}
	resp, _ := post(good("too-many", "1"))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("spool full: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	unlock()
	waitFor(t, "the spool to drain", func() bool { return sp.Len() == 0 })
	inputs, _ := st.Inputs(context.Background(), store.InputFilter{})
	reports, _ := st.Reports(context.Background(), store.Filter{})
	if len(inputs) != 3 || len(reports) != 2 {
		t.Errorf("%d inputs and %d reports, want 3 (the refusal kept too) and 2", len(inputs), len(reports))
	}
}
