// Package dkimtest is what DKIM tests share: a DNS server on loopback that
// publishes key records, and keys that sign messages with go-msgauth.
package dkimtest

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
)

// Server is a DNS server on loopback answering TXT queries from Records;
// other names are NXDOMAIN.
type Server struct {
	Addr    string
	TTL     uint32
	mu      sync.Mutex
	records map[string]string
	queries int
}

// Start starts a Server, stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: pc.LocalAddr().String(), records: map[string]string{}, TTL: 3600}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		s.mu.Lock()
		s.queries++
		txt, ok := s.records[strings.TrimSuffix(strings.ToLower(q.Name), ".")]
		ttl := s.TTL
		s.mu.Unlock()
		if !ok {
			m.Rcode = dns.RcodeNameError
		} else {
			var parts []string // strings of at most 255 bytes
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
	return s
}

// Publish sets the TXT record at name.
func (s *Server) Publish(name, txt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[name] = txt
}

// Queries is how many queries the server has answered.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// Key signs as selector._domainkey.domain.
type Key struct {
	Domain, Selector string
	Signer           crypto.Signer
}

// RSAKey makes a 2048-bit RSA key and publishes it, with extra tags
// ("s=tlsrpt; ") before p=.
func RSAKey(t testing.TB, s *Server, domain, selector, extra string) Key {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	s.Publish(selector+"._domainkey."+domain, "v=DKIM1; k=rsa; "+extra+"p="+base64.StdEncoding.EncodeToString(der))
	return Key{domain, selector, key}
}

// Ed25519Key makes an Ed25519 key and publishes it.
func Ed25519Key(t testing.TB, s *Server, domain, selector, extra string) Key {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.Publish(selector+"._domainkey."+domain, "v=DKIM1; k=ed25519; "+extra+"p="+base64.StdEncoding.EncodeToString(pub))
	return Key{domain, selector, key}
}

// Sign signs msg; a non-zero expires sets x=.
func (k Key) Sign(t testing.TB, msg []byte, expires time.Time) []byte {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID", "TLS-Report-Submitter", "Content-Type"}, Expiration: expires})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// Message is a report mail from from, naming submitter in
// TLS-Report-Submitter (none when empty), with body as its JSON report.
func Message(from, submitter, body string) []byte {
	var b strings.Builder
	b.WriteString("From: TLS reporting <" + from + ">\r\n")
	if submitter != "" {
		b.WriteString("TLS-Report-Submitter: " + submitter + "\r\n")
	}
	b.WriteString("To: tlsrpt@example.com\r\nSubject: Report Domain: example.com Submitter: " + submitter + "\r\n" +
		"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <r1@" + submitter + ">\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: application/tlsrpt+json\r\n\r\n" + body + "\r\n")
	return []byte(b.String())
}
