package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
)

// TestServeHostileMix runs the built binary as a public endpoint under what
// a hostile internet sends, all at once, while a legitimate sender posts a
// report every 50 ms: nested gzip bombs (a report padded to 7 MiB, gzipped
// seven times: 64 at a time), slow bodies at one byte a second from two
// addresses (80 connections), reports with made-up subdomains, MX names and
// result types (metric labels), chunked 100 MB bodies, and terminal escape
// sequences in names. The legitimate sender's every report must be answered
// 201 with a p99 under 1 s, the server's peak memory stay under 300 MB and
// /metrics under 1 MB. TLSRPT_HOSTILE_SECONDS sets the length (6 s by
// default; scripts/hostile-mix.sh runs it longer and prints the figures).
func TestServeHostileMix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	secs, _ := strconv.Atoi(os.Getenv("TLSRPT_HOSTILE_SECONDS"))
	if secs <= 0 {
		secs = 6
	}
	bin := buildBinary(t)
	db := filepath.Join(t.TempDir(), "t.db")
	addr := testkit.FreeAddr(t)
	srv := startServe(t, bin, db, addr, "--domain", "example.com", "--trusted-proxy", "127.0.0.1/32", "--rate", "20", "--burst", "2000")
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
	}()
	url := "http://" + addr + "/tlsrpt"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var hostile atomic.Int64
	attack := func(n int, fn func(i int)) {
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					fn(i)
					hostile.Add(1)
				}
			}()
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	post := func(body io.Reader, from string, length int64) {
		req, _ := http.NewRequest(http.MethodPost, url, body)
		req.ContentLength = length
		req.Header.Set("Content-Type", "application/tlsrpt+gzip")
		req.Header.Set("X-Forwarded-For", from)
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}

	// 1. Nested gzip bombs, 64 at a time from 64 addresses.
	bomb := []byte(strings.Replace(report("bomb", "example.com", "x"), `"contact-info":"c"`,
		`"contact-info":"`+strings.Repeat(" ", 7<<20)+`c"`, 1))
	for range 7 {
		bomb = gzipped(bomb)
	}
	attack(64, func(i int) { post(bytes.NewReader(bomb), fmt.Sprintf("198.51.100.%d", i), int64(len(bomb))) })
	// 2. Slow bodies from two addresses, a byte a second.
	attack(80, func(i int) {
		pr, pw := io.Pipe()
		go func() {
			defer pw.Close()
			for range 60 {
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
				if _, err := pw.Write([]byte("{")); err != nil {
					return
				}
			}
		}()
		post(pr, fmt.Sprintf("203.0.113.%d", i%2), 100_000)
		pr.Close()
	})
	// 3. Made-up subdomains, MX names and result types, and escapes.
	var made atomic.Int64
	attack(4, func(i int) {
		n := made.Add(1)
		body := report(fmt.Sprintf("labels-%d", n), fmt.Sprintf("s%d.example.com", n),
			fmt.Sprintf(`{"result-type":"made-up-%d","receiving-mx-hostname":"mx%d.x%d.example","failed-session-count":1}`, n, n, n))
		body = strings.Replace(body, `"Org"`, `"Evil\u001b]0;x\u0007"`, 1)
		post(strings.NewReader(body), fmt.Sprintf("192.0.2.%d", 100+i), int64(len(body)))
	})
	// 4. Chunked 100 MB bodies.
	attack(4, func(i int) {
		post(io.LimitReader(zeros{}, 100<<20), fmt.Sprintf("192.0.2.%d", 200+i), -1)
	})

	// The legitimate sender, from its own address, one report every 50 ms.
	var lat []time.Duration
	var bad []string
	legit := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	var peak int64
	for i := 0; time.Now().Before(deadline); i++ {
		body := gzipped([]byte(report(fmt.Sprintf("legit-%d", i), "example.com", "")))
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/tlsrpt+gzip")
		req.Header.Set("X-Forwarded-For", "192.0.2.1")
		start := time.Now()
		resp, err := legit.Do(req)
		lat = append(lat, time.Since(start))
		switch {
		case err != nil:
			bad = append(bad, err.Error())
		default:
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				bad = append(bad, resp.Status)
			}
		}
		peak = max(peak, peakRSS(t, srv.Process.Pid))
		time.Sleep(50 * time.Millisecond)
	}
	peak = max(peak, peakRSS(t, srv.Process.Pid))
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	close(stop)
	wg.Wait()

	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	t.Logf("hostile mix for %d s: %d hostile requests; legitimate sender: %d reports, %d not 201, p50 %v, p99 %v, max %v; serve's peak RSS %d MB; /metrics %d bytes",
		secs, hostile.Load(), len(lat), len(bad), lat[len(lat)/2].Round(time.Millisecond), p99.Round(time.Millisecond),
		lat[len(lat)-1].Round(time.Millisecond), peak>>10, len(metrics))
	if len(bad) > 0 {
		t.Errorf("legitimate reports not answered 201: %q", bad[:min(len(bad), 5)])
	}
	if p99 > time.Second {
		t.Errorf("legitimate p99 %v, want under 1 s", p99)
	}
	if peak > 300<<10 {
		t.Errorf("serve's peak RSS %d MB, want under 300", peak>>10)
	}
	if len(metrics) > 1<<20 {
		t.Errorf("/metrics is %d bytes, want under 1 MB", len(metrics))
	}
}

// report is a report's JSON for domain, with the failure detail given (or
// none).
func report(id, domain, detail string) string {
	fail, details := 0, ""
	if detail != "" {
		fail, details = 1, `,"failure-details":[`+detail+`]`
	}
	return `{"organization-name":"Org","date-range":{"start-datetime":"2026-10-01T00:00:00Z","end-datetime":"2026-10-01T23:59:59Z"},` +
		`"contact-info":"c","report-id":"` + id + `","policies":[{"policy":{"policy-type":"sts","policy-domain":"` + domain + `"},` +
		`"summary":{"total-successful-session-count":10,"total-failure-session-count":` + strconv.Itoa(fail) + `}` + details + `}]}`
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// peakRSS is a process's peak resident memory so far, in KiB (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}
