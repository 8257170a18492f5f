// Package imaptest runs go-imap's in-memory IMAP server on loopback for
// tests, in plain text, with implicit TLS or with STARTTLS (with a
// certificate from testkit's CA).
package imaptest

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"testing"

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
