package ingest_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
)

const corpusDir = "../../shared/corpus"

func mustImport(t *testing.T, st store.Store, p *parse.Parser, paths ...string) ingest.ImportStats {
	t.Helper()
	stats, err := ingest.Import(context.Background(), st, p, ingest.ImportOptions{Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

func summary(t *testing.T, st store.Store) map[string]query.DomainSummary {
	t.Helper()
	s, err := query.Summarize(context.Background(), st, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]query.DomainSummary{}
	for _, d := range s.Domains {
		out[d.PolicyDomain] = d
	}
	return out
}

func TestImportCorpus(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus not present: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*[.][je][sm][ol]*")) // .json and .eml
	st := testkit.OpenStore(t)
	stats := mustImport(t, st, parse.New(parse.Limits{}), files...)
	// 10 files: 8 distinct reports, the Mail.ru pair once, one mail without a report.
	if stats.Inputs != 10 || stats.Stored != 8 || stats.Duplicates != 1 || stats.NoReport != 1 || stats.Invalid != 0 {
		t.Fatalf("stats = %+v", stats)
	}
	sum := summary(t, st)
	// krvtz.net: Google 1 ok; Microsoft sts+tlsa 2 ok counted once; Mail.ru 1 failure stored once.
	if d := sum["krvtz.net"]; d.Reports != 3 || d.SuccessfulSessions != 3 || d.FailedSessions != 1 ||
		len(d.MX) != 1 || d.MX[0].MXHost != "" || d.MX[0].ResultTypes["sts-policy-fetch-error"] != 1 {
		t.Errorf("krvtz.net = %+v", d)
	}
	if d := sum["company-y.example"]; d.SuccessfulSessions != 5326 || d.FailedSessions != 303 || d.FailureRate != 0.0538 ||
		len(d.MX) != 3 || d.MX[0].MXHost != "mx2.mail.company-y.example" || d.MX[0].ResultTypes["starttls-not-supported"] != 200 {
		t.Errorf("company-y.example = %+v", d)
	}
	if d := sum["test.xmox.nl"]; d.Reports != 2 || d.SuccessfulSessions != 5 {
		t.Errorf("test.xmox.nl = %+v", d)
	}
	// A second import of the same files stores nothing new.
	again := mustImport(t, st, parse.New(parse.Limits{}), files...)
	if again.Stored != 0 || again.Duplicates != 9 {
		t.Errorf("re-import = %+v", again)
	}
	if d := summary(t, st)["krvtz.net"]; d.SuccessfulSessions != 3 {
		t.Errorf("re-import changed figures: %+v", d)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zipOf(name string, body []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create(name)
	w.Write(body)
	zw.Close()
	return buf.Bytes()
}

const goodReport = `{"organization-name":"Org","date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"},
"contact-info":"c","report-id":"ID","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},
"summary":{"total-successful-session-count":COUNT,"total-failure-session-count":0}}]}`

func good(id, count string) []byte {
	return []byte(strings.NewReplacer("ID", id, "COUNT", count).Replace(goodReport))
}

func TestImportBadInputs(t *testing.T) {
	dir := t.TempDir()
	valid := gz(good("ok", "5"))
	bad := map[string][]byte{
		"truncated.json.gz": valid[:len(valid)/2],
		"gzip-bomb.json.gz": gz(make([]byte, 20<<20)),
		"zip-bomb.zip":      zipOf("r.json", make([]byte, 20<<20)),
		"bad-utf8.json":     bytes.Replace(good("u", "1"), []byte(`"Org"`), []byte("\"O\xffrg\""), 1),
		"deep.json":         []byte(`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "}"),
		"negative.json":     good("n", "-1"),
		"overflow.json":     good("o", "92233720368547758070"),
		"empty.json":        {},
		"binary":            {0x00, 0x01, 0xfe, 0xff, 0x7f}, // no extension: refused, not skipped
	}
	for name, data := range bad {
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "good.json.gz"), valid, 0o644)

	st := testkit.OpenStore(t)
	stats := mustImport(t, st, parse.New(parse.Limits{MaxReport: 1 << 20}), dir)
	if stats.Stored != 1 || stats.Invalid != len(bad) || stats.Inputs != len(bad)+1 {
		t.Fatalf("stats = %+v", stats)
	}
	for name := range bad {
		i := slices.IndexFunc(stats.Problems, func(p string) bool { return strings.HasPrefix(p, filepath.Join(dir, name)+": ") })
		if i < 0 {
			t.Errorf("no problem line for %s in %q", name, stats.Problems)
			continue
		}
		if strings.Contains(stats.Problems[i], "\n") {
			t.Errorf("problem for %s is not one line: %q", name, stats.Problems[i])
		}
	}
	// Every input is recorded, raw bytes included; only the valid report is in the reports.
	inputs, _ := st.Inputs(context.Background(), store.InputFilter{Outcomes: []store.Outcome{store.OutcomeInvalid}})
	if len(inputs) != len(bad) {
		t.Errorf("%d invalid inputs recorded, want %d", len(inputs), len(bad))
	}
	for _, in := range inputs {
		raw, err := st.Raw(context.Background(), in.ID)
		want := bad[filepath.Base(in.Origin)]
		if err != nil || !bytes.Equal(raw, want) {
			t.Errorf("%s: raw kept %d bytes (%v), want %d", in.Origin, len(raw), err, len(want))
		}
	}
	if d := summary(t, st); len(d) != 1 || d["example.com"].SuccessfulSessions != 5 {
		t.Errorf("summary = %+v", d)
	}
}

func TestImportMaildirMboxStdin(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o755)
	}
	mail := func(id string) []byte {
		return []byte("From: r@reporter.example\r\nSubject: report\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: application/tlsrpt+json\r\n\r\n" + string(good(id, "1")) + "\r\n")
	}
	os.WriteFile(filepath.Join(md, "cur", "1.host:2,S"), mail("md-cur"), 0o644)
	os.WriteFile(filepath.Join(md, "new", "2.host"), mail("md-new"), 0o644)
	os.WriteFile(filepath.Join(md, "tmp", "3.host"), mail("md-tmp-incomplete"), 0o644)
	os.WriteFile(filepath.Join(md, "dovecot-uidlist"), []byte("3 V1 N2\n"), 0o644)
	var mbox bytes.Buffer
	for _, id := range []string{"mbox-1", "mbox-2", "mbox-3"} {
		mbox.WriteString("From r@reporter.example Mon Mar  2 00:00:00 2026\n")
		mbox.Write(bytes.ReplaceAll(mail(id), []byte("\r\n"), []byte("\n")))
		mbox.WriteString("\n")
	}
	os.WriteFile(filepath.Join(dir, "reports.mbox"), mbox.Bytes(), 0o644)

	st := testkit.OpenStore(t)
	stats, err := ingest.Import(context.Background(), st, parse.New(parse.Limits{}), ingest.ImportOptions{
		Paths: []string{md, filepath.Join(dir, "reports.mbox"), "-"},
		Stdin: bytes.NewReader(append([]byte("From MAILER-DAEMON Mon Mar  2 00:00:00 2026\n"), mail("stdin")...)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Stored != 6 || stats.Inputs != 6 || len(stats.Problems) != 0 {
		t.Fatalf("stats = %+v", stats)
	}
	list, _ := st.Reports(context.Background(), store.Filter{})
	var ids []string
	for _, r := range list {
		ids = append(ids, r.ReportID)
	}
	slices.Sort(ids)
	if want := []string{"mbox-1", "mbox-2", "mbox-3", "md-cur", "md-new", "stdin"}; !slices.Equal(ids, want) {
		t.Errorf("stored %q, want %q", ids, want)
	}
	inputs, _ := st.Inputs(context.Background(), store.InputFilter{})
	var origins []string
	for _, in := range inputs {
		origins = append(origins, filepath.Base(in.Origin))
	}
	slices.Sort(origins)
	if want := []string{"1.host:2,S", "2.host", "reports.mbox#1", "reports.mbox#2", "reports.mbox#3", "stdin"}; !slices.Equal(origins, want) {
		t.Errorf("origins %q, want %q", origins, want)
	}
}

func TestImportUnreadablePath(t *testing.T) {
	st := testkit.OpenStore(t)
	stats := mustImport(t, st, parse.New(parse.Limits{}), filepath.Join(t.TempDir(), "missing.json"))
	if stats.Unreadable != 1 || stats.Inputs != 0 || !strings.Contains(stats.Problems[0], "no such file or directory") {
		t.Errorf("stats = %+v", stats)
	}
}

func TestReprocessAfterParserImproves(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "big.json"), good("big", "3"), 0o644)
	st := testkit.OpenStore(t)
	// Today's parser refuses it (a limit too small for it)...
	strict := parse.New(parse.Limits{MaxReport: 100})
	if stats := mustImport(t, st, strict, dir); stats.Invalid != 1 {
		t.Fatalf("strict import = %+v", stats)
	}
	// ...tomorrow's accepts it, and reprocess finds the kept input.
	stats, err := ingest.Reprocess(context.Background(), st, parse.New(parse.Limits{}), ingest.ReprocessOptions{})
	if err != nil || stats.Stored != 1 || stats.Invalid != 0 {
		t.Fatalf("reprocess = %+v, %v", stats, err)
	}
	if d := summary(t, st)["example.com"]; d.SuccessfulSessions != 3 {
		t.Errorf("after reprocess: %+v", d)
	}
	// Nothing left to reprocess.
	if stats, _ := ingest.Reprocess(context.Background(), st, parse.New(parse.Limits{}), ingest.ReprocessOptions{}); stats.Inputs != 0 {
		t.Errorf("second reprocess = %+v", stats)
	}
}

var fixedTime = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// TestImportOversizeFile: a file over the input limit is recorded as
// invalid, naming the limit, with none of its bytes read into the store.
func TestImportOversizeFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "big.json"), bytes.Repeat([]byte(" "), 2<<20), 0o644)
	os.WriteFile(filepath.Join(dir, "ok.json"), good("ok", "5"), 0o644)
	st := testkit.OpenStore(t)
	stats := mustImport(t, st, parse.New(parse.Limits{MaxInput: 1 << 20}), dir)
	if stats.Stored != 1 || stats.Invalid != 1 || len(stats.Problems) != 1 || !strings.Contains(stats.Problems[0], "big.json: ") ||
		!strings.Contains(stats.Problems[0], "limit") {
		t.Fatalf("stats = %+v", stats)
	}
	inputs, _ := st.Inputs(context.Background(), store.InputFilter{Outcomes: []store.Outcome{store.OutcomeInvalid}})
	if len(inputs) != 1 || inputs[0].Size != 0 {
		t.Errorf("recorded %+v", inputs)
	}
}

// TestImportLargeDirectoryBoundsProblems: a directory read in several lots
// is imported whole, nested ones too, and problem lines stop at a thousand
// while every problem is counted.
func TestImportLargeDirectoryBoundsProblems(t *testing.T) {
	dir := t.TempDir()
	nested := filepath.Join(dir, "a", "b")
	os.MkdirAll(nested, 0o755)
	for i := range 1100 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("bad-%04d.json", i)), []byte("{"), 0o644)
	}
	for i := range 300 {
		os.WriteFile(filepath.Join(nested, fmt.Sprintf("r-%03d.json", i)), good(fmt.Sprint("n", i), "1"), 0o644)
	}
	var progress [][2]int
	var finals []int
	st := testkit.OpenStore(t)
	stats, err := ingest.Import(context.Background(), st, parse.New(parse.Limits{}), ingest.ImportOptions{Paths: []string{dir},
		BatchSize: 500, Progress: func(done, total int, final bool) {
			if final && len(finals) > 0 && total != finals[len(finals)-1] {
				t.Errorf("the final total changed: %d after %d", total, finals[len(finals)-1])
			}
			if final {
				finals = append(finals, total)
			}
			progress = append(progress, [2]int{done, total})
		}})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Inputs != 1400 || stats.Stored != 300 || stats.Invalid != 1100 || len(stats.Problems) != 1000 || stats.MoreProblems != 100 {
		t.Errorf("stats: %d inputs, %d stored, %d invalid, %d problem lines and %d more",
			stats.Inputs, stats.Stored, stats.Invalid, len(stats.Problems), stats.MoreProblems)
	}
	if last := progress[len(progress)-1]; last != [2]int{1400, 1400} || len(finals) == 0 {
		t.Errorf("progress ended at %v, final totals %v", last, finals)
	}
}
