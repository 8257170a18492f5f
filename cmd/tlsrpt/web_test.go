package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
	"github.com/tlsrpt/tlsrpt/web"
)

// startDashboard serves the dashboard over the database at db on a
// loopback port, with the commands' clock.
func startDashboard(t *testing.T, db string) string {
	t.Helper()
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	h, err := web.New(st, web.Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.Listen(h, web.ListenOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return "http://" + srv.Addr().String()
}

func get(t *testing.T, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// TestAPIMatchesCommands: each API answer is, byte for byte, the command's
// --format json for the same filters.
func TestAPIMatchesCommands(t *testing.T) {
	db := sampleDB(t)
	base := startDashboard(t, db)
	// The failure of example.org, for reports/{id}.
	out, _, _ := run(t, "", "--db", db, "failures", "--domain", "example.org", "--limit", "1", "--format", "json")
	var f struct {
		Failures []struct {
			Report int64 `json:"report"`
		} `json:"failures"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil || len(f.Failures) != 1 {
		t.Fatalf("failures: %v %s", err, out)
	}
	withFailure := fmt.Sprint(f.Failures[0].Report)
	for _, tt := range []struct{ api, cli string }{
		{"summary", "summary"},
		{"summary?domain=example.org", "summary --domain example.org"},
		{"summary?domain=EXAMPLE.org.&domain=example.com", "summary --domain EXAMPLE.org. --domain example.com"},
		{"summary?domain=example.org,example.net", "summary --domain example.org,example.net"},
		{"summary?since=2026-10-10&until=2026-10-20", "summary --since 2026-10-10 --until 2026-10-20"},
		{"summary?since=10d", "summary --since 10d"},
		{"summary?by=day&domain=example.com", "summary --by day --domain example.com"},
		{"summary?by=result", "summary --by result"},
		{"summary?by=sender&since=2026-10-15", "summary --by sender --since 2026-10-15"},
		{"summary?by=sending-ip&domain=example.org", "summary --by sending-ip --domain example.org"},
		{"readiness", "readiness"},
		{"readiness?as_of=2026-10-31", "readiness --as-of 2026-10-31"},
		{"readiness?domain=example.org&window=7&as_of=2026-10-20", "readiness --domain example.org --window 7 --as-of 2026-10-20"},
		{"readiness?min_days=3&min_reporters=1&min_sessions=10&quiet_days=2&trend_days=3", "readiness --min-days 3 --min-reporters 1 --min-sessions 10 --quiet-days 2 --trend-days 3"},
		{"reports", "reports"},
		{"reports?domain=example.org&limit=5&since=2026-10-20", "reports --domain example.org --limit 5 --since 2026-10-20"},
		{"reports/1", "reports show 1"},
		{"reports/" + withFailure, "reports show " + withFailure},
		{"failures", "failures"},
		{"failures?domain=example.org&limit=10", "failures --domain example.org --limit 10"},
		{"failures?result=certificate-expired&mx=backup.example.org&sender=Mail.ru", "failures --result certificate-expired --mx backup.example.org --sender Mail.ru"},
	} {
		t.Run(tt.api, func(t *testing.T) {
			want, errOut, code := run(t, "", append(append([]string{"--db", db}, strings.Fields(tt.cli)...), "--format", "json")...)
			if code != exitOK {
				t.Fatalf("tlsrpt %s: exit %d: %s", tt.cli, code, errOut)
			}
			status, got, h := get(t, base+"/api/v1/"+tt.api)
			if status != http.StatusOK || h.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Fatalf("%d %s: %s", status, h.Get("Content-Type"), got)
			}
			if got != want {
				t.Errorf("API and command differ:\n--- API\n%s--- tlsrpt %s\n%s", got, tt.cli, want)
			}
		})
	}
}

func TestAPIErrors(t *testing.T) {
	db := sampleDB(t)
	base := startDashboard(t, db)
	for _, tt := range []struct {
		path   string
		status int
		msg    string
	}{
		{"summary?since=yesterday", 400, `since: "yesterday" is not a date`},
		{"summary?since=2026-10-20&until=2026-10-10", 400, "is after until"},
		{"summary?by=week", 400, `by: "week": want one of mx, day`},
		{"readiness?window=0", 400, `window: "0": want a whole number from 1`},
		{"readiness?as_of=soon", 400, "as_of:"},
		{"reports?limit=100000", 400, "limit:"},
		{"reports/999999", 404, "not found"},
		{"reports/abc", 400, `id "abc"`},
		{"reports/999999/raw", 404, "not found"},
		{"inputs/999999/raw", 404, "not found"},
		{"inputs?outcome=lost", 400, "outcome:"},
		{"domains?sort=size", 400, "sort:"},
		{"domains?min_days=1", 400, "window and as_of"},
		{"nothing", 404, "no API endpoint /api/v1/nothing"},
	} {
		status, body, h := get(t, base+"/api/v1/"+tt.path)
		var e struct{ Error string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || status != tt.status || !strings.Contains(e.Error, tt.msg) ||
			h.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s: %d %q, want %d with %q", tt.path, status, body, tt.status, tt.msg)
		}
	}
	// Read-only: nothing but GET and HEAD reaches a route.
	for _, path := range []string{"/api/v1/summary", "/", "/api/v1/reports/1"} {
		resp, err := http.Post(base+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s: %d, Allow %q", path, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

func TestDashboardHeadersAndRaw(t *testing.T) {
	db := sampleDB(t)
	base := startDashboard(t, db)
	for _, path := range []string{"/", "/domains/example.org", "/reports/1", "/inputs", "/api/v1/summary", "/assets/app.js"} {
		status, _, h := get(t, base+path)
		if status != http.StatusOK {
			t.Errorf("%s: %d", path, status)
		}
		for name, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
		} {
			if !strings.Contains(h.Get(name), want) {
				t.Errorf("%s: %s %q, want %q", path, name, h.Get(name), want)
			}
		}
	}
	// A page names nothing from another origin: every src and href is ours.
	_, html, _ := get(t, base+"/domains/example.org")
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(html, -1) {
		if u, err := url.Parse(m[1]); err != nil || u.Host != "" || u.Scheme != "" {
			t.Errorf("the page refers to %q", m[1])
		}
	}
	// The raw input is a download of the bytes that arrived.
	out, _, _ := run(t, "", "--db", db, "reports", "show", "1", "--format", "json")
	var r struct {
		Input struct {
			ID     int64  `json:"id"`
			SHA256 string `json:"sha256"`
			Size   int    `json:"size"`
		} `json:"input"`
	}
	json.Unmarshal([]byte(out), &r)
	status, raw, h := get(t, base+"/api/v1/reports/1/raw")
	if status != 200 || len(raw) != r.Input.Size || h.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(h.Get("Content-Disposition"), `attachment; filename="report-1.json`) {
		t.Errorf("raw: %d, %d bytes (want %d), %v", status, len(raw), r.Input.Size, h)
	}
	_, raw2, _ := get(t, fmt.Sprintf("%s/api/v1/inputs/%d/raw", base, r.Input.ID))
	if raw2 != raw {
		t.Error("the input's raw download differs from the report's")
	}
}

type syncBuffer = testkit.SyncBuffer

// runUntil starts a long-running command in-process and waits for a line of
// its stderr to match re; it returns the match's first group and stops the
// command when the test ends.
func runUntil(t *testing.T, re string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newRootCommand(fixedNow)
	cmd.SetArgs(args)
	var errOut syncBuffer
	cmd.SetOut(io.Discard)
	cmd.SetErr(&errOut)
	done := make(chan int, 1)
	go func() { done <- exitCode(cmd.ExecuteContext(ctx), &errOut) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("tlsrpt %v: exit %d: %s", args, code, errOut.String())
		}
	})
	rx := regexp.MustCompile(re)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := rx.FindStringSubmatch(errOut.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("tlsrpt %v ended: exit %d: %s", args, code, errOut.String())
		default:
		}
	}
	t.Fatalf("tlsrpt %v: no %q in %s", args, re, errOut.String())
	return ""
}

func TestWebCommandAuthentication(t *testing.T) {
	db := sampleDB(t)
	// Open to every address without authentication: refused, exit 2.
	_, errOut, code := run(t, "", "--db", db, "web", "--listen", ":0")
	if code != exitUsage || !strings.Contains(errOut, "is not a loopback address") || !strings.Contains(errOut, "--basic-auth-file") {
		t.Errorf("web on every address: exit %d: %s", code, errOut)
	}
	_, errOut, code = run(t, "", "--db", db, "web", "--trusted-auth-header", "X-User")
	if code != exitUsage || !strings.Contains(errOut, "--trusted-proxy") {
		t.Errorf("header without proxy: exit %d: %s", code, errOut)
	}

	// A user added from standard input, and the dashboard on every address.
	file := filepath.Join(t.TempDir(), "web.htpasswd")
	if _, errOut, code := run(t, "s3cret pass\n", "web", "passwd", "alice", "--basic-auth-file", file); code != exitOK || !strings.Contains(errOut, "alice added to") {
		t.Fatalf("passwd: exit %d: %s", code, errOut)
	}
	if _, errOut, code := run(t, "other\n", "web", "passwd", "bob", "--basic-auth-file", file); code != exitOK {
		t.Fatalf("passwd bob: exit %d: %s", code, errOut)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("password file: %v %v", fi, err)
	}
	addr := runUntil(t, `dashboard on http://(\S+)/ for users of`, "--db", db, "web", "--listen", ":0", "--basic-auth-file", file)
	port := addr[strings.LastIndex(addr, ":"):]
	u := "http://127.0.0.1" + port + "/api/v1/summary"
	for _, tt := range []struct {
		user, password string
		status         int
	}{{"", "", 401}, {"alice", "wrong", 401}, {"mallory", "s3cret pass", 401}, {"alice", "s3cret pass", 200}, {"alice", "s3cret pass", 200}, {"bob", "other", 200}} {
		req, _ := http.NewRequest("GET", u, nil)
		if tt.user != "" {
			req.SetBasicAuth(tt.user, tt.password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s/%s: %d, want %d", tt.user, tt.password, resp.StatusCode, tt.status)
		}
		if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("401 without a Basic challenge: %v", resp.Header)
		}
	}
	// Changing a password replaces the line.
	if _, errOut, code := run(t, "new one\n", "web", "passwd", "alice", "--basic-auth-file", file); code != exitOK || !strings.Contains(errOut, "alice changed in") {
		t.Fatalf("passwd again: exit %d: %s", code, errOut)
	}
	users, err := web.ReadPasswords(file)
	if err != nil || len(users) != 2 {
		t.Errorf("after the change: %v, %v", users, err)
	}

	// Behind a proxy that authenticates: its header is believed from its
	// address only.
	addr = runUntil(t, `dashboard on http://(\S+)/`, "--db", db, "web", "--listen", ":0",
		"--trusted-auth-header", "X-Forwarded-User", "--trusted-proxy", "127.0.0.1/32")
	port = addr[strings.LastIndex(addr, ":"):]
	for _, tt := range []struct {
		host, user string
		status     int
	}{{"127.0.0.1", "alice", 200}, {"127.0.0.1", "", 401}, {"[::1]", "alice", 401}} {
		req, _ := http.NewRequest("GET", "http://"+tt.host+port+"/api/v1/status", nil)
		if tt.user != "" {
			req.Header.Set("X-Forwarded-User", tt.user)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if tt.host == "[::1]" {
				continue // no IPv6 loopback here
			}
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("from %s as %q: %d, want %d", tt.host, tt.user, resp.StatusCode, tt.status)
		}
	}
}

func TestServeWithDashboard(t *testing.T) {
	db := sampleDB(t)
	web := runUntil(t, `dashboard on http://(\S+)/`, "--db", db, "serve", "--insecure-http", "--listen", "127.0.0.1:0",
		"--web-listen", "127.0.0.1:0")
	status, body, _ := get(t, "http://"+web+"/api/v1/status")
	if status != 200 || !strings.Contains(body, `"newest_report_id": 231`) {
		t.Errorf("status: %d %s", status, body)
	}
	_, errOut, code := run(t, "", "--db", db, "serve", "--insecure-http", "--listen", "127.0.0.1:0", "--web-listen", "0.0.0.0:0")
	if code != exitUsage || !strings.Contains(errOut, "--web-listen 0.0.0.0:0 is not a loopback address") {
		t.Errorf("serve with an open dashboard: exit %d: %s", code, errOut)
	}
	_, errOut, code = run(t, "", "--db", db, "serve", "--insecure-http", "--web-basic-auth-file", "x")
	if code != exitUsage || !strings.Contains(errOut, "give --web-listen too") {
		t.Errorf("web flags without --web-listen: exit %d: %s", code, errOut)
	}
}

// TestWebOverHTTPS: --tls-cert and --tls-key serve the dashboard over
// HTTPS with a certificate a client verifies.
func TestWebOverHTTPS(t *testing.T) {
	db := sampleDB(t)
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.IssueFiles(t, cert, key, "127.0.0.1")
	addr := runUntil(t, `dashboard on https://(\S+)/`, "--db", db, "web", "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	resp, err := client.Get("https://" + addr + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("HTTPS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	if _, errOut, code := run(t, "", "--db", db, "web", "--tls-cert", cert); code != exitUsage || !strings.Contains(errOut, "--tls-key") {
		t.Errorf("a certificate without its key: exit %d: %s", code, errOut)
	}
}
