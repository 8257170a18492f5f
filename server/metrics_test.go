package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/server"
	"github.com/tlsrpt/tlsrpt/store"
)

// TestMetricsReportsByAuthentication: /metrics counts the stored reports
// by the DKIM result of their mail, those by HTTPS and the unverified,
// whichever process stored them.
func TestMetricsReportsByAuthentication(t *testing.T) {
	st := testkit.OpenStore(t)
	p := parse.New(parse.Limits{})
	rep := func(id string) []*parse.Report {
		r, err := p.ParseReport([]byte(`{"organization-name":"Org","date-range":{"start-datetime":"2026-10-30T00:00:00Z","end-datetime":"2026-10-30T23:59:59Z"},"contact-info":"c","report-id":"` + id + `","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`))
		if err != nil {
			t.Fatal(err)
		}
		return []*parse.Report{r}
	}
	_, err := st.Ingest(context.Background(), []store.Input{
		{Data: []byte("1"), Source: "imap", Origin: "a", Reports: rep("1"), Auth: &store.Auth{DKIM: "pass", Domain: "org.example", Authenticated: true}},
		{Data: []byte("2"), Source: "imap", Origin: "b", Reports: rep("2"), Auth: &store.Auth{DKIM: "pass", Domain: "evil.example"}},
		{Data: []byte("3"), Source: "imap", Origin: "c", Reports: rep("3"), Auth: &store.Auth{DKIM: "none"}},
		{Data: []byte("4"), Source: "https", Origin: "192.0.2.1", Reports: rep("4")},
		{Data: []byte("5"), Source: "import", Origin: "f.json", Reports: rep("5")},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Listen(st, p, server.Options{Listen: "127.0.0.1:0", InsecureHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	resp, err := http.Get("http://" + srv.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`tlsrpt_stored_reports{authenticated="true",dkim="pass"} 1`,
		`tlsrpt_stored_reports{authenticated="false",dkim="pass"} 1`,
		`tlsrpt_stored_reports{authenticated="false",dkim="none"} 1`,
		`tlsrpt_stored_reports{authenticated="true",dkim="https"} 1`,
		`tlsrpt_stored_reports{authenticated="false",dkim="unverified"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
