package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/dkimtest"
)

func reportJSON(org, id, domain string, ok, failed int) string {
	return fmt.Sprintf(`{"organization-name":%q,"date-range":{"start-datetime":"2026-10-30T00:00:00Z","end-datetime":"2026-10-30T23:59:59Z"},`+
		`"contact-info":"tlsrpt@%s","report-id":%q,"policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: mx.example.com","max_age: 86400"],`+
		`"policy-domain":%q,"mx-host":["mx.example.com"]},"summary":{"total-successful-session-count":%d,"total-failure-session-count":%d}`+
		`%s}]}`, org, org, id, domain, ok, failed, detailsJSON(failed))
}

func detailsJSON(failed int) string {
	if failed == 0 {
		return ""
	}
	return fmt.Sprintf(`,"failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mx.example.com","failed-session-count":%d}]`, failed)
}

type listed struct {
	Reports []struct {
		OrganizationName string `json:"organization_name"`
		Source           string `json:"source"`
		Authenticated    bool   `json:"authenticated"`
		DKIMDomain       string `json:"dkim_domain"`
	} `json:"reports"`
}

func listReports(t *testing.T, db string, extra ...string) listed {
	t.Helper()
	out, errOut, code := run(t, "", append([]string{"--db", db, "reports", "--format", "json"}, extra...)...)
	if code != exitOK {
		t.Fatalf("reports: %d %s", code, errOut)
	}
	var l listed
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestDKIMEndToEnd: mailed reports through import, reprocess and the
// queries, with keys from a DNS server on loopback: forged mail cannot move
// a verdict under require, and says what it rests on under record.
func TestDKIMEndToEnd(t *testing.T) {
	dns := dkimtest.Start(t)
	reporter := dkimtest.RSAKey(t, dns, "reporter.example", "s1", "s=tlsrpt; ")
	stranger := dkimtest.Ed25519Key(t, dns, "stranger.example", "s1", "")
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The reporter's real report says mx.example.com fails; forged ones,
	// unsigned and signed by a stranger, say all is well.
	write("a-real.eml", reporter.Sign(t, dkimtest.Message("noreply@reporter.example", "reporter.example",
		reportJSON("Reporter", "real-1", "example.com", 90, 10)), time.Time{}))
	write("b-forged.eml", dkimtest.Message("noreply@reporter.example", "reporter.example", reportJSON("Reporter", "forged-1", "example.com", 5000, 0)))
	write("c-stranger.eml", stranger.Sign(t, dkimtest.Message("noreply@reporter.example", "reporter.example",
		reportJSON("Reporter", "forged-2", "example.com", 5000, 0)), time.Time{}))
	write("d-file.json", []byte(reportJSON("Files", "file-1", "example.net", 100, 0)))

	// require: only the real mail's report is stored; the forged are kept.
	req := filepath.Join(t.TempDir(), "req.db")
	out, errOut, code := run(t, "", "--db", req, "import", "--dkim", "require", "--resolver", dns.Addr, dir)
	if code != exitOK || !strings.Contains(out, "stored:     2 reports") || !strings.Contains(out, "not authenticated: 2 mails") ||
		!strings.Contains(errOut, "b-forged.eml: not stored, not authenticated: no DKIM signature") ||
		!strings.Contains(errOut, "c-stranger.eml: not stored, not authenticated: the DKIM signature of stranger.example verifies, but stranger.example is not the reporter's") {
		t.Fatalf("import --dkim require: exit %d\n%s%s", code, out, errOut)
	}
	l := listReports(t, req)
	got := map[string]string{}
	for _, r := range l.Reports {
		got[r.OrganizationName] = fmt.Sprintf("%s %v %s", r.Source, r.Authenticated, r.DKIMDomain)
	}
	if got["Reporter"] != "import true reporter.example" || got["Files"] != "import false " || len(l.Reports) != 2 {
		t.Errorf("stored under require: %v", got)
	}
	readiness := func(db string, extra ...string) string {
		out, errOut, code := run(t, "", append([]string{"--db", db, "readiness", "--domain", "example.com", "--min-days", "1",
			"--min-reporters", "1", "--min-sessions", "1", "--format", "json"}, extra...)...)
		if code != exitOK {
			t.Fatalf("readiness: %d %s", code, errOut)
		}
		var rs struct {
			Domains []struct {
				Verdict string   `json:"verdict"`
				Reasons []string `json:"reasons"`
			} `json:"domains"`
		}
		json.Unmarshal([]byte(out), &rs)
		if len(rs.Domains) != 1 {
			return "none"
		}
		return rs.Domains[0].Verdict + ": " + strings.Join(rs.Domains[0].Reasons, " | ")
	}
	if v := readiness(req); !strings.HasPrefix(v, "not-ready") {
		t.Errorf("under require: %s", v)
	}

	// record: every report stored, the forged ones flagged.
	rec := filepath.Join(t.TempDir(), "rec.db")
	if out, errOut, code := run(t, "", "--db", rec, "import", "--resolver", dns.Addr, dir); code != exitOK || !strings.Contains(out, "stored:     4 reports") {
		t.Fatalf("import --dkim record: exit %d\n%s%s", code, out, errOut)
	}
	// Only the forged reports for a domain: ready, says so, and would not be.
	forged := filepath.Join(t.TempDir(), "forged")
	os.Mkdir(forged, 0o755)
	os.WriteFile(filepath.Join(forged, "f.eml"), dkimtest.Message("noreply@reporter.example", "reporter.example",
		reportJSON("Reporter", "forged-3", "example.org", 5000, 0)), 0o644)
	if _, errOut, code := run(t, "", "--db", rec, "import", "--resolver", dns.Addr, forged); code != exitOK {
		t.Fatal(errOut)
	}
	out, _, _ = run(t, "", "--db", rec, "readiness", "--domain", "example.org", "--min-days", "1", "--min-reporters", "1", "--min-sessions", "1")
	if !strings.Contains(out, "example.org: READY") || !strings.Contains(out, "5000 of the 5000 sessions come from 1 reports that are not authenticated") ||
		!strings.Contains(out, "the verdict would be insufficient-data") {
		t.Errorf("ready on forged mail:\n%s", out)
	}
	// Authenticated and forged reports together: judged again from the
	// authenticated ones alone.
	mixed := filepath.Join(t.TempDir(), "mixed")
	os.Mkdir(mixed, 0o755)
	os.WriteFile(filepath.Join(mixed, "real.eml"), reporter.Sign(t, dkimtest.Message("noreply@reporter.example", "reporter.example",
		reportJSON("Reporter", "real-net", "example.net", 50, 0)), time.Time{}), 0o644)
	os.WriteFile(filepath.Join(mixed, "forged.eml"), dkimtest.Message("noreply@reporter.example", "reporter.example",
		reportJSON("Reporter", "forged-net", "example.net", 500, 0)), 0o644)
	if _, errOut, code := run(t, "", "--db", rec, "import", "--resolver", dns.Addr, mixed); code != exitOK {
		t.Fatal(errOut)
	}
	out, _, _ = run(t, "", "--db", rec, "readiness", "--domain", "example.net", "--min-days", "1", "--min-reporters", "1", "--min-sessions", "1")
	if !strings.Contains(out, "example.net: READY") || !strings.Contains(out, "600 of the 650 sessions come from 2 reports that are not authenticated") ||
		!strings.Contains(out, "without them it would still be ready") {
		t.Errorf("ready on authenticated and forged mail:\n%s", out)
	}
	out, _, _ = run(t, "", "--db", rec, "readiness", "--domain", "example.net", "--min-days", "1", "--min-reporters", "1", "--min-sessions", "100")
	if !strings.Contains(out, "without them the verdict would be insufficient-data") {
		t.Errorf("ready only with the forged mail's sessions:\n%s", out)
	}
	out, _, _ = run(t, "", "--db", rec, "readiness", "--domain", "example.org", "--authenticated-only")
	if !strings.Contains(out, "no reports in the window") {
		t.Errorf("--authenticated-only on forged mail only:\n%s", out)
	}
	sum, _, _ := run(t, "", "--db", rec, "summary", "--domain", "example.com", "--authenticated-only", "--format", "json")
	if !strings.Contains(sum, `"successful_sessions": 90`) || !strings.Contains(sum, `"failed_sessions": 10`) {
		t.Errorf("summary --authenticated-only: %s", sum)
	}

	// The refused mail is taken again by reprocess when asked to record.
	out, errOut, code = run(t, "", "--db", req, "reprocess", "--dkim", "record", "--resolver", dns.Addr)
	if code != exitOK || !strings.Contains(out, "stored:     2 reports") {
		t.Errorf("reprocess --dkim record: exit %d\n%s%s", code, out, errOut)
	}
	if l := listReports(t, req); len(l.Reports) != 4 {
		t.Errorf("after reprocessing: %d reports", len(l.Reports))
	}
}

// TestDKIMTempErrorExits75: under require, mail whose key cannot be looked
// up is not recorded, and an MTA's pipe is told to try again (exit 75).
func TestDKIMTempErrorExits75(t *testing.T) {
	dns := dkimtest.Start(t)
	key := dkimtest.RSAKey(t, dns, "reporter.example", "s1", "")
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // answers nothing
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	msg := key.Sign(t, dkimtest.Message("noreply@reporter.example", "reporter.example", reportJSON("Reporter", "r-1", "example.com", 9, 1)), time.Time{})
	db := filepath.Join(t.TempDir(), "t.db")
	out, errOut, code := run(t, string(msg), "--db", db, "import", "--dkim", "require", "--resolver", silent.LocalAddr().String(),
		"--dkim-timeout", "300ms", "-")
	if code != exitTempFail || !strings.Contains(out, "left for later: 1 mail") || !strings.Contains(errOut, "stdin: left for a later run") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if l := listReports(t, db); len(l.Reports) != 0 {
		t.Errorf("stored: %+v", l)
	}
	// Once DNS answers, the same mail is stored, authenticated.
	if out, errOut, code := run(t, string(msg), "--db", db, "import", "--dkim", "require", "--resolver", dns.Addr, "-"); code != exitOK ||
		!strings.Contains(out, "stored:     1 report") {
		t.Fatalf("again: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := run(t, "", "--db", db, "import", "--dkim", "maybe", "-"); code != exitUsage || !strings.Contains(errOut, "--dkim \"maybe\"") {
		t.Errorf("--dkim maybe: exit %d %s", code, errOut)
	}
}
