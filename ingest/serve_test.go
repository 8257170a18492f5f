package ingest_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/imaptest"
	"github.com/tlsrpt/tlsrpt/parse"
)

// served starts ingest.Listen/Serve on loopback with certificate files.
func served(t *testing.T, o ingest.ServeOptions) (*ingest.Server, *imaptest.CA, string, func() error) {
	t.Helper()
	dir := t.TempDir()
	ca := imaptest.NewCA(t)
	o.CertFile, o.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.IssueFiles(t, o.CertFile, o.KeyFile, "127.0.0.1")
	o.Listen = "127.0.0.1:0"
	srv, err := ingest.Listen(mustOpenStore(t), parse.New(parse.Limits{}), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() { stop() })
	return srv, ca, o.CertFile, stop
}

func serial(t *testing.T, addr string, ca *imaptest.CA) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestServeReloadsCertificate(t *testing.T) {
	srv, ca, certFile, stop := served(t, ingest.ServeOptions{})
	addr := srv.Addr().String()
	first := serial(t, addr, ca)
	// A renewal writes new files: picked up without a restart.
	time.Sleep(1100 * time.Millisecond) // the files are looked at once a second at most
	renewed := ca.IssueFiles(t, certFile, filepath.Join(filepath.Dir(certFile), "key.pem"), "127.0.0.1")
	if got := serial(t, addr, ca); got != renewed.SerialNumber.String() || got == first {
		t.Errorf("serial %s after renewal, want %s (was %s)", got, renewed.SerialNumber, first)
	}
	// SIGHUP's path: Reload, and a broken file keeps the certificate in use.
	os.WriteFile(certFile, []byte("not a certificate"), 0o644)
	if err := srv.Reload(); err == nil {
		t.Error("a broken certificate file was accepted")
	}
	if got := serial(t, addr, ca); got != renewed.SerialNumber.String() {
		t.Errorf("serial %s after a failed reload", got)
	}
	if err := stop(); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestServeCutsOffSlowLoris(t *testing.T) {
	srv, ca, _, _ := served(t, ingest.ServeOptions{ReadHeaderTimeout: 300 * time.Millisecond})
	addr := srv.Addr().String()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("POST /tlsrpt HTTP/1.1\r\nHost: x\r\n")) // and then nothing
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the slow client was not cut off")
			}
			break
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cut off after %v", d)
	}
	// Meanwhile the server serves others.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
}

func TestServeNeedsACertificate(t *testing.T) {
	if _, err := ingest.Listen(mustOpenStore(t), parse.New(parse.Limits{}), ingest.ServeOptions{Listen: "127.0.0.1:0"}); err == nil {
		t.Error("HTTPS without a certificate started")
	}
}
