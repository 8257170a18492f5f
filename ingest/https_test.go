package ingest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/server"
	"github.com/tlsrpt/tlsrpt/store"
)

type endpoint struct {
	url    string
	client *http.Client
	ca     []byte
	st     store.Store
}

// startEndpoint serves the handler over HTTPS on loopback with a test CA.
func startEndpoint(t *testing.T, st store.Store, o ingest.HandlerOptions) *endpoint {
	t.Helper()
	ca := testkit.NewCA(t)
	commit := ingest.NewCommitter(st, 0)
	reg := prometheus.NewRegistry()
	o.Registry = reg
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", server.Healthz(st))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", ingest.NewHandler(parse.New(parse.Limits{MaxReport: 1 << 20}), commit, o))
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Issue(t, "127.0.0.1")}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(func() { srv.Close(); commit.Close() })
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	return &endpoint{url: srv.URL, client: client, ca: ca.PEM, st: st}
}

func (e *endpoint) post(t *testing.T, body []byte, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/tlsrpt", bytes.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// reportFiles are the bare reports: the corpus's and the quirk fixtures.
func reportFiles(t *testing.T) []string {
	quirks, _ := filepath.Glob("../testdata/quirks/*.json")
	corpus, _ := filepath.Glob(filepath.Join(corpusDir, "*.json"))
	return append(quirks, corpus...)
}

func TestHTTPSEveryWayLikeImport(t *testing.T) {
	st := testkit.OpenStore(t)
	// One client posting every report four ways: well within a sender's rate
	// here, and the rate limit has its own test.
	e := startEndpoint(t, st, ingest.HandlerOptions{Rate: 1000, Burst: 1000})
	files := reportFiles(t)
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		variants := []struct {
			body   []byte
			header []string
		}{
			{gz(raw), []string{"Content-Type", "application/tlsrpt+gzip"}},
			{raw, []string{"Content-Type", "application/tlsrpt+json"}},
			{gz(raw), []string{"Content-Type", "application/tlsrpt+json", "Content-Encoding", "gzip"}},
			{gz(raw), []string{"Content-Type", "application/octet-stream"}},
		}
		for i, v := range variants {
			code, msg := e.post(t, v.body, v.header...)
			want := http.StatusOK // a sender's retry is a duplicate, and succeeds
			if i == 0 {
				want = http.StatusCreated
			}
			if code != want {
				t.Errorf("%s variant %d: %d %q, want %d", filepath.Base(f), i, code, msg, want)
			}
		}
	}
	ref := testkit.OpenStore(t)
	mustImport(t, ref, parse.New(parse.Limits{}), files...)
	sameFigures(t, st, ref)
	// Every body is kept once per content: the gzip body came three ways,
	// the plain one once; the other arrivals are noted.
	inputs, _ := st.Inputs(context.Background(), store.InputFilter{})
	if len(inputs) != 2*len(files) {
		t.Errorf("%d inputs kept, want one per content: %d", len(inputs), 2*len(files))
	}
	raw, _ := os.ReadFile(files[0])
	sum := sha256.Sum256(gz(raw))
	if seen, _ := st.Inputs(context.Background(), store.InputFilter{SHA256: sum[:]}); len(seen) != 3 {
		t.Errorf("the gzip body's arrivals: %+v, want 3", seen)
	}
}

func TestHTTPSPostfixReporterCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	st := testkit.OpenStore(t)
	e := startEndpoint(t, st, ingest.HandlerOptions{})
	dir := t.TempDir()
	raw, _ := os.ReadFile("../testdata/quirks/no-timezone.json")
	os.WriteFile(filepath.Join(dir, "report.json.gz"), gz(raw), 0o644)
	os.WriteFile(filepath.Join(dir, "ca.pem"), e.ca, 0o644)
	// The exact request sys4's tlsrpt-reporter (Postfix) makes, plus our CA.
	cmd := exec.Command(curl, "--silent", "--cacert", "ca.pem", "--header", "Content-Type: application/tlsrpt+gzip",
		"--data-binary", "@report.json.gz", e.url+"/tlsrpt")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "stored ") {
		t.Fatalf("curl: %v %q", err, out)
	}
	if d := summary(t, st)["example.com"]; d.SuccessfulSessions != 4 {
		t.Errorf("stored figures: %+v", d)
	}
}

// countingReader yields n zero bytes and counts what was read. The count
// is atomic: the client's goroutine writing the body may still be reading
// when the response has arrived.
type countingReader struct {
	n    int64
	read atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	read := r.read.Load()
	if read >= r.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n-read)
	clear(p[:k])
	r.read.Add(k)
	return int(k), nil
}

func TestHTTPSHostileClients(t *testing.T) {
	st := testkit.OpenStore(t)
	e := startEndpoint(t, st, ingest.HandlerOptions{Domains: []string{"example.com"}, MaxBody: 1 << 20, Rate: 5, Burst: 5,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	valid, _ := os.ReadFile("../testdata/quirks/no-timezone.json")

	if code, _ := e.post(t, gz(make([]byte, 64<<20)), "Content-Type", "application/tlsrpt+gzip", "X-Forwarded-For", "198.51.100.1"); code != http.StatusRequestEntityTooLarge {
		t.Errorf("gzip bomb: %d", code)
	}
	deep := []byte(`{"a":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}")
	if code, msg := e.post(t, deep, "X-Forwarded-For", "198.51.100.6"); code != http.StatusBadRequest || !strings.Contains(msg, "nesting depth") {
		t.Errorf("100,000-deep JSON: %d %q, want 400: a bad report, not a large one", code, msg)
	}
	if code, msg := e.post(t, []byte("\x00\x01garbage\xff"), "X-Forwarded-For", "198.51.100.2"); code != http.StatusUnsupportedMediaType {
		t.Errorf("garbage: %d %q", code, msg)
	}
	other := bytes.ReplaceAll(valid, []byte("example.com"), []byte("stranger.example"))
	if code, _ := e.post(t, other, "X-Forwarded-For", "198.51.100.3"); code != http.StatusForbidden {
		t.Errorf("foreign domain: %d", code)
	}
	if code, msg := e.post(t, []byte(`{"organization-name":"x"}`), "X-Forwarded-For", "198.51.100.4"); code != http.StatusBadRequest || !strings.Contains(msg, "report-id: missing") {
		t.Errorf("invalid: %d %q", code, msg)
	}
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		req, _ := http.NewRequest(method, e.url+"/tlsrpt", strings.NewReader("x"))
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s: %d, Allow %q", method, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	// A 1 GB body is refused without being read.
	body := &countingReader{n: 1 << 30}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/tlsrpt", body)
	req.Header.Set("X-Forwarded-For", "198.51.100.5")
	resp, err := e.client.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("1 GB: %d", resp.StatusCode)
		}
	}
	if read := body.read.Load(); read > 64<<20 {
		t.Errorf("the server let the client send %d bytes", read)
	}
	// A flood from one address gets 429s; another address is served.
	limited := 0
	for range 20 {
		if code, _ := e.post(t, valid, "X-Forwarded-For", "203.0.113.9"); code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Error("no 429 for a flood")
	}
	if code, _ := e.post(t, valid, "X-Forwarded-For", "192.0.2.77"); code != http.StatusCreated && code != http.StatusOK {
		t.Errorf("another client during the flood: %d", code)
	}
	// Nothing invalid reached the reports; the one valid report did.
	list, _ := st.Reports(context.Background(), store.Filter{})
	if len(list) != 1 || list[0].ReportID != "quirk-no-timezone" {
		t.Errorf("reports = %+v", list)
	}
	// The stranger's report was not kept at all.
	inputs, _ := st.Inputs(context.Background(), store.InputFilter{})
	for _, in := range inputs {
		raw, _ := st.Raw(context.Background(), in.ID)
		if bytes.Contains(raw, []byte("stranger.example")) {
			t.Errorf("a report for a domain not served was stored")
		}
	}
}

// failingStore refuses every write, as a full disk would.
type failingStore struct{ store.Store }

func (failingStore) Ingest(context.Context, []store.Input) ([]store.Result, error) {
	return nil, errors.New("disk full")
}

func TestHTTPSStoreFailureIs503(t *testing.T) {
	e := startEndpoint(t, failingStore{testkit.OpenStore(t)}, ingest.HandlerOptions{})
	valid, _ := os.ReadFile("../testdata/quirks/no-timezone.json")
	if code, _ := e.post(t, valid); code != http.StatusServiceUnavailable {
		t.Errorf("store failure: %d, want 503 so the sender retries", code)
	}
}

func TestHTTPSHealthAndMetrics(t *testing.T) {
	e := startEndpoint(t, testkit.OpenStore(t), ingest.HandlerOptions{})
	valid, _ := os.ReadFile("../testdata/quirks/sts-and-tlsa-same-sessions.json")
	e.post(t, valid)
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/metrics": `tlsrpt_failed_sessions_total{domain="any",result_type="certificate-expired"} 5`,
	} {
		resp, err := e.client.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, lacks %q", path, resp.StatusCode, want)
		}
	}
}

// TestCommitterAcknowledgesOnlyCommitted submits from many goroutines and
// checks every acknowledged input is in the store, and nothing else.
func TestCommitterAcknowledgesOnlyCommitted(t *testing.T) {
	st := testkit.OpenStore(t)
	c := ingest.NewCommitter(st, 16)
	var acked atomic.Int64
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 25 {
				body := []byte(strings.Replace(string(good("x", "1")), `"report-id":"x"`, `"report-id":"c`+string(rune('a'+g))+string(rune('a'+i))+`"`, 1))
				in := ingest.Prepare(parse.New(parse.Limits{}), body, "test", "t", fixedTime)
				if res, err := c.Submit(context.Background(), in, 0); err == nil && res.Stored == 1 {
					acked.Add(1)
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	c.Close()
	list, _ := st.Reports(context.Background(), store.Filter{})
	if int64(len(list)) != acked.Load() || acked.Load() != 200 {
		t.Errorf("acknowledged %d, stored %d", acked.Load(), len(list))
	}
	if _, err := c.Submit(context.Background(), store.Input{}, 0); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

func TestHTTPSPathRestriction(t *testing.T) {
	e := startEndpoint(t, testkit.OpenStore(t), ingest.HandlerOptions{Path: "/tlsrpt"})
	valid, _ := os.ReadFile("../testdata/quirks/no-timezone.json")
	if code, _ := e.post(t, valid); code != http.StatusCreated {
		t.Errorf("on the path: %d", code)
	}
	resp, err := e.client.Post(e.url+"/elsewhere", "application/tlsrpt+json", bytes.NewReader(valid))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("off the path: %d", resp.StatusCode)
	}
}

// The rate limit stops only what no real sender does: with the defaults, a
// sender posting hundreds of reports at once is served; past a limit, the
// Retry-After is the limiter's actual wait.
func TestRateLimitBurstAndRetryAfter(t *testing.T) {
	st := testkit.OpenStore(t)
	e := startEndpoint(t, st, ingest.HandlerOptions{})
	for i := range 300 {
		if code, msg := e.post(t, good(fmt.Sprint("burst-", i), "1")); code != http.StatusCreated {
			t.Fatalf("post %d of a day's batch: %d %s", i, code, msg)
		}
	}
	slow := startEndpoint(t, st, ingest.HandlerOptions{Rate: 0.1, Burst: 2})
	for i := range 2 {
		if code, _ := slow.post(t, good(fmt.Sprint("slow-", i), "1")); code != http.StatusCreated {
			t.Fatalf("within the burst: %d", code)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, slow.url+"/tlsrpt", bytes.NewReader(good("slow-2", "1")))
	resp, err := slow.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Retry-After"); resp.StatusCode != http.StatusTooManyRequests || (got != "10" && got != "9") {
		t.Errorf("past the burst: %d, Retry-After %q; want 429 after about 10 s", resp.StatusCode, got)
	}
}

// Reports with made-up subdomains, MX names and result types add no
// metric series: labels take the operator's --domain entries and the
// registered result types only.
func TestMetricsLabelsAreBounded(t *testing.T) {
	e := startEndpoint(t, testkit.OpenStore(t), ingest.HandlerOptions{Domains: []string{"example.com"}})
	for i := range 50 {
		body := fmt.Sprintf(`{"organization-name":"Stranger","date-range":{"start-datetime":"2026-03-01T00:00:00Z",
"end-datetime":"2026-03-01T23:59:59Z"},"contact-info":"x","report-id":"s%d","policies":[{"policy":{"policy-type":"sts",
"policy-domain":"sub%d.example.com"},"summary":{"total-successful-session-count":0,"total-failure-session-count":2},
"failure-details":[{"result-type":"made-up-%d","receiving-mx-hostname":"mx%d.example.net","failed-session-count":1},
{"result-type":"certificate-expired","receiving-mx-hostname":"mx%d.example.org","failed-session-count":1}]}]}`, i, i, i, i, i)
		if code, msg := e.post(t, []byte(body)); code != http.StatusCreated {
			t.Fatalf("post %d: %d %s", i, code, msg)
		}
	}
	resp, err := e.client.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var series []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "tlsrpt_failed_sessions_total{") {
			series = append(series, line)
		}
	}
	want := []string{`tlsrpt_failed_sessions_total{domain="example.com",result_type="certificate-expired"} 50`,
		`tlsrpt_failed_sessions_total{domain="example.com",result_type="other"} 50`}
	if !slices.Equal(series, want) {
		t.Errorf("series %q\nwant %q", series, want)
	}
}

// A sender that half-closes its connection after the body is told what
// became of its report: stored (201), not "try again" (the commit does not
// run under the request's context, which the client's EOF cancels).
func TestHalfClosedClientGetsTheOutcome(t *testing.T) {
	st := testkit.OpenStore(t)
	commit := ingest.NewCommitter(st, 0)
	defer commit.Close()
	srv := httptest.NewServer(ingest.NewHandler(parse.New(parse.Limits{}), commit, ingest.HandlerOptions{}))
	defer srv.Close()
	body := good("half-closed", "1")
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /tlsrpt HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("half-closed client: %d, want 201", resp.StatusCode)
	}
	if list, _ := st.Reports(context.Background(), store.Filter{}); len(list) != 1 {
		t.Errorf("%d reports stored", len(list))
	}
}

// Slow bodies from two addresses cannot take every slot: each address has
// a share, the bodies are cut off once they fall below the minimum rate,
// and a legitimate sender is served at once throughout.
func TestSlowBodiesDoNotStarveOthers(t *testing.T) {
	st := testkit.OpenStore(t)
	e := startEndpoint(t, st, ingest.HandlerOptions{MaxConcurrent: 8, MaxPerClient: 2, MinBodyRate: 1000,
		BodyGrace: 500 * time.Millisecond, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var cut atomic.Int64
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr, pw := io.Pipe()
			go func() {
				defer pw.Close()
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					if _, err := pw.Write([]byte(" ")); err != nil {
						return
					}
				}
			}()
			req, _ := http.NewRequest(http.MethodPost, e.url+"/tlsrpt", pr)
			req.ContentLength = 100_000
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i%2))
			resp, err := e.client.Do(req)
			pr.CloseWithError(errors.New("done"))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusRequestTimeout {
					cut.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // the slow ones hold their slots
	for i := range 5 {
		start := time.Now()
		code, msg := e.post(t, good(fmt.Sprint("legit-", i), "1"), "X-Forwarded-For", "192.0.2.50")
		if code != http.StatusCreated || time.Since(start) > time.Second {
			t.Errorf("legitimate post %d: %d %s after %v", i, code, msg, time.Since(start))
		}
	}
	// At 10 bytes/s, below 1,000, each is cut off after the grace.
	for deadline := time.Now().Add(5 * time.Second); cut.Load() < 20 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if cut.Load() < 20 {
		t.Errorf("%d of 20 slow bodies cut off with 408", cut.Load())
	}
}
