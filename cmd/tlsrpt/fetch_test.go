package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/imaptest"
	"github.com/tlsrpt/tlsrpt/internal/testkit"
)

func TestFetchCommand(t *testing.T) {
	ca := testkit.NewCA(t)
	srv := imaptest.Start(t, imaptest.FullCaps, imaptest.ImplicitTLS, ca.Issue(t, "127.0.0.1"))
	report, _ := os.ReadFile("../../testdata/mail/two-reports.eml")
	srv.Append(t, "INBOX", report)
	dir := t.TempDir()
	caFile, pwFile, badPw := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "pw"), filepath.Join(dir, "bad")
	os.WriteFile(caFile, ca.PEM, 0o644)
	os.WriteFile(pwFile, []byte(imaptest.Password+"\n"), 0o600)
	os.WriteFile(badPw, []byte("wrong\n"), 0o600)
	db := filepath.Join(dir, "t.db")
	args := []string{"--db", db, "fetch", "--server", srv.Addr, "--user", imaptest.User, "--ca-file", caFile}

	out, errOut, code := run(t, "", append(args, "--password-file", pwFile)...)
	if code != exitOK || out != "fetched 1 message: 2 reports stored, 0 duplicates, 0 invalid, 0 without a report\n" {
		t.Errorf("exit %d, out %q, err %q", code, out, errOut)
	}
	if srv.Count("TLSRPT/Processed") != 1 {
		t.Errorf("not moved")
	}
	_, errOut, code = run(t, "", append(args, "--password-file", badPw)...)
	if code != exitError || !strings.HasPrefix(errOut, "tlsrpt: logging in to "+srv.Addr+" as reports: ") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("wrong password: exit %d, %q", code, errOut)
	}
	t.Setenv("TLSRPT_IMAP_PASSWORD", "")
	os.Unsetenv("TLSRPT_IMAP_PASSWORD")
	if _, errOut, code := run(t, "", args...); code != exitUsage || !strings.Contains(errOut, "no password") {
		t.Errorf("no password: exit %d, %q", code, errOut)
	}
	// Without --ca-file the test CA is unknown: the certificate is refused.
	t.Setenv("TLSRPT_IMAP_PASSWORD", imaptest.Password)
	_, errOut, code = run(t, "", "--db", db, "fetch", "--server", srv.Addr, "--user", imaptest.User)
	if code != exitError || !strings.Contains(errOut, "certificate") {
		t.Errorf("unknown CA: exit %d, %q", code, errOut)
	}
}
