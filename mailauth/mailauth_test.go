package mailauth

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/dkimtest"
)

func startKeyServer(t testing.TB) *dkimtest.Server { return dkimtest.Start(t) }

func rsaSigner(t testing.TB, ks *dkimtest.Server, domain, selector, extra string) dkimtest.Key {
	return dkimtest.RSAKey(t, ks, domain, selector, extra)
}

func ed25519Signer(t testing.TB, ks *dkimtest.Server, domain, selector, extra string) dkimtest.Key {
	return dkimtest.Ed25519Key(t, ks, domain, selector, extra)
}

func report(from, submitter string) []byte {
	return dkimtest.Message(from, submitter, `{"organization-name":"Reporter","report-id":"r1"}`)
}

func TestVerify(t *testing.T) {
	ks := startKeyServer(t)
	v, err := New(Options{Resolver: ks.Addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := rsaSigner(t, ks, "reporter.example", "s1", "")
	edSub := ed25519Signer(t, ks, "corp.reporter.net", "ed", "")
	tlsrptKey := rsaSigner(t, ks, "reporter.org", "tls", "s=tlsrpt; ")
	emailTLSRPT := rsaSigner(t, ks, "reporter.io", "both", "s=email:tlsrpt; ")
	otherService := rsaSigner(t, ks, "reporter.dev", "other", "s=other; ")
	unrelated := rsaSigner(t, ks, "evil.example", "s1", "")
	missing := dkimtest.Key{Domain: "reporter.example", Selector: "gone", Signer: rsaKey.Signer}

	tampered := rsaKey.Sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{})
	tampered = bytes.Replace(tampered, []byte(`"r1"`), []byte(`"r2"`), 1)
	withL := rsaKey.Sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{})
	withL = bytes.Replace(withL, []byte("DKIM-Signature: "), []byte("DKIM-Signature: l=10; "), 1)
	// A signature on top of a forwarded message: the second verifies.
	twice := unrelated.Sign(t, rsaKey.Sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}), time.Time{})

	for _, tt := range []struct {
		name   string
		msg    []byte
		dkim   string
		domain string
		auth   bool
		reason string
	}{
		{"RSA by the submitter's domain", rsaKey.Sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}), Pass, "reporter.example", true, ""},
		{"Ed25519 by an organisational subdomain", edSub.Sign(t, report("noreply@corp.reporter.net", "reporter.net"), time.Time{}), Pass, "corp.reporter.net", true, ""},
		{"by the From domain, no submitter", rsaKey.Sign(t, report("noreply@mail.reporter.example", ""), time.Time{}), Pass, "reporter.example", true, ""},
		{"key with s=tlsrpt", tlsrptKey.Sign(t, report("tlsrpt@reporter.org", "reporter.org"), time.Time{}), Pass, "reporter.org", true, ""},
		{"key with s=email:tlsrpt", emailTLSRPT.Sign(t, report("tlsrpt@reporter.io", "reporter.io"), time.Time{}), Pass, "reporter.io", true, ""},
		{"key for another service", otherService.Sign(t, report("tlsrpt@reporter.dev", "reporter.dev"), time.Time{}), Fail, "reporter.dev", false, "inappropriate service"},
		{"with l=", withL, Fail, "reporter.example", false, "body length"},
		{"tampered after signing", tampered, Fail, "reporter.example", false, "body hash did not verify"},
		{"unsigned", report("noreply@reporter.example", "reporter.example"), None, "", false, "no DKIM signature"},
		{"signed by an unrelated domain", unrelated.Sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}), Pass, "evil.example", false, "is not the reporter's"},
		{"unrelated domain claiming to submit", unrelated.Sign(t, report("noreply@reporter.example", "evil.example"), time.Time{}), Pass, "evil.example", true, ""},
		{"key missing", missing.Sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}), Fail, "reporter.example", false, "no key"},
		{"expired", rsaKey.Sign(t, report("noreply@reporter.example", "reporter.example"), time.Now().Add(-time.Hour)), Fail, "reporter.example", false, "expired"},
		{"public suffix as submitter", unrelated.Sign(t, report("x@evil.example", "example"), time.Time{}), Pass, "evil.example", true, ""},
		{"two signatures, the reporter's second", twice, Pass, "reporter.example", true, ""},
		{"mbox From line", append([]byte("From MAILER-DAEMON Tue Dec  1 10:00:00 2026\n"), rsaKey.Sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{})...), Pass, "reporter.example", true, ""},
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
	r := v.Verify(s.Sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}))
	if r.DKIM != TempError || r.Authenticated || !strings.Contains(r.Reason, "timeout") {
		t.Errorf("got %+v", r)
	}
	// Not kept: the next message asks again.
	before := v.Lookups()
	v.Verify(s.Sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{}))
	if v.Lookups() != before+1 {
		t.Errorf("a timeout was cached: %d lookups, then %d", before, v.Lookups())
	}
}

// TestKeysCachedForTheirTTL: one lookup for many messages of one sender,
// another once the record's TTL has passed.
func TestKeysCachedForTheirTTL(t *testing.T) {
	ks := startKeyServer(t)
	ks.TTL = 600
	s := rsaSigner(t, ks, "reporter.example", "s1", "")
	v, err := New(Options{Resolver: ks.Addr})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	v.keys.now = func() time.Time { return clock }
	msg := s.Sign(t, report("noreply@reporter.example", "reporter.example"), time.Time{})
	for range 100 {
		if r := v.Verify(msg); !r.Authenticated {
			t.Fatalf("%+v", r)
		}
	}
	if n := ks.Queries(); n != 1 {
		t.Errorf("%d DNS queries for 100 messages, want 1", n)
	}
	clock = clock.Add(11 * time.Minute)
	v.Verify(msg)
	if n := ks.Queries(); n != 2 {
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
	v, err := New(Options{Resolver: ks.Addr, Timeout: time.Second})
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
	v, err := New(Options{Resolver: ks.Addr})
	if err != nil {
		b.Fatal(err)
	}
	msg := report("noreply@reporter.example", "reporter.example")
	msg = append(msg, bytes.Repeat([]byte("H4sIAAAAAAAA/6tWyk0tLk5MT1WyUlBKSsxLT1UoSS0uUUjJTEnNS1GoBQC3b2VZGwAAAA==\r\n"), 24)...)
	msg = s.Sign(b, msg, time.Time{})
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if r := v.Verify(msg); !r.Authenticated {
			b.Fatal(r)
		}
	}
}

// TestNoResolver: without a resolver a key look-up is a temporary error
// (mail left for later under require), not a refusal and not a failure to
// start: report files need none.
func TestNoResolver(t *testing.T) {
	c := &keyCache{entries: map[string]keyEntry{}, now: time.Now}
	if _, err := c.lookupTXT("s1._domainkey.reporter.example"); err == nil || !strings.Contains(err.Error(), "no DNS resolver") {
		t.Fatalf("look-up without a resolver: %v", err)
	} else if _, temporary := err.(tempError); !temporary {
		t.Errorf("not temporary: %v", err)
	}
}
