// Package imaptest runs go-imap's in-memory IMAP server on loopback for
// tests, in plain text, with implicit TLS or with STARTTLS, and makes the
// test CA that signs its certificates (and those of other test servers).
package imaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

// User and Password are the server's one account.
const (
	User     = "reports"
	Password = "s3cret"
)

// FullCaps are IMAP4rev1 with MOVE, UIDPLUS and IDLE.
var FullCaps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}, imap.CapIdle: {}}

// Server is a running in-memory server.
type Server struct {
	Addr string
	User *imapmemserver.User
}

// TLS modes of Start.
const (
	Plain = iota
	ImplicitTLS
	StartTLS
)

// Start runs a server on a loopback port until the test ends. cert is used
// for the TLS modes.
func Start(t testing.TB, caps imap.CapSet, mode int, cert *tls.Certificate) *Server {
	t.Helper()
	return start(t, caps, mode, cert, false)
}

// StartLoginOnly runs a plain-text server that offers no SASL mechanism, so
// clients must use LOGIN.
func StartLoginOnly(t testing.TB, caps imap.CapSet) *Server {
	t.Helper()
	return start(t, caps, Plain, nil, true)
}

// loginOnly is a session that advertises an unknown SASL mechanism only.
// It embeds the concrete session, so MOVE, IDLE and the rest stay visible.
type loginOnly struct{ *imapmemserver.UserSession }

func (loginOnly) AuthenticateMechanisms() []string { return []string{"X-NONE"} }

func (s loginOnly) Login(username, password string) error {
	if username != User || password != Password {
		return imapserver.ErrAuthFailed
	}
	return nil
}

func (loginOnly) Authenticate(mech string) (sasl.Server, error) {
	return nil, fmt.Errorf("no SASL mechanism %s here", mech)
}

func start(t testing.TB, caps imap.CapSet, mode int, cert *tls.Certificate, loginOnlyAuth bool) *Server {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(User, Password)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	opts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			if loginOnlyAuth {
				return loginOnly{imapmemserver.NewUserSession(user)}, nil, nil
			}
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: mode == Plain,
		Logger:       nopLogger{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case ImplicitTLS:
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
	case StartTLS:
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	srv := imapserver.New(opts)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &Server{Addr: ln.Addr().String(), User: user}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

type literal struct {
	*bytes.Reader
	size int64
}

func (l literal) Size() int64 { return l.size }

// Append adds a message (LF or CRLF line ends) to a mailbox.
func (s *Server) Append(t testing.TB, mailbox string, msg []byte) {
	t.Helper()
	msg = bytes.ReplaceAll(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	if _, err := s.User.Append(mailbox, literal{bytes.NewReader(msg), int64(len(msg))}, &imap.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Count returns the number of messages in a mailbox, -1 when it does not exist.
func (s *Server) Count(mailbox string) int {
	st, err := s.User.Status(mailbox, &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return -1
	}
	return int(*st.NumMessages)
}

// CA is a test certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// PEM is the CA certificate, for a --ca-file.
	PEM []byte
	// Pool holds the CA certificate.
	Pool *x509.CertPool
}

// NewCA makes a CA valid for a day.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsrpt test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Pool: pool}
}

// Issue signs a server certificate for the names (DNS names or IPs),
// valid from an hour ago for a day.
func (ca *CA) Issue(t testing.TB, names ...string) *tls.Certificate {
	t.Helper()
	return ca.IssueValid(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), names...)
}

// IssueValid signs a server certificate valid from notBefore to notAfter.
func (ca *CA) IssueValid(t testing.TB, notBefore, notAfter time.Time, names ...string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// IssueFiles signs a server certificate for the names and writes it and its
// key as PEM files, as an operator would have them.
func (ca *CA) IssueFiles(t testing.TB, certFile, keyFile string, names ...string) *x509.Certificate {
	t.Helper()
	cert := ca.Issue(t, names...)
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	return leaf
}
