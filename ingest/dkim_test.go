package ingest_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/dkimtest"
	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/mailauth"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

func mailedReport(id string) string {
	return fmt.Sprintf(`{"organization-name":"Reporter","date-range":{"start-datetime":"2026-10-30T00:00:00Z","end-datetime":"2026-10-30T23:59:59Z"},`+
		`"contact-info":"c","report-id":%q,"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},`+
		`"summary":{"total-successful-session-count":9,"total-failure-session-count":0}}]}`, id)
}

// TestFetchRequiresDKIM: under require, fetch stores authenticated mail
// and files the rest as invalid (kept, reports not stored); mail whose key
// cannot be looked up stays in the mailbox for the next run.
func TestFetchRequiresDKIM(t *testing.T) {
	dns := dkimtest.Start(t)
	key := dkimtest.RSAKey(t, dns, "reporter.example", "s1", "")
	srv := startMemServer(t, fullCaps)
	srv.appendMail(t, "INBOX", key.Sign(t, dkimtest.Message("noreply@reporter.example", "reporter.example", mailedReport("good")), time.Time{}))
	srv.appendMail(t, "INBOX", dkimtest.Message("noreply@reporter.example", "reporter.example", mailedReport("forged")))
	st := testkit.OpenStore(t)

	// First with a resolver that never answers: both left (the unsigned
	// one has nothing to look up: it is refused at once).
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	mute, err := mailauth.New(mailauth.Options{Resolver: silent.LocalAddr().String(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	o := srv.opts()
	o.DKIM = ingest.DKIM{Mode: ingest.DKIMRequire, Verifier: mute}
	stats := fetch(t, st, o)
	if stats.Deferred != 1 || stats.Unauthenticated != 1 || stats.Stored != 0 || srv.count(t, "INBOX") != 1 || srv.count(t, "TLSRPT/Invalid") != 1 {
		t.Fatalf("with DNS silent: %+v; INBOX %d, invalid %d", stats, srv.count(t, "INBOX"), srv.count(t, "TLSRPT/Invalid"))
	}
	// DNS back: the mail left behind is stored.
	v, err := mailauth.New(mailauth.Options{Resolver: dns.Addr})
	if err != nil {
		t.Fatal(err)
	}
	o.DKIM.Verifier = v
	stats = fetch(t, st, o)
	if stats.Stored != 1 || stats.Deferred != 0 || srv.count(t, "INBOX") != 0 || srv.count(t, "TLSRPT/Processed") != 1 {
		t.Fatalf("with DNS back: %+v", stats)
	}
	reports, err := st.Reports(context.Background(), store.Filter{})
	if err != nil || len(reports) != 1 || reports[0].ReportID != "good" || reports[0].Auth == nil || !reports[0].Auth.Authenticated {
		t.Errorf("stored: %+v, %v", reports, err)
	}
	refused, _ := st.Inputs(context.Background(), store.InputFilter{Outcomes: []store.Outcome{store.OutcomeUnauthenticated}})
	if len(refused) != 1 || refused[0].Auth == nil || refused[0].Auth.DKIM != mailauth.None {
		t.Errorf("refused: %+v", refused)
	}
}

// BenchmarkImportDKIM is import of signed report mails with the key in
// the cache, DKIM recorded: run with -cpu 1 for the figure per core; the
// same without verification (-bench ImportDKIM/off) shows its cost.
func BenchmarkImportDKIM(b *testing.B) {
	dns := dkimtest.Start(b)
	key := dkimtest.RSAKey(b, dns, "reporter.example", "s1", "")
	const n = 2000
	dir := b.TempDir()
	for i := range n {
		msg := key.Sign(b, dkimtest.Message("noreply@reporter.example", "reporter.example", mailedReport(fmt.Sprint("r", i))), time.Time{})
		writeFile(b, fmt.Sprintf("%s/m%05d.eml", dir, i), msg)
	}
	for _, mode := range []string{ingest.DKIMOff, ingest.DKIMRecord} {
		b.Run(mode, func(b *testing.B) {
			var d ingest.DKIM
			if mode != ingest.DKIMOff {
				v, err := mailauth.New(mailauth.Options{Resolver: dns.Addr})
				if err != nil {
					b.Fatal(err)
				}
				d = ingest.DKIM{Mode: mode, Verifier: v}
			}
			for b.Loop() {
				st := testkit.OpenStore(b)
				stats, err := ingest.Import(context.Background(), st, parseNew(), ingest.ImportOptions{Paths: []string{dir}, DKIM: d})
				if err != nil || stats.Stored != n {
					b.Fatalf("%+v %v", stats, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "messages/s")
		})
	}
}

func writeFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func parseNew() *parse.Parser { return parse.New(parse.Limits{}) }
