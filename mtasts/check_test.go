package mtasts_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/mtasts"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/server"
)

const domain = "example.test"

// zone is what the test DNS server answers: name -> records.
type zone map[string][]dns.RR

func rr(t *testing.T, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// goodZone: two MX, one _mta-sts record, one TLS-RPT record, and every name
// on 127.0.0.1.
func goodZone(t *testing.T) zone {
	z := zone{}
	add := func(s string) {
		r := rr(t, s)
		z[r.Header().Name] = append(z[r.Header().Name], r)
	}
	add("example.test. 300 IN MX 10 mx1.mx.example.test.")
	add("example.test. 300 IN MX 20 mx2.mx.example.test.")
	add(`_mta-sts.example.test. 300 IN TXT "v=STSv1; id=20261122164700"`)
	add(`_smtp._tls.example.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"`)
	for _, h := range []string{"mx1.mx.example.test.", "mx2.mx.example.test.", "mta-sts.example.test.", "other.example.test."} {
		add(h + " 300 IN A 127.0.0.1")
	}
	return z
}

// startDNS serves z on a loopback UDP port.
func startDNS(t *testing.T, z zone) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		found := false
		for _, r := range z[strings.ToLower(q.Name)] {
			found = true
			if r.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, r)
			}
		}
		if !found {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// startSMTP is a minimal SMTP server: banner, EHLO (offering STARTTLS when
// cert is set), STARTTLS, QUIT.
func startSMTP(t *testing.T, cert *tls.Certificate) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func(conn net.Conn) {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				rd := bufio.NewReader(conn)
				fmt.Fprintf(conn, "220 mx.example.test ESMTP test\r\n")
				for {
					line, err := rd.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
					case "EHLO", "HELO":
						if cert != nil {
							fmt.Fprintf(conn, "250-mx.example.test\r\n250 STARTTLS\r\n")
						} else {
							fmt.Fprintf(conn, "250 mx.example.test\r\n")
						}
					case "STARTTLS":
						fmt.Fprintf(conn, "220 go ahead\r\n")
						tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{*cert}})
						if err := tc.Handshake(); err != nil {
							return
						}
						conn, rd = tc, bufio.NewReader(tc)
					case "QUIT":
						fmt.Fprintf(conn, "221 bye\r\n")
						return
					default:
						fmt.Fprintf(conn, "250 ok\r\n")
					}
				}
			}(conn)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// servePolicy runs tlsrpt's own serve hosting policy for example.test.
func servePolicy(t *testing.T, ca *testkit.CA, policy string) int {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.txt")
	os.WriteFile(file, []byte(policy), 0o644)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.IssueFiles(t, certFile, keyFile, "mta-sts."+domain)
	st := testkit.OpenStore(t)
	srv, err := server.Listen(st, parse.New(parse.Limits{}), server.Options{Listen: "127.0.0.1:0",
		CertFile: certFile, KeyFile: keyFile, Policies: map[string]string{domain: file}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go srv.Serve(ctx)
	return srv.Addr().(*net.TCPAddr).Port
}

// serveRaw answers the policy URL with handler, over TLS for mta-sts.example.test.
func serveRaw(t *testing.T, ca *testkit.CA, h http.HandlerFunc) int {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Issue(t, "mta-sts."+domain)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port, _ := strconv.Atoi(srv.URL[strings.LastIndex(srv.URL, ":")+1:])
	return port
}

const enforcePolicy = "version: STSv1\nmode: enforce\nmx: *.mx.example.test\nmax_age: 604800\n"

func TestCheck(t *testing.T) {
	ca := testkit.NewCA(t)
	goodSMTP := startSMTP(t, ca.IssueValid(t, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour), "mx1.mx.example.test", "mx2.mx.example.test"))
	tests := []struct {
		name   string
		zone   func(zone)
		https  func() int
		smtp   func() int
		step   string
		status mtasts.Status
		detail string
	}{
		{name: "all good", step: "", status: mtasts.Pass},
		{name: "redirect", https: func() int {
			return serveRaw(t, ca, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://elsewhere.example.test/policy.txt", http.StatusFound)
			})
		}, step: "policy fetch", status: mtasts.Fail, detail: "senders must not follow redirects"},
		{name: "404", https: func() int { return serveRaw(t, ca, http.NotFound) }, step: "policy fetch", status: mtasts.Fail, detail: "status 404"},
		{name: "wrong content type", https: func() int {
			return serveRaw(t, ca, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				fmt.Fprint(w, enforcePolicy)
			})
		}, step: "policy fetch", status: mtasts.Fail, detail: `media type "text/html"`},
		{name: "max_age too large", https: func() int {
			return servePolicyRaw(t, ca, strings.Replace(enforcePolicy, "604800", "40000000", 1))
		}, step: "policy fetch", status: mtasts.Fail, detail: "max_age 40000000"},
		{name: "mode given twice", https: func() int {
			return servePolicyRaw(t, ca, strings.Replace(enforcePolicy, "mode: enforce\n", "mode: enforce\nmode: testing\n", 1))
		}, step: "policy fields", status: mtasts.Warn, detail: `mode given twice (line 3: "testing"): RFC 8461 section 3.2 applies the first`},
		{name: "mx not matched", zone: func(z zone) {
			z["example.test."] = append(z["example.test."], rr(t, "example.test. 300 IN MX 30 other.example.test."))
		}, step: "mx match", status: mtasts.Fail, detail: "other.example.test not matched"},
		{name: "no starttls", smtp: func() int { return startSMTP(t, nil) }, step: "smtp mx1.mx.example.test", status: mtasts.Fail, detail: "STARTTLS not offered"},
		{name: "expired certificate", smtp: func() int {
			return startSMTP(t, ca.IssueValid(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), "mx1.mx.example.test", "mx2.mx.example.test"))
		}, step: "smtp mx1.mx.example.test", status: mtasts.Fail, detail: "expired"},
		{name: "certificate expiring soon", smtp: func() int {
			return startSMTP(t, ca.IssueValid(t, time.Now().Add(-time.Hour), time.Now().Add(5*24*time.Hour+time.Hour), "mx1.mx.example.test", "mx2.mx.example.test"))
		}, step: "smtp mx1.mx.example.test", status: mtasts.Warn, detail: "expires in 5 days"},
		{name: "no tls-rpt record", zone: func(z zone) { delete(z, "_smtp._tls.example.test.") },
			step: "_smtp._tls record", status: mtasts.Fail, detail: "no v=TLSRPTv1 TXT record"},
		{name: "two mta-sts records", zone: func(z zone) {
			z["_mta-sts.example.test."] = append(z["_mta-sts.example.test."], rr(t, `_mta-sts.example.test. 300 IN TXT "v=STSv1; id=2"`))
		}, step: "_mta-sts record", status: mtasts.Fail, detail: "2 v=STSv1 TXT records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := goodZone(t)
			if tt.zone != nil {
				tt.zone(z)
			}
			o := mtasts.CheckOptions{Resolver: startDNS(t, z), RootCAs: ca.Pool, SMTPPort: goodSMTP, Timeout: 5 * time.Second}
			if tt.https != nil {
				o.HTTPSPort = tt.https()
			} else {
				o.HTTPSPort = servePolicy(t, ca, enforcePolicy)
			}
			if tt.smtp != nil {
				o.SMTPPort = tt.smtp()
			}
			r, err := mtasts.Check(context.Background(), domain, o)
			if err != nil {
				t.Fatal(err)
			}
			if tt.step == "" {
				if r.Verdict != mtasts.Pass || len(r.Steps) != 7 {
					t.Errorf("verdict %s, steps %+v", r.Verdict, r.Steps)
				}
				return
			}
			if r.Verdict != tt.status {
				t.Errorf("verdict %s, want %s: %+v", r.Verdict, tt.status, r.Steps)
			}
			for _, s := range r.Steps {
				if s.Name == tt.step {
					if s.Status != tt.status || !strings.Contains(s.Detail, tt.detail) {
						t.Errorf("%s: %s %q, want %s with %q", s.Name, s.Status, s.Detail, tt.status, tt.detail)
					}
					return
				}
			}
			t.Errorf("no step %q in %+v", tt.step, r.Steps)
		})
	}
}

// servePolicyRaw serves a policy text that tlsrpt serve itself would refuse.
func servePolicyRaw(t *testing.T, ca *testkit.CA, policy string) int {
	return serveRaw(t, ca, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, policy)
	})
}

// TestCheckNamesTheResolverAsked: a DNS failure names the --resolver
// server, not the system's (Go's resolver names the latter).
func TestCheckNamesTheResolverAsked(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeServerFailure)
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	failing := pc.LocalAddr().String()
	r, err := mtasts.Check(context.Background(), domain, mtasts.CheckOptions{Resolver: failing, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("a resolver answering SERVFAIL answered: %v", err)
	}
	if r.Verdict != mtasts.Fail || len(r.Steps) == 0 {
		t.Fatalf("verdict %s, steps %+v", r.Verdict, r.Steps)
	}
	if s := r.Steps[0]; s.Status != mtasts.Fail || !strings.Contains(s.Detail, failing) {
		t.Errorf("first step %+v does not name %s", s, failing)
	}
}

// A resolver that does not answer at all (refused, or silent) fails the
// check itself, not the domain: ErrResolver, naming the server.
func TestCheckResolverDoesNotAnswer(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for _, addr := range []string{"127.0.0.1:9", silent.LocalAddr().String()} {
		_, err := mtasts.Check(context.Background(), "example.test", mtasts.CheckOptions{Resolver: addr, Timeout: time.Second})
		if !errors.Is(err, mtasts.ErrResolver) || !strings.Contains(err.Error(), addr) {
			t.Errorf("%s: %v, want ErrResolver naming it", addr, err)
		}
	}
}
