package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/imaptest"
	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
)

type dovecot struct{ *imaptest.Dovecot }

func startDovecot(t testing.TB) *dovecot { return &dovecot{imaptest.StartDovecot(t)} }

func (d *dovecot) deliver(t testing.TB, msg []byte) { d.Deliver(t, msg) }

func (d *dovecot) count(t testing.TB, mailbox string) int { return d.Count(t, mailbox) }

func (d *dovecot) opts() ingest.FetchOptions {
	return ingest.FetchOptions{Server: d.Addr, User: imaptest.DovecotUser, Password: imaptest.DovecotPassword, TLS: ingest.TLSNone}
}

func TestDovecotFetch(t *testing.T) {
	d := startDovecot(t)
	mails := mailFixtures(t)
	for _, m := range mails {
		d.deliver(t, m)
	}
	st := testkit.OpenStore(t)
	stats := fetch(t, st, d.opts())
	imp := sameAsImport(t, st, stats, len(mails))
	if n := d.count(t, "INBOX"); n != 0 {
		t.Errorf("INBOX holds %d", n)
	}
	if n := d.count(t, "TLSRPT/Invalid"); n != imp.NoReport {
		t.Errorf("TLSRPT/Invalid holds %d, want %d", n, imp.NoReport)
	}
	if n := d.count(t, "TLSRPT/Processed"); n != len(mails)-imp.NoReport {
		t.Errorf("TLSRPT/Processed holds %d, want %d", n, len(mails)-imp.NoReport)
	}
	if again := fetch(t, st, d.opts()); again.Messages != 0 {
		t.Errorf("second run: %+v", again)
	}
}

func TestDovecotWrongPasswordAndKeep(t *testing.T) {
	d := startDovecot(t)
	o := d.opts()
	o.Password = "nope"
	_, err := ingest.Fetch(context.Background(), testkit.OpenStore(t), parse.New(parse.Limits{}), o)
	if err == nil || !strings.Contains(err.Error(), "logging in to "+d.Addr+" as reports") {
		t.Fatalf("err = %v", err)
	}
	b, _ := os.ReadFile("../testdata/mail/two-reports.eml")
	d.deliver(t, b)
	st := testkit.OpenStore(t)
	o = d.opts()
	o.Keep = true
	if s := fetch(t, st, o); s.Stored != 2 {
		t.Fatalf("keep: %+v", s)
	}
	if s := fetch(t, st, o); s.Messages != 0 || s.Skipped != 1 {
		t.Errorf("keep, again: %+v", s)
	}
	if n := d.count(t, "INBOX"); n != 1 {
		t.Errorf("--keep moved the message: INBOX holds %d", n)
	}
}

// BenchmarkDovecotFetch fetches TLSRPT_BENCH_MESSAGES (default 5,000) small
// report messages from Dovecot into the store per iteration.
func BenchmarkDovecotFetch(b *testing.B) {
	d := startDovecot(b)
	mail, err := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	if err != nil {
		b.Fatal(err)
	}
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("TLSRPT_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range n {
			// A distinct report-id per message, so each is stored.
			d.deliver(b, bytes.Replace(mail, []byte("mail-b64gz"), []byte(fmt.Sprintf("bench-%d-%d", i, j)), 1))
		}
		st := testkit.OpenStore(b)
		b.StartTimer()
		stats, err := ingest.Fetch(context.Background(), st, parse.New(parse.Limits{}), d.opts())
		if err != nil || stats.Messages != n {
			b.Fatalf("%+v %v", stats, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "messages/s")
}
