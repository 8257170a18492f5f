package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/server"
)

// served starts server.Listen/Serve on loopback with certificate files.
func served(t *testing.T, o server.Options) (*server.Server, *testkit.CA, string, func() error) {
	t.Helper()
	dir := t.TempDir()
	ca := testkit.NewCA(t)
	o.CertFile, o.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.IssueFiles(t, o.CertFile, o.KeyFile, "127.0.0.1")
	o.Listen = "127.0.0.1:0"
	srv, err := server.Listen(testkit.OpenStore(t), parse.New(parse.Limits{}), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() { stop() })
	return srv, ca, o.CertFile, stop
}

func serial(t *testing.T, addr string, ca *testkit.CA) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestServeReloadsCertificate(t *testing.T) {
	srv, ca, certFile, stop := served(t, server.Options{})
	addr := srv.Addr().String()
	first := serial(t, addr, ca)
	// A renewal writes new files: picked up without a restart.
	time.Sleep(1100 * time.Millisecond) // the files are looked at once a second at most
	renewed := ca.IssueFiles(t, certFile, filepath.Join(filepath.Dir(certFile), "key.pem"), "127.0.0.1")
	if got := serial(t, addr, ca); got != renewed.SerialNumber.String() || got == first {
		t.Errorf("serial %s after renewal, want %s (was %s)", got, renewed.SerialNumber, first)
	}
	// SIGHUP's path: Reload, and a broken file keeps the certificate in use.
	os.WriteFile(certFile, []byte("not a certificate"), 0o644)
	if err := srv.Reload(); err == nil {
		t.Error("a broken certificate file was accepted")
	}
	if got := serial(t, addr, ca); got != renewed.SerialNumber.String() {
		t.Errorf("serial %s after a failed reload", got)
	}
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestServeCutsOffSlowLoris(t *testing.T) {
	srv, ca, _, _ := served(t, server.Options{ReadHeaderTimeout: 300 * time.Millisecond})
	addr := srv.Addr().String()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("POST /tlsrpt HTTP/1.1\r\nHost: x\r\n")) // and then nothing
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the slow client was not cut off")
			}
			break
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cut off after %v", d)
	}
	// Meanwhile the server serves others.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
}

func TestServeNeedsACertificate(t *testing.T) {
	if _, err := server.Listen(testkit.OpenStore(t), parse.New(parse.Limits{}), server.Options{Listen: "127.0.0.1:0"}); err == nil {
		t.Error("HTTPS without a certificate started")
	}
}

// pebbleBinary finds pebble, the test ACME server (.ci/run installs it
// with go install).
func pebbleBinary(t *testing.T) string {
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	out, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(out)), "bin", "pebble")
	if _, err := os.Stat(p); err != nil {
		t.Skip("pebble is not installed (go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1; .ci/run does)")
	}
	return p
}

// answerLoopback serves DNS on a loopback port, over UDP and TCP (which
// pebble uses): every name is 127.0.0.1, so pebble's validation authority
// comes back to this machine.
func answerLoopback(t *testing.T) string {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if q := req.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(127, 0, 0, 1)})
		}
		w.WriteMsg(m)
	})
	for range 10 { // the TCP port of the UDP one may be taken: try another
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			continue
		}
		udp, tcp := &dns.Server{PacketConn: pc, Handler: handler}, &dns.Server{Listener: ln, Handler: handler}
		go udp.ActivateAndServe()
		go tcp.ActivateAndServe()
		t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
		return pc.LocalAddr().String()
	}
	t.Fatal("no loopback port free over both UDP and TCP")
	return ""
}

type pebble struct {
	api, mgmt string
	client    *http.Client // trusts pebble's HTTPS certificate
	log       *bytes.Buffer
}

// startPebble runs pebble validating for real: it resolves names with a
// loopback DNS server and checks tls-alpn-01 on tlsPort and http-01 on
// httpPort of 127.0.0.1.
func startPebble(t *testing.T, tlsPort, httpPort string) *pebble {
	t.Helper()
	bin := pebbleBinary(t)
	dir := t.TempDir()
	ca := testkit.NewCA(t)
	ca.IssueFiles(t, filepath.Join(dir, "pebble-cert.pem"), filepath.Join(dir, "pebble-key.pem"), "127.0.0.1", "localhost")
	p := &pebble{api: testkit.FreeAddr(t), mgmt: testkit.FreeAddr(t), log: new(bytes.Buffer),
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}, Timeout: 30 * time.Second}}
	conf := fmt.Sprintf(`{"pebble": {"listenAddress": %q, "managementListenAddress": %q,
"certificate": %q, "privateKey": %q, "httpPort": %s, "tlsPort": %s,
"profiles": {"default": {"description": "test", "validityPeriod": 7776000}}}}`,
		p.api, p.mgmt, filepath.Join(dir, "pebble-cert.pem"), filepath.Join(dir, "pebble-key.pem"), httpPort, tlsPort)
	os.WriteFile(filepath.Join(dir, "pebble.json"), []byte(conf), 0o644)
	cmd := exec.Command(bin, "-config", filepath.Join(dir, "pebble.json"), "-dnsserver", answerLoopback(t))
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitHTTPS(t, p.client, "https://"+p.api+"/dir", p.log)
	return p
}

// roots is pebble's issuing root, which ACME certificates chain to.
func (p *pebble) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.client.Get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("pebble root: %q", rootPEM)
	}
	return roots
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// TestServeACMEWithPebble obtains certificates from pebble, which checks
// the challenges for real: tls-alpn-01 on the serving port, and http-01 on
// --acme-http-listen when the CA cannot reach the TLS port.
func TestServeACMEWithPebble(t *testing.T) {
	for _, challenge := range []string{"tls-alpn-01", "http-01"} {
		t.Run(challenge, func(t *testing.T) {
			listen, httpListen := testkit.FreeAddr(t), testkit.FreeAddr(t)
			acme := server.ACMEOptions{Domains: []string{"reports.test"}}
			var p *pebble
			if challenge == "tls-alpn-01" {
				p = startPebble(t, portOf(listen), portOf(httpListen)) // nothing answers http-01
			} else {
				p = startPebble(t, portOf(testkit.FreeAddr(t)), portOf(httpListen)) // nothing answers tls-alpn-01
				acme.HTTPListen = httpListen
			}
			dir := t.TempDir()
			acme.Directory, acme.Cache, acme.HTTPClient = "https://"+p.api+"/dir", filepath.Join(dir, "acme"), p.client
			policy := filepath.Join(dir, "policy.txt")
			os.WriteFile(policy, []byte("version: STSv1\nmode: testing\nmx: mx.example.test\nmax_age: 86400\n"), 0o644)
			srv, err := server.Listen(testkit.OpenStore(t), parse.New(parse.Limits{}), server.Options{Listen: listen,
				ACME: acme, Policies: map[string]string{"example.test": policy}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go srv.Serve(ctx)

			// The first handshake for reports.test obtains the certificate
			// from pebble; it must chain to pebble's root.
			roots := p.roots(t)
			client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "reports.test"}}}
			report, _ := os.ReadFile("../testdata/quirks/no-timezone.json")
			resp, err := client.Post("https://"+srv.Addr().String()+"/tlsrpt", "application/tlsrpt+json", bytes.NewReader(report))
			if err != nil {
				t.Fatalf("posting over the ACME certificate: %v\npebble: %s", err, p.log.String())
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("status %d", resp.StatusCode)
			}
			if _, err := os.Stat(filepath.Join(dir, "acme", "reports.test")); err != nil {
				t.Errorf("certificate not cached: %v", err)
			}
			// The policy host gets its certificate the same way.
			pc, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "mta-sts.example.test"})
			if err != nil {
				t.Errorf("mta-sts host: %v", err)
			} else {
				pc.Close()
			}
			// A name not configured gets no certificate.
			if _, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "other.test"}); err == nil {
				t.Error("a certificate was obtained for a name not configured")
			}
			if challenge == "http-01" {
				// The challenge port sends everything else to HTTPS.
				noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				req, _ := http.NewRequest("GET", "http://"+srv.ChallengeAddr().String()+"/tlsrpt", nil)
				req.Host = "reports.test"
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "https://reports.test/tlsrpt" {
					t.Errorf("plain HTTP: %d to %q", resp.StatusCode, loc)
				}
			} else if srv.ChallengeAddr() != nil {
				t.Error("an http-01 listener without --acme-http-listen")
			}
		})
	}
}

func waitHTTPS(t *testing.T, c *http.Client, url string, log *bytes.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer: %v\n%s", url, err, log.String())
		}
	}
}

func TestServeHostsPolicyBesideReports(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.txt")
	os.WriteFile(file, []byte("version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n"), 0o644)
	var logs syncBuffer
	srv, ca, _, _ := served(t, server.Options{Policies: map[string]string{"example.com": file},
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Handler: ingest.HandlerOptions{Rate: 0.01, Burst: 3}})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, "https://"+srv.Addr().String()+"/.well-known/mta-sts.txt", nil)
	req.Host = "mta-sts.example.com"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "version: STSv1\r\n") || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("policy: %d %q", resp.StatusCode, body)
	}
	report, _ := os.ReadFile("../testdata/quirks/no-timezone.json")
	resp, err = client.Post("https://"+srv.Addr().String()+"/tlsrpt", "application/tlsrpt+json", bytes.NewReader(report))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("report beside the policy: %d", resp.StatusCode)
	}
	// The policy's requests are logged, and pass the same limits: the
	// burst of 3 is spent (a policy GET and a report), the next is 429.
	if !strings.Contains(logs.String(), `host=mta-sts.example.com path=/.well-known/mta-sts.txt status=200 outcome=served`) {
		t.Errorf("no log line for the policy request:\n%s", logs.String())
	}
	codes := []int{}
	for range 2 {
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if codes[len(codes)-1] != http.StatusTooManyRequests {
		t.Errorf("policy requests past the burst: %v, want the last 429", codes)
	}
}

type syncBuffer = testkit.SyncBuffer
