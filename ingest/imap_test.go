package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/imaptest"
	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// memServer is go-imap's in-memory server on a loopback port.
type memServer struct{ *imaptest.Server }

var fullCaps = imaptest.FullCaps

func startMemServer(t *testing.T, caps imap.CapSet) *memServer {
	return &memServer{imaptest.Start(t, caps, imaptest.Plain, nil)}
}

func (s *memServer) appendMail(t *testing.T, mailbox string, msg []byte) { s.Append(t, mailbox, msg) }

func (s *memServer) count(t *testing.T, mailbox string) int { return s.Count(mailbox) }

func (s *memServer) opts() ingest.FetchOptions {
	return ingest.FetchOptions{Server: s.Addr, User: imaptest.User, Password: imaptest.Password, TLS: ingest.TLSNone}
}

// mailFixtures are the project's mail fixtures and the corpus's, when present.
func mailFixtures(t *testing.T) [][]byte {
	t.Helper()
	files, _ := filepath.Glob("../testdata/mail/*.eml")
	corpus, _ := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	var out [][]byte
	for _, f := range append(files, corpus...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// importFixtures imports the mail fixtures into a new store: what fetch of
// the same messages must match.
func importFixtures(t *testing.T) (store.Store, ingest.ImportStats) {
	t.Helper()
	ref := testkit.OpenStore(t)
	files, _ := filepath.Glob("../testdata/mail/*.eml")
	corpus, _ := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	return ref, mustImport(t, ref, parse.New(parse.Limits{}), append(files, corpus...)...)
}

// sameAsImport checks a store fetched into against the import of the same
// messages: counts, and every domain's figures.
func sameAsImport(t *testing.T, st store.Store, stats ingest.FetchStats, messages int) ingest.ImportStats {
	t.Helper()
	ref, imp := importFixtures(t)
	if stats.Messages != messages || stats.Stored != imp.Stored || stats.Duplicates != imp.Duplicates || stats.NoReport != imp.NoReport {
		t.Errorf("fetch %+v, import %+v", stats, imp)
	}
	sameFigures(t, st, ref)
	return imp
}

// sameFigures checks that two stores hold the same reports per domain:
// nothing lost, nothing doubled.
func sameFigures(t *testing.T, st, ref store.Store) {
	t.Helper()
	got, want := summary(t, st), summary(t, ref)
	if len(got) != len(want) {
		t.Errorf("%d domains, want %d", len(got), len(want))
	}
	for d, w := range want {
		if g := got[d]; g.Reports != w.Reports || g.SuccessfulSessions != w.SuccessfulSessions || g.FailedSessions != w.FailedSessions {
			t.Errorf("%s: %+v, want %+v", d, g, w)
		}
	}
}

func fetch(t *testing.T, st ingest.SeenStore, o ingest.FetchOptions) ingest.FetchStats {
	t.Helper()
	stats, err := ingest.Fetch(context.Background(), st, parse.New(parse.Limits{}), o)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	return stats
}

func TestFetchDrainsMailboxLikeImport(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	mails := mailFixtures(t)
	for _, m := range mails {
		srv.appendMail(t, "INBOX", m)
	}
	st := testkit.OpenStore(t)
	stats := fetch(t, st, srv.opts())
	imp := sameAsImport(t, st, stats, len(mails))
	if n := srv.count(t, "INBOX"); n != 0 {
		t.Errorf("INBOX still holds %d messages", n)
	}
	if n := srv.count(t, "TLSRPT/Invalid"); n != imp.NoReport+imp.Invalid {
		t.Errorf("invalid folder holds %d, want %d", n, imp.NoReport+imp.Invalid)
	}
	if n := srv.count(t, "TLSRPT/Processed"); n != len(mails)-imp.NoReport-imp.Invalid {
		t.Errorf("processed folder holds %d", n)
	}
	if again := fetch(t, st, srv.opts()); again.Messages != 0 || again.Stored != 0 {
		t.Errorf("second run did something: %+v", again)
	}
	if !strings.HasPrefix(stats.String(), "fetched ") {
		t.Errorf("summary line %q", stats)
	}
}

func TestFetchWithoutMove(t *testing.T) {
	srv := startMemServer(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}})
	b, _ := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	srv.appendMail(t, "INBOX", b)
	nr, _ := os.ReadFile("../testdata/mail/no-report.eml")
	srv.appendMail(t, "INBOX", nr)
	st := testkit.OpenStore(t)
	stats := fetch(t, st, srv.opts())
	if stats.Stored != 1 || stats.NoReport != 1 {
		t.Fatalf("stats = %+v", stats)
	}
	if srv.count(t, "INBOX") != 0 || srv.count(t, "TLSRPT/Processed") != 1 || srv.count(t, "TLSRPT/Invalid") != 1 {
		t.Errorf("folders: inbox %d processed %d invalid %d", srv.count(t, "INBOX"), srv.count(t, "TLSRPT/Processed"), srv.count(t, "TLSRPT/Invalid"))
	}
}

func TestFetchDelete(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	b, _ := os.ReadFile("../testdata/mail/two-reports.eml")
	srv.appendMail(t, "INBOX", b)
	o := srv.opts()
	o.Delete = true
	if stats := fetch(t, testkit.OpenStore(t), o); stats.Stored != 2 {
		t.Fatalf("stats = %+v", stats)
	}
	if srv.count(t, "INBOX") != 0 || srv.count(t, "TLSRPT/Processed") != -1 {
		t.Errorf("delete: inbox %d, processed folder %d (want none)", srv.count(t, "INBOX"), srv.count(t, "TLSRPT/Processed"))
	}
}

func TestFetchWrongPassword(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	o := srv.opts()
	o.Password = "wrong"
	_, err := ingest.Fetch(context.Background(), testkit.OpenStore(t), parse.New(parse.Limits{}), o)
	if !errors.Is(err, ingest.ErrLogin) || !strings.Contains(err.Error(), "logging in to "+srv.Addr+" as reports") || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v", err)
	}
}

func TestFetchRefusesPlaintextToRemote(t *testing.T) {
	o := ingest.FetchOptions{Server: "192.0.2.1:143", User: "u", Password: "p", TLS: ingest.TLSNone}
	if _, err := ingest.Fetch(context.Background(), testkit.OpenStore(t), parse.New(parse.Limits{}), o); !errors.Is(err, ingest.ErrInsecure) {
		t.Errorf("err = %v", err)
	}
}

func TestFetchKeepAndUIDValidity(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	mails := mailFixtures(t)[:4]
	for _, m := range mails {
		srv.appendMail(t, "INBOX", m)
	}
	st := testkit.OpenStore(t)
	o := srv.opts()
	o.Keep = true
	first := fetch(t, st, o)
	if first.Messages != 4 || srv.count(t, "INBOX") != 4 {
		t.Fatalf("first = %+v, inbox %d", first, srv.count(t, "INBOX"))
	}
	if again := fetch(t, st, o); again.Messages != 0 || again.Skipped != 4 {
		t.Errorf("second = %+v", again)
	}
	// The mailbox is recreated: a new UIDVALIDITY, every UID is new again,
	// and the reports are recognised as stored.
	if err := srv.User.Delete("INBOX"); err != nil {
		t.Fatal(err)
	}
	srv.User.Create("INBOX", nil)
	for _, m := range mails {
		srv.appendMail(t, "INBOX", m)
	}
	after := fetch(t, st, o)
	if after.Messages != 4 || after.Stored != 0 || after.Duplicates != first.Stored+first.Duplicates {
		t.Errorf("after UIDVALIDITY change = %+v (first %+v)", after, first)
	}
}

func TestFetchDryRun(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	b, _ := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	srv.appendMail(t, "INBOX", b)
	st := testkit.OpenStore(t)
	o := srv.opts()
	o.DryRun = true
	stats := fetch(t, st, o)
	if len(stats.Plan) != 1 || !strings.Contains(stats.Plan[0], `"mail-b64gz"); would store, then move to TLSRPT/Processed`) {
		t.Errorf("plan = %q", stats.Plan)
	}
	if srv.count(t, "INBOX") != 1 || srv.count(t, "TLSRPT/Processed") != -1 {
		t.Errorf("dry run changed the mailbox")
	}
	if inputs, _ := st.Inputs(context.Background(), store.InputFilter{}); len(inputs) != 0 {
		t.Errorf("dry run stored %d inputs", len(inputs))
	}
	if got := stats.String(); got != "dry run: 1 message looked at, nothing stored, moved or marked (the lines above say what would be done)" {
		t.Errorf("summary line %q", got)
	}
}

// The same invalid message fetched twice (the second time after it was
// put back in the inbox) is kept once: its bytes are known.
func TestFetchSameInvalidMessageKeptOnce(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	bad := []byte("From: a@example.com\r\nSubject: x\r\nContent-Type: application/tlsrpt+json\r\n\r\n{\"organization-name\":\"x\"}\r\n")
	st := testkit.OpenStore(t)
	for range 2 {
		srv.appendMail(t, "INBOX", bad)
		if stats := fetch(t, st, srv.opts()); stats.Invalid != 1 {
			t.Fatalf("stats %+v", stats)
		}
	}
	if inputs, _ := st.Inputs(context.Background(), store.InputFilter{}); len(inputs) != 1 {
		t.Errorf("%d inputs kept for the same message fetched twice, want 1", len(inputs))
	}
}

func TestFetchConnectionCutThenRerun(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	mails := mailFixtures(t)
	total := 0
	for _, m := range mails {
		srv.appendMail(t, "INBOX", m)
		total += len(m)
	}
	st := testkit.OpenStore(t)
	o := srv.opts()
	o.BatchMessages = 3 // several batches, so the cut falls between and inside them
	// Halfway through the messages' bytes, whichever fixtures are present
	// (the shared corpus beside the checkout adds some).
	o.Server = newProxy(t, srv.Addr, int64(total/2)).addr
	if _, err := ingest.Fetch(context.Background(), st, parse.New(parse.Limits{}), o); err == nil {
		t.Fatal("the cut connection went unnoticed")
	}
	partial := summary(t, st)
	o.Server = srv.Addr
	rest := fetch(t, st, o)
	ref, _ := importFixtures(t)
	sameFigures(t, st, ref)
	if srv.count(t, "INBOX") != 0 {
		t.Errorf("INBOX holds %d after the re-run", srv.count(t, "INBOX"))
	}
	t.Logf("first run stored reports for %d domains; the re-run looked at %d messages", len(partial), rest.Messages)
}

func TestWatchPicksUpNewMail(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	b, _ := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	// After the empty first pass, give the watcher time to enter IDLE: with an
	// interval of an hour, only IDLE's EXISTS can wake it.
	watchUntil(t, srv.opts(), time.Hour, func() {
		time.Sleep(300 * time.Millisecond)
		srv.appendMail(t, "INBOX", b)
	}, func(s ingest.FetchStats) bool { return s.Stored == 1 })
}

func TestWatchGivesUpOnWrongPassword(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	o := srv.opts()
	o.Password = "wrong"
	var calls atomic.Int32
	err := ingest.Watch(context.Background(), testkit.OpenStore(t), parse.New(parse.Limits{}), o, time.Second, func(ingest.FetchStats) { calls.Add(1) })
	if !errors.Is(err, ingest.ErrLogin) || calls.Load() != 0 {
		t.Errorf("err = %v after %d passes", err, calls.Load())
	}
}

func TestFetchLargeMessage(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	report, _ := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	// The report message with a 20 MB attachment of log lines beside it.
	big := bytes.Replace(report, []byte("--BOUNDARY--"), []byte("--BOUNDARY\r\nContent-Type: text/plain\r\n\r\n"+
		strings.Repeat("a log line of some length to pad the message\r\n", 21<<20/46)+"--BOUNDARY--"), 1)
	if len(big) < 20<<20 {
		t.Fatalf("message is only %d bytes", len(big))
	}
	srv.appendMail(t, "INBOX", big)
	srv.appendMail(t, "INBOX", mailFixtures(t)[0])
	st := testkit.OpenStore(t)
	if stats := fetch(t, st, srv.opts()); stats.Messages != 2 || stats.Stored < 1 || srv.count(t, "INBOX") != 0 {
		t.Errorf("stats %+v, inbox %d", stats, srv.count(t, "INBOX"))
	}
}

func TestFetchOverTLS(t *testing.T) {
	ca := testkit.NewCA(t)
	cert := ca.Issue(t, "127.0.0.1", "localhost")
	report, _ := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	for _, tt := range []struct {
		name string
		mode int
		tls  string
	}{
		{"implicit", imaptest.ImplicitTLS, ingest.TLSImplicit},
		{"starttls", imaptest.StartTLS, ingest.TLSStartTLS},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := imaptest.Start(t, imaptest.FullCaps, tt.mode, cert)
			srv.Append(t, "INBOX", report)
			o := ingest.FetchOptions{Server: srv.Addr, User: imaptest.User, Password: imaptest.Password, TLS: tt.tls,
				TLSConf: &tls.Config{ServerName: "127.0.0.1"}}
			// Verified by default: the test CA is not among the system's.
			if _, err := ingest.Fetch(context.Background(), testkit.OpenStore(t), parse.New(parse.Limits{}), o); err == nil ||
				!strings.Contains(err.Error(), "certificate") {
				t.Fatalf("unverified certificate accepted: %v", err)
			}
			o.TLSConf.RootCAs = ca.Pool
			if stats := fetch(t, testkit.OpenStore(t), o); stats.Stored != 1 {
				t.Errorf("stats = %+v", stats)
			}
		})
	}
}

// watchUntil runs Watch until a pass satisfies want, then stops it.
func watchUntil(t *testing.T, o ingest.FetchOptions, interval time.Duration, before func(), want func(ingest.FetchStats) bool) {
	t.Helper()
	st := testkit.OpenStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	passes := make(chan ingest.FetchStats, 100)
	done := make(chan error, 1)
	go func() {
		done <- ingest.Watch(ctx, st, parse.New(parse.Limits{}), o, interval, func(s ingest.FetchStats) { passes <- s })
	}()
	<-passes // the first pass
	before()
	deadline := time.After(20 * time.Second)
	for found := false; !found; {
		select {
		case s := <-passes:
			found = want(s)
		case <-deadline:
			t.Fatal("no matching pass")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("watch: %v", err)
	}
}

func TestWatchPollsWithoutIdle(t *testing.T) {
	srv := startMemServer(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}})
	b, _ := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	watchUntil(t, srv.opts(), 100*time.Millisecond, func() { srv.appendMail(t, "INBOX", b) },
		func(s ingest.FetchStats) bool { return s.Stored == 1 })
}

func TestWatchReconnectsAfterADrop(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	o := srv.opts()
	proxy := newProxy(t, srv.Addr, 0)
	o.Server = proxy.addr
	b, _ := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	// After the first pass the watcher idles on its connection: drop it,
	// then deliver. Only a reconnect (after a second of backoff) finds it.
	watchUntil(t, o, time.Hour, func() {
		proxy.kill()
		srv.appendMail(t, "INBOX", b)
	}, func(s ingest.FetchStats) bool { return s.Stored == 1 })
	if proxy.accepted.Load() < 2 {
		t.Errorf("%d connections: the watcher did not reconnect", proxy.accepted.Load())
	}
}

// proxy forwards connections to target. With limit > 0 each connection is
// cut once the server has sent that many bytes; kill drops the live ones.
type proxy struct {
	addr     string
	accepted atomic.Int32
	mu       sync.Mutex
	conns    []net.Conn
}

func newProxy(t *testing.T, target string, limit int64) *proxy {
	t.Helper()
	return startProxy(t, target, func(client io.Writer, server io.Reader) {
		if limit > 0 {
			server = io.LimitReader(server, limit)
		}
		io.Copy(client, server)
	})
}

// startProxy accepts connections and dials target for each: what the
// client sends goes to the server as it is, serverToClient relays the
// other way, and both ends are closed when it returns.
func startProxy(t *testing.T, target string, serverToClient func(client io.Writer, server io.Reader)) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &proxy{addr: ln.Addr().String()}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			p.accepted.Add(1)
			p.mu.Lock()
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			go func() { io.Copy(server, client); server.Close() }()
			go func() { serverToClient(client, server); client.Close(); server.Close() }()
		}
	}()
	return p
}

func (p *proxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func TestFetchFallsBackToLogin(t *testing.T) {
	srv := imaptest.StartLoginOnly(t, imaptest.FullCaps)
	b, _ := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	srv.Append(t, "INBOX", b)
	o := ingest.FetchOptions{Server: srv.Addr, User: imaptest.User, Password: imaptest.Password, TLS: ingest.TLSNone}
	if stats := fetch(t, testkit.OpenStore(t), o); stats.Stored != 1 {
		t.Errorf("stats = %+v", stats)
	}
}

func TestFetchInvalidReportGoesToInvalidFolderOnce(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	bad := "From: r@reporter.example\r\nSubject: report\r\nMIME-Version: 1.0\r\nContent-Type: application/tlsrpt+json\r\n\r\n" +
		`{"organization-name":"Org","date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},` +
		`"report-id":"neg","policies":[{"policy":{"policy-domain":"example.com"},"summary":{"total-successful-session-count":-1,"total-failure-session-count":0}}]}` + "\r\n"
	srv.appendMail(t, "INBOX", []byte(bad))
	st := testkit.OpenStore(t)
	stats := fetch(t, st, srv.opts())
	if stats.Invalid != 1 || stats.Stored != 0 || srv.count(t, "TLSRPT/Invalid") != 1 || srv.count(t, "INBOX") != 0 {
		t.Fatalf("stats %+v, invalid folder %d, inbox %d", stats, srv.count(t, "TLSRPT/Invalid"), srv.count(t, "INBOX"))
	}
	inputs, _ := st.Inputs(context.Background(), store.InputFilter{Outcomes: []store.Outcome{store.OutcomeInvalid}})
	if len(inputs) != 1 || inputs[0].Source != "imap" || !strings.Contains(inputs[0].Error, "total-successful-session-count: negative count -1") {
		t.Errorf("recorded inputs = %+v", inputs)
	}
	if again := fetch(t, st, srv.opts()); again.Messages != 0 {
		t.Errorf("the invalid message was tried again: %+v", again)
	}
}

// A connection cut inside a message: go-imap ends the message's reader as
// if it were whole, so the length must tell. Nothing is stored, nothing
// leaves the mailbox, and (run with -race) the client's reader goroutine
// and the fetch do not both read the dead connection.
func TestFetchConnectionCutInsideMessage(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	report, _ := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	// The report with 2 MB of log lines beside it: a cut at 1 MB of the
	// server's bytes falls inside it, after the short exchanges before.
	big := bytes.Replace(report, []byte("--BOUNDARY--"), []byte("--BOUNDARY\r\nContent-Type: text/plain\r\n\r\n"+
		strings.Repeat("a log line of some length to pad the message\r\n", 2<<20/46)+"--BOUNDARY--"), 1)
	srv.appendMail(t, "INBOX", big)
	st := testkit.OpenStore(t)
	o := srv.opts()
	o.Server = newProxy(t, srv.Addr, 1<<20).addr
	_, err := ingest.Fetch(context.Background(), st, parse.New(parse.Limits{}), o)
	if err == nil || !strings.Contains(err.Error(), "reading a message") {
		t.Fatalf("err = %v", err)
	}
	if inputs, _ := st.Inputs(context.Background(), store.InputFilter{}); len(inputs) != 0 {
		t.Errorf("a cut message was recorded: %+v", inputs)
	}
	if n := srv.count(t, "INBOX"); n != 1 {
		t.Errorf("INBOX holds %d, want the message still there", n)
	}
}

// A server announcing a smaller size than the message it sends: the
// message is not read into memory beyond the limit but recorded as too
// large, with the size it turned out to have.
func TestFetchMessageLargerThanAnnounced(t *testing.T) {
	srv := startMemServer(t, fullCaps)
	mail := mailFixtures(t)[0]
	srv.appendMail(t, "INBOX", mail)
	st := testkit.OpenStore(t)
	o := srv.opts()
	o.Server = newSizeLiar(t, srv.Addr).addr
	limit := int64(len(mail) / 2)
	stats, err := ingest.Fetch(context.Background(), st, parse.New(parse.Limits{MaxInput: limit}), o)
	if err != nil || stats.Invalid != 1 || srv.count(t, "TLSRPT/Invalid") != 1 {
		t.Fatalf("stats %+v, %v, invalid folder %d", stats, err, srv.count(t, "TLSRPT/Invalid"))
	}
	// The size the message turned out to have, not the 1 announced (the
	// server stores it with CRLF line ends, so at least the fixture's).
	inputs, _ := st.Inputs(context.Background(), store.InputFilter{})
	var size, max int64
	if len(inputs) != 1 {
		t.Fatalf("recorded %+v", inputs)
	}
	if _, err := fmt.Sscanf(inputs[0].Error, "message of %d bytes exceeds the limit of %d", &size, &max); err != nil ||
		size < int64(len(mail)) || max != limit {
		t.Errorf("recorded error %q for a message of %d bytes", inputs[0].Error, len(mail))
	}
}

// newSizeLiar forwards connections to target, rewriting every RFC822.SIZE
// the server announces to 1.
func newSizeLiar(t *testing.T, target string) *proxy {
	t.Helper()
	size := regexp.MustCompile(`RFC822\.SIZE [0-9]+`)
	return startProxy(t, target, func(client io.Writer, server io.Reader) {
		r := bufio.NewReader(server)
		for {
			line, err := r.ReadBytes('\n')
			if _, werr := client.Write(size.ReplaceAll(line, []byte("RFC822.SIZE 1"))); werr != nil || err != nil {
				return
			}
		}
	})
}
