package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

// startServe runs `tlsrpt serve` as a process and waits for /healthz.
func startServe(t *testing.T, bin, db, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "--db", db, "serve", "--insecure-http", "--listen", addr, "--rate", "100000", "--burst", "100000")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("tlsrpt serve did not come up")
		}
	}
}

// load posts distinct generated reports from many clients until stop is
// closed, and returns the report ids acknowledged with 201.
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
				if resp.StatusCode == http.StatusCreated {
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
