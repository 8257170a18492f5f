package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestPolicyCommands(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "example.com.mta-sts.txt")
	out, errOut, code := run(t, "", "policy", "init", "--domain", "Example.com", "--mode", "testing", "--mx", "mx1.example.com",
		"--mx", "*.mx.example.com", "--max-age", "86400", "--rua", "mailto:tlsrpt@example.com", "--file", file)
	if code != exitOK {
		t.Fatalf("init: exit %d %s", code, errOut)
	}
	golden(t, "policy-init.txt", strings.ReplaceAll(out, dir, "DIR"))
	b, _ := os.ReadFile(file)
	if string(b) != "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.mx.example.com\r\nmax_age: 86400\r\n" {
		t.Errorf("file = %q", b)
	}
	if _, errOut, code := run(t, "", "policy", "init", "--domain", "example.com", "--mx", "mx.example.com", "--rua", "mailto:a@example.com", "--file", file); code != exitUsage || !strings.Contains(errOut, "exists") {
		t.Errorf("second init: exit %d %q", code, errOut)
	}
	out, _, code = run(t, "", "policy", "set-mode", "enforce", "--domain", "example.com", "--file", file)
	if code != exitOK || !strings.Contains(out, "mode testing -> enforce") || !strings.Contains(out, `_mta-sts.example.com. 3600 IN TXT "v=STSv1; id=20261101120000000000"`) {
		t.Errorf("set-mode: exit %d %q", code, out)
	}
	// The same mode again changes nothing and keeps the published id.
	out, _, code = run(t, "", "policy", "set-mode", "enforce", "--domain", "example.com", "--file", file)
	if code != exitOK || !strings.Contains(out, "mode is enforce already; nothing changed") || strings.Contains(out, "id=") {
		t.Errorf("set-mode to the same mode: exit %d %q", code, out)
	}
	// Every problem of a file at once.
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("version: STSv2\nmode: strict\nmx: mx*.example.com\nmax_age: 40000000\n"), 0o644)
	if _, errOut, code := run(t, "", "policy", "validate", bad); code != exitError || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, `version "STSv2"`) || !strings.Contains(errOut, `mode "strict"`) ||
		!strings.Contains(errOut, "wildcard may only") || !strings.Contains(errOut, "max_age 40000000") {
		t.Errorf("validate a file with four problems: exit %d %q", code, errOut)
	}
	if out, _, code := run(t, "", "policy", "validate", file); code != exitOK || !strings.Contains(out, "valid (mode enforce, 2 mx") {
		t.Errorf("validate: exit %d %q", code, out)
	}
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--mx", "mx*.example.com"}, "wildcard may only be the whole leftmost label"},
		{[]string{"--mx", "mx.example.com", "--max-age", "40000000"}, "max_age 40000000"},
		{[]string{"--mode", "enforce"}, "no mx"},
		{[]string{"--mx", "mx.example.com", "--mode", "strict"}, `mode "strict"`},
	} {
		args := append([]string{"policy", "init", "--domain", "example.org", "--rua", "mailto:a@example.org", "--file", filepath.Join(dir, "x.txt")}, tt.args...)
		if _, errOut, code := run(t, "", args...); code != exitUsage || !strings.Contains(errOut, tt.msg) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d %q, want %q", tt.args, code, errOut, tt.msg)
		}
	}
	if _, errOut, code := run(t, "", "policy", "init", "--domain", "example.org", "--mx", "mx.example.org", "--rua", "http://x.example/", "--file", filepath.Join(dir, "y.txt")); code != exitUsage || !strings.Contains(errOut, "want mailto:address or https://host/path") {
		t.Errorf("bad rua: exit %d %q", code, errOut)
	}
}

func TestCheckCommandExitAndJSON(t *testing.T) {
	// A resolver that refuses: the check cannot be made (exit 1), which
	// is no verdict on the domain.
	out, errOut, code := run(t, "", "check", "example.invalid", "--resolver", "127.0.0.1:9", "--timeout", "2s", "--format", "json")
	if code != exitError || out != "" || !strings.Contains(errOut, "the resolver did not answer") || !strings.Contains(errOut, "127.0.0.1:9") {
		t.Errorf("exit %d, %q %q", code, out, errOut)
	}
	// A resolver that answers "no such domain": a verdict, the check fails
	// (exit 5).
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNameError)
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	out, _, code = run(t, "", "check", "example.invalid", "--resolver", pc.LocalAddr().String(), "--timeout", "2s", "--format", "json")
	if code != exitCheck || !strings.Contains(out, `"verdict": "fail"`) || !strings.Contains(out, `"step": "mx records"`) {
		t.Errorf("no such domain: exit %d, %s", code, out)
	}
	if _, errOut, code := run(t, "", "check"); code != exitUsage || !strings.Contains(errOut, "accepts 1 arg") {
		t.Errorf("no domain: exit %d %q", code, errOut)
	}
}
