package mailauth

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
)

// keyServer is a DNS server on loopback that publishes TXT records.
type keyServer struct {
	addr    string
	mu      sync.Mutex
	records map[string]string // name (no final dot) -> TXT
	ttl     uint32
	queries int
}

func startKeyServer(t testing.TB) *keyServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ks := &keyServer{addr: pc.LocalAddr().String(), records: map[string]string{}, ttl: 3600}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		ks.mu.Lock()
		ks.queries++
		txt, ok := ks.records[strings.TrimSuffix(strings.ToLower(q.Name), ".")]
		ttl := ks.ttl
		ks.mu.Unlock()
		if !ok {
			m.Rcode = dns.RcodeNameError
		} else {
			// Long keys come as several strings of at most 255 bytes.
			var parts []string
			for len(txt) > 255 {
				parts, txt = append(parts, txt[:255]), txt[255:]
			}
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
				Txt: append(parts, txt)})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return ks
}

func (ks *keyServer) publish(name, txt string) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.records[name] = txt
}

func (ks *keyServer) count() int {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.queries
}

// signer is a key pair published under selector._domainkey.domain.
type signer struct {
	domain, selector string
	key              crypto.Signer
}

func rsaSigner(t testing.TB, ks *keyServer, domain, selector, extra string) signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	ks.publish(selector+"._domainkey."+domain, "v=DKIM1; k=rsa; "+extra+"p="+base64.StdEncoding.EncodeToString(der))
	return signer{domain, selector, key}
}

func ed25519Signer(t testing.TB, ks *keyServer, domain, selector, extra string) signer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ks.publish(selector+"._domainkey."+domain, "v=DKIM1; k=ed25519; "+extra+"p="+base64.StdEncoding.EncodeToString(pub))
	return signer{domain, selector, key}
}

func report(from, submitter string) []byte {
	var b strings.Builder
	b.WriteString("From: TLS reporting <" + from + ">\r\n")
	if submitter != "" {
		b.WriteString("TLS-Report-Submitter: " + submitter + "\r\n")
	}
	b.WriteString("To: tlsrpt@example.com\r\nSubject: Report Domain: example.com Submitter: " + submitter + "\r\n" +
		"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <r1@" + submitter + ">\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: application/tlsrpt+json\r\n\r\n" +
		`{"organization-name":"Reporter","report-id":"r1"}` + "\r\n")
	return []byte(b.String())
}

func (s signer) sign(t testing.TB, msg []byte, expires time.Time) []byte {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{Domain: s.domain, Selector: s.selector, Signer: s.key,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID", "TLS-Report-Submitter", "Content-Type"}, Expiration: expires})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestVerify(t *testing.T) {
	ks := startKeyServer(t)
	v, err := New(Options{Resolver: ks.addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := rsaSigner(t, ks, "reporter.example", "s1", "")
	edSub := ed25519Signer(t, ks, "corp.reporter.net", "ed", "")
	tlsrptKey := rsaSigner(t, ks, "reporter.org", "tls", "s=tlsrpt; ")
	emailTLSRPT := rsaSigner(t, ks, "reporter.io", "both", "s=email:tlsrpt; ")
	otherService := rsaSigner(t, ks, "reporter.dev", "other", "s=other; ")
	unrelated := rsaSigner(t, ks, "evil.example", "s1", "")
	missing := signer{"reporter.example", "gone", rsaKey.key}

	tampered := rsaKey.sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{})
	tampered = bytes.Replace(tampered, []byte(`"r1"`), []byte(`"r2"`), 1)
	withL := rsaKey.sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{})
	withL = bytes.Replace(withL, []byte("DKIM-Signature: "), []byte("DKIM-Signature: l=10; "), 1)
	// A signature on top of a forwarded message: the second verifies.
	twice := unrelated.sign(t, rsaKey.sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}), time.Time{})

	for _, tt := range []struct {
		name   string
		msg    []byte
		dkim   string
		domain string
		auth   bool
		reason string
	}{
		{"RSA by the submitter's domain", rsaKey.sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}), Pass, "reporter.example", true, ""},
		{"Ed25519 by an organisational subdomain", edSub.sign(t, report("noreply@corp.reporter.net", "reporter.net"), time.Time{}), Pass, "corp.reporter.net", true, ""},
		{"by the From domain, no submitter", rsaKey.sign(t, report("noreply@mail.reporter.example", ""), time.Time{}), Pass, "reporter.example", true, ""},
		{"key with s=tlsrpt", tlsrptKey.sign(t, report("tlsrpt@reporter.org", "reporter.org"), time.Time{}), Pass, "reporter.org", true, ""},
		{"key with s=email:tlsrpt", emailTLSRPT.sign(t, report("tlsrpt@reporter.io", "reporter.io"), time.Time{}), Pass, "reporter.io", true, ""},
		{"key for another service", otherService.sign(t, report("tlsrpt@reporter.dev", "reporter.dev"), time.Time{}), Fail, "reporter.dev", false, "inappropriate service"},
		{"with l=", withL, Fail, "reporter.example", false, "body length"},
		{"tampered after signing", tampered, Fail, "reporter.example", false, "body hash did not verify"},
		{"unsigned", report("noreply@reporter.example", "reporter.example"), None, "", false, "no DKIM signature"},
		{"signed by an unrelated domain", unrelated.sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}), Pass, "evil.example", false, "is not the reporter's"},
		{"unrelated domain claiming to submit", unrelated.sign(t, report("noreply@reporter.example", "evil.example"), time.Time{}), Pass, "evil.example", true, ""},
		{"key missing", missing.sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}), Fail, "reporter.example", false, "no key"},
		{"expired", rsaKey.sign(t, report("noreply@reporter.example", "reporter.example"), time.Now().Add(-time.Hour)), Fail, "reporter.example", false, "expired"},
		{"public suffix as submitter", unrelated.sign(t, report("x@evil.example", "example"), time.Time{}), Pass, "evil.example", true, ""},
		{"two signatures, the reporter's second", twice, Pass, "reporter.example", true, ""},
		{"mbox From line", append([]byte("From MAILER-DAEMON Tue Dec  1 10:00:00 2026\n"), rsaKey.sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{})...), Pass, "reporter.example", true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := v.Verify(tt.msg)
			if r.DKIM != tt.dkim || r.Domain != tt.domain || r.Authenticated != tt.auth || !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("got %+v, want %s %s authenticated=%v reason ~%q", r, tt.dkim, tt.domain, tt.auth, tt.reason)
			}
			if strings.Contains(r.Reason, "\n") {
				t.Errorf("reason on several lines: %q", r.Reason)
			}
		})
	}
}

// TestVerifyTimeout: a resolver that never answers is a temperror, not a
// fail: the message is tried again later.
func TestVerifyTimeout(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close() // reads nothing, answers nothing
	ks := startKeyServer(t)
	s := rsaSigner(t, ks, "reporter.example", "s1", "")
	v, err := New(Options{Resolver: pc.LocalAddr().String(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := v.Verify(s.sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}))
	if r.DKIM != TempError || r.Authenticated || !strings.Contains(r.Reason, "timeout") {
		t.Errorf("got %+v", r)
	}
	// Not kept: the next message asks again.
	before := v.Lookups()
	v.Verify(s.sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}))
	if v.Lookups() != before+1 {
		t.Errorf("a timeout was cached: %d lookups, then %d", before, v.Lookups())
	}
}

// TestKeysCachedForTheirTTL: one lookup for many messages of one sender,
// another once the record's TTL has passed.
func TestKeysCachedForTheirTTL(t *testing.T) {
	ks := startKeyServer(t)
	ks.ttl = 600
	s := rsaSigner(t, ks, "reporter.example", "s1", "")
	v, err := New(Options{Resolver: ks.addr})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	v.keys.now = func() time.Time { return clock }
	msg := s.sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{})
	for range 100 {
		if r := v.Verify(msg); !r.Authenticated {
			t.Fatalf("%+v", r)
		}
	}
	if n := ks.count(); n != 1 {
		t.Errorf("%d DNS queries for 100 messages, want 1", n)
	}
	clock = clock.Add(11 * time.Minute)
	v.Verify(msg)
	if n := ks.count(); n != 2 {
		t.Errorf("%d DNS queries after the TTL, want 2", n)
	}
}

// TestRealReportersHeaders: the real corpus's mails keep their original
// signatures, whose keys are not published here: they are read, and fail
// (or temperror) without a crash; their reporters are named as they are.
func TestRealReportersHeaders(t *testing.T) {
	files, _ := filepath.Glob("../../shared/corpus/*.eml")
	more, _ := filepath.Glob("../../shared/corpus/reporters/*.eml")
	files = append(files, more...)
	if len(files) == 0 {
		t.Skip("no ../shared/corpus beside the checkout")
	}
	ks := startKeyServer(t) // knows no key: every lookup is NXDOMAIN
	v, err := New(Options{Resolver: ks.addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // file -> the signing domain
		"google-2024-sts.eml":             "google.com",
		"microsoft-2024-sts-and-tlsa.eml": "microsoft.com",
		"mailru-2023-fetch-error.eml":     "corp.mail.ru",
		"microsoft-2023-no-timezone.eml":  "microsoft.com",
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r := v.Verify(data)
		name := filepath.Base(f)
		if r.Authenticated || (r.DKIM != Fail && r.DKIM != TempError && r.DKIM != None) {
			t.Errorf("%s: %+v", name, r)
		}
		if d, ok := want[name]; ok && (r.Domain != d || r.DKIM != Fail) {
			t.Errorf("%s: %+v, want a fail of %s", name, r, d)
		}
	}
	// Mail.ru signs as corp.mail.ru for submitter mail.ru: the same
	// organisation.
	data, err := os.ReadFile("../../shared/corpus/mailru-2023-fetch-error.eml")
	if err != nil {
		t.Fatal(err)
	}
	if rd := reporterDomains(data); !sameOrganisation("corp.mail.ru", rd) || sameOrganisation("mail.ru.evil.example", rd) {
		t.Errorf("Mail.ru's reporter domains %v", rd)
	}
}

func TestForTLSReports(t *testing.T) {
	for in, want := range map[string]string{
		"v=DKIM1; s=tlsrpt; p=AB":       "v=DKIM1; s=*; p=AB",
		"v=DKIM1; s=email:tlsrpt; p=AB": "v=DKIM1; s=*; p=AB",
		"v=DKIM1; s=email; p=AB":        "v=DKIM1; s=email; p=AB",
		"v=DKIM1; p=AB":                 "v=DKIM1; p=AB",
		"v=DKIM1;s=TLSRPT;p=AB":         "v=DKIM1; s=*;p=AB",
	} {
		if got := forTLSReports(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

// BenchmarkVerify is one RSA-2048 signed report message of about 2 KB
// verified with its key in the cache: the cost verification adds to a
// mailed report's import.
func BenchmarkVerify(b *testing.B) {
	ks := startKeyServer(b)
	s := rsaSigner(b, ks, "reporter.example", "s1", "")
	v, err := New(Options{Resolver: ks.addr})
	if err != nil {
		b.Fatal(err)
	}
	msg := report("noreply@reporter.example", "reporter.example")
	msg = append(msg, bytes.Repeat([]byte("H4sIAAAAAAAA/6tWyk0tLk5MT1WyUlBKSsxLT1UoSS0uUUjJTEnNS1GoBQC3b2VZGwAAAA==\r\n"), 24)...)
	msg = s.sign(b, msg, time.Time{})
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if r := v.Verify(msg); !r.Authenticated {
			b.Fatal(r)
		}
	}
}
