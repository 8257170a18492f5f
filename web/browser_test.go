package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
	"github.com/tlsrpt/tlsrpt/web"
)

// now is the day after the sample reports' last (they cover 2026-10-01 to
// 2026-10-30).
var now = time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC)

// seeded is a store holding testdata's sample, quirks and mail reports and
// one refused input.
func seeded(t testing.TB) *sqlite.DB {
	t.Helper()
	st := testkit.OpenStore(t)
	ctx := context.Background()
	_, err := ingest.Import(ctx, st, parse.New(parse.Limits{}), ingest.ImportOptions{
		Paths: []string{"../testdata/sample", "../testdata/quirks", "../testdata/mail"},
		Now:   func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest(ctx, []store.Input{{Data: []byte("{\"organization-name\": 1}"), Source: "https", Origin: "192.0.2.7",
		ReceivedAt: now, Errors: []string{"invalid report: organization-name: want a string"}}}); err != nil {
		t.Fatal(err)
	}
	return st
}

// startWeb serves the dashboard over st on a loopback port.
func startWeb(t testing.TB, st store.Store, o web.Options) string {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	h, err := web.New(st, o)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.Listen(h, web.ListenOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + srv.Addr().String()
}

// page is a headless Chromium tab that records what the page did wrong:
// console errors, uncaught exceptions, log errors (CSP violations, failed
// loads) and every request that left the dashboard's origin.
type page struct {
	ctx    context.Context
	origin string
	mu     sync.Mutex
	errs   []string
	away   []string
	reqs   []string
}

func chromiumPath(t testing.TB) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium here: install Debian's chromium package (.ci/run does) to run the browser tests")
	return ""
}

func newPage(t testing.TB, origin string) *page {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
		// Nothing but loopback: a request elsewhere fails, and is recorded.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	p := &page{ctx: ctx, origin: origin}
	err := chromedp.Listen(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				p.errs = append(p.errs, "console: "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			p.errs = append(p.errs, "exception: "+msg)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				p.errs = append(p.errs, fmt.Sprintf("log (%s): %s %s", e.Entry.Source, e.Entry.Text, e.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			u := e.Request.URL
			p.reqs = append(p.reqs, u)
			// data: URLs are no request (Chromium draws a date input's
			// icon from one); anything else must be the dashboard's.
			if !strings.HasPrefix(u, origin+"/") && u != origin && !strings.HasPrefix(u, "data:") {
				p.away = append(p.away, u)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return p
}

// open loads a path and waits until the page says it has loaded its data.
func (p *page) open(t testing.TB, path string) {
	t.Helper()
	p.do(t, chromedp.Navigate(p.origin+path))
	p.waitLoaded(t, 0)
}

// waitLoaded waits for the page's load count to pass after.
func (p *page) waitLoaded(t testing.TB, after int) {
	t.Helper()
	var state string
	var loads int
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.tryEval(`(document.body && document.body.dataset.state) || ''`, &state) != nil ||
			p.tryEval(`(window.tlsrpt && window.tlsrpt.loads) || 0`, &loads) != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if state == "error" {
			var msg string
			p.eval(t, `document.getElementById('error').textContent`, &msg)
			t.Fatalf("the page shows an error: %s", msg)
		}
		if state == "loaded" && loads > after {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the page did not load its data (state %q, %d loads)", state, loads)
}

// waitPath waits for a navigation to path, and for the new page's data.
func (p *page) waitPath(t testing.TB, path string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := p.tryEval(`location.pathname`, &got); err == nil && got == path {
			p.waitLoaded(t, 0)
			return
		}
	}
	t.Fatalf("the browser is at %s, not %s", got, path)
}

func (p *page) loads(t testing.TB) int {
	var n int
	p.eval(t, `window.tlsrpt.loads`, &n)
	return n
}

func (p *page) do(t testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates js in the page into out, through JSON.
func (p *page) eval(t testing.TB, js string, out any) {
	t.Helper()
	if err := p.tryEval(js, out); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
}

// tryEval is eval for the waits, which poll while a navigation may replace
// the page under them (an error they retry).
func (p *page) tryEval(js string, out any) error {
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[json.RawMessage](js))
	if err != nil {
		return err
	}
	return json.Unmarshal(v, out)
}

// clean fails the test for any console error or request elsewhere so far.
func (p *page) clean(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		t.Errorf("%s", e)
	}
	for _, u := range p.away {
		t.Errorf("request outside the dashboard's origin: %s", u)
	}
	p.errs, p.away = nil, nil
}

func (p *page) screenshot(t testing.TB, name string) {
	dir := os.Getenv("TLSRPT_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowserDomainsPage(t *testing.T) {
	st := seeded(t)
	origin := startWeb(t, st, web.Options{})
	p := newPage(t, origin)
	p.open(t, "/")

	// Every domain's badge is readiness's verdict.
	want, err := query.Assess(context.Background(), st, nil, now, query.DefaultThresholds)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	p.eval(t, `Array.from(document.querySelectorAll('#domains tbody tr')).map(tr =>
		[tr.dataset.domain, tr.querySelector('.badge').dataset.verdict, tr.querySelector('td:nth-child(5)').textContent,
		 String(tr.querySelectorAll('svg.spark polyline').length)])`, &rows)
	if len(rows) != len(want) {
		t.Fatalf("%d rows, readiness has %d domains: %v", len(rows), len(want), rows)
	}
	for _, r := range want {
		i := slices.IndexFunc(rows, func(row []string) bool { return row[0] == r.PolicyDomain })
		if i < 0 {
			t.Errorf("%s missing from the page", r.PolicyDomain)
			continue
		}
		if rows[i][1] != string(r.Verdict) {
			t.Errorf("%s: badge %s, readiness %s", r.PolicyDomain, rows[i][1], r.Verdict)
		}
		if got := strings.ReplaceAll(rows[i][2], ",", ""); got != fmt.Sprint(r.FailedSessions) {
			t.Errorf("%s: %s failed sessions shown, readiness %d", r.PolicyDomain, rows[i][2], r.FailedSessions)
		}
	}
	if rows[0][1] != string(query.NotReady) {
		t.Errorf("first row %v: not-ready domains come first", rows[0])
	}
	if i := slices.IndexFunc(rows, func(row []string) bool { return row[0] == "example.com" }); i < 0 || rows[i][3] == "0" {
		t.Errorf("no sparkline drawn for example.com: %v", rows)
	}
	p.screenshot(t, "dashboard-domains.png")
	p.clean(t)

	// A filter changes the URL and the figures.
	var before string
	p.eval(t, `document.querySelector('#domains tbody tr[data-domain="example.org"] td:nth-child(5)').textContent`, &before)
	n := p.loads(t)
	p.eval(t, `(() => { const s = document.getElementById('window'); s.value = '7'; s.dispatchEvent(new Event('change')); return true })()`, new(bool))
	p.waitLoaded(t, n)
	var search, after string
	p.eval(t, `location.search`, &search)
	p.eval(t, `document.querySelector('#domains tbody tr[data-domain="example.org"] td:nth-child(5)').textContent`, &after)
	if search != "?window=7" {
		t.Errorf("URL after choosing 7 days: %q", search)
	}
	week, err := query.Assess(context.Background(), st, []string{"example.org"}, now, query.Thresholds{Window: 7})
	if err != nil || len(week) != 1 {
		t.Fatal(err)
	}
	if after == before || strings.ReplaceAll(after, ",", "") != fmt.Sprint(week[0].FailedSessions) {
		t.Errorf("example.org failed sessions: %s over 30 days, %s over 7 days; readiness over 7 days: %d", before, after, week[0].FailedSessions)
	}
	// The view is the URL's: opened again, it is the same.
	p.open(t, "/?window=7&q=example.org")
	var shown []string
	p.eval(t, `Array.from(document.querySelectorAll('#domains tbody tr')).map(tr => tr.dataset.domain)`, &shown)
	var window string
	p.eval(t, `document.getElementById('window').value`, &window)
	if !slices.Equal(shown, []string{"example.org"}) || window != "7" {
		t.Errorf("bookmarked view: rows %v, window %s", shown, window)
	}

	// As of another day: the verdicts then, and domain pages over those days.
	p.open(t, "/?as_of=2026-10-20")
	var counts, href string
	p.eval(t, `document.getElementById('counts').textContent`, &counts)
	p.eval(t, `document.querySelector('#domains tbody tr[data-domain="example.org"] a').getAttribute('href')`, &href)
	if !strings.Contains(counts, "30 days to 2026-10-20") || href != "/domains/example.org?since=2026-09-21&until=2026-10-20" {
		t.Errorf("as of 2026-10-20: %q, link %q", counts, href)
	}
	p.open(t, "/?as_of=2025-01-01")
	var empty string
	p.eval(t, `document.querySelector('#domains tbody').textContent`, &empty)
	if !strings.Contains(empty, "No reports in the 30 days to 2025-01-01") {
		t.Errorf("an empty window says %q", empty)
	}

	// Sorting by a column is a click on its header.
	n = p.loads(t)
	p.do(t, chromedp.Click(chromedp.CSS(`#domains th[data-sort="policy_domain"] button`)))
	p.waitLoaded(t, n)
	p.eval(t, `location.search`, &search)
	if !strings.Contains(search, "sort=policy_domain") {
		t.Errorf("URL after sorting: %q", search)
	}

	// A click on a domain opens its page.
	p.open(t, "/")
	p.do(t, chromedp.Click(chromedp.CSS(`#domains tbody tr[data-domain="example.org"] a`)))
	p.waitPath(t, "/domains/example.org")
	p.clean(t)
}

func TestBrowserDomainPage(t *testing.T) {
	st := seeded(t)
	origin := startWeb(t, st, web.Options{})
	p := newPage(t, origin)
	p.open(t, "/domains/example.org")
	p.screenshot(t, "dashboard-domain.png")

	// One point per day of the range, a value on each day with reports.
	f := store.Filter{Domains: []string{"example.org"}, Since: now.Truncate(24*time.Hour).AddDate(0, 0, -29), Until: now.Truncate(24 * time.Hour)}
	days, err := query.SummarizeBy(context.Background(), st, query.ByDay, f)
	if err != nil {
		t.Fatal(err)
	}
	var points struct{ X, Y int }
	p.eval(t, `(() => { const d = window.tlsrpt.charts.daily.data; return {X: d[0].length, Y: d[1].filter(v => v !== null).length} })()`, &points)
	if points.X != 30 || points.Y != len(days.Rows) {
		t.Errorf("chart: %d days, %d with sessions; want 30 and %d", points.X, points.Y, len(days.Rows))
	}
	var drawn bool
	p.eval(t, `!!document.querySelector('#chart canvas')`, &drawn)
	if !drawn {
		t.Error("no chart canvas")
	}

	var verdict, mx, failures string
	p.eval(t, `document.querySelector('#verdict .badge').dataset.verdict`, &verdict)
	p.eval(t, `document.querySelector('#mx tbody').textContent`, &mx)
	p.eval(t, `document.querySelector('#failures tbody').textContent`, &failures)
	r, err := query.Assess(context.Background(), st, []string{"example.org"}, now, query.DefaultThresholds)
	if err != nil || len(r) != 1 {
		t.Fatal(err)
	}
	if verdict != string(r[0].Verdict) {
		t.Errorf("verdict %s, readiness %s", verdict, r[0].Verdict)
	}
	if !strings.Contains(mx, "backup.example.org") || !strings.Contains(mx, "certificate-expired") {
		t.Errorf("MX table: %q", mx)
	}
	if !strings.Contains(failures, "certificate-expired") {
		t.Errorf("failure details: %q", failures)
	}
	p.clean(t)

	// A custom range is in the URL, and the chart follows it.
	p.open(t, "/domains/example.org?since=2026-10-10&until=2026-10-16")
	p.eval(t, `window.tlsrpt.charts.daily.data[0].length`, &points.X)
	var rangeValue string
	p.eval(t, `document.getElementById('range').value`, &rangeValue)
	if points.X != 7 || rangeValue != "custom" {
		t.Errorf("custom range: %d points, range %q", points.X, rangeValue)
	}

	// A failure links to its report, whose page shows its details.
	p.open(t, "/domains/example.org")
	var link string
	p.eval(t, `document.querySelector('#failures tbody a').getAttribute('href')`, &link)
	p.do(t, chromedp.Click(chromedp.CSS(`#failures tbody a`)))
	p.waitPath(t, link)
	var details, raw string
	p.eval(t, `document.getElementById('policies').textContent`, &details)
	p.eval(t, `document.getElementById('raw').getAttribute('href')`, &raw)
	if !strings.Contains(details, "certificate-expired") || !strings.Contains(details, "backup.example.org") {
		t.Errorf("report page details: %q", details)
	}
	if !strings.HasPrefix(raw, "/api/v1/reports/") || !strings.HasSuffix(raw, "/raw") {
		t.Errorf("raw link %q", raw)
	}
	p.clean(t)
}

func TestBrowserReportAndInputsPages(t *testing.T) {
	st := seeded(t)
	origin := startWeb(t, st, web.Options{})
	p := newPage(t, origin)
	// The quirks' report with additional-information and a reason code.
	rows, err := st.Failures(context.Background(), store.FailureFilter{ResultTypes: []string{"certificate-host-mismatch"}})
	if err != nil || len(rows) == 0 {
		t.Fatalf("no certificate-host-mismatch in the fixtures: %v", err)
	}
	p.open(t, fmt.Sprintf("/reports/%d", rows[0].ReportID))
	var text string
	p.eval(t, `document.getElementById('main').textContent`, &text)
	for _, want := range []string{rows[0].Organization, "certificate-host-mismatch", rows[0].Detail.ReceivingMXHostname, "SHA-256",
		"not authenticated"} {
		if !strings.Contains(text, want) {
			t.Errorf("report page lacks %q", want)
		}
	}
	p.clean(t)

	p.open(t, "/inputs")
	p.eval(t, `document.querySelector('#inputs tbody').textContent`, &text)
	if !strings.Contains(text, "organization-name: want a string") || !strings.Contains(text, "no-report") {
		t.Errorf("inputs page: %q", text)
	}
	p.clean(t)

	// An unknown report is an error said on the page, not a blank.
	p.do(t, chromedp.Navigate(origin+"/reports/999999"))
	var state, msg string
	for range 100 {
		p.eval(t, `(document.body && document.body.dataset.state) || ''`, &state)
		if state != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.eval(t, `document.getElementById('error').textContent`, &msg)
	if state != "error" || !strings.Contains(msg, "not found") {
		t.Errorf("unknown report: state %q, message %q", state, msg)
	}
}

// TestBrowserUpdatesItself: an open page shows a report that arrives.
func TestBrowserUpdatesItself(t *testing.T) {
	st := seeded(t)
	origin := startWeb(t, st, web.Options{Poll: time.Second})
	p := newPage(t, origin)
	p.open(t, "/inputs")
	n := p.loads(t)
	if _, err := st.Ingest(context.Background(), []store.Input{{Data: []byte("not a report at all"), Source: "import",
		Origin: "late.txt", ReceivedAt: now, NoReport: true, Errors: []string{"no report in it"}}}); err != nil {
		t.Fatal(err)
	}
	// Inputs refused do not move the newest report: store one too.
	rep, err := parse.New(parse.Limits{}).ParseReport([]byte(`{"organization-name":"Late Org","date-range":{"start-datetime":"2026-10-30T00:00:00Z","end-datetime":"2026-10-30T23:59:59Z"},"contact-info":"x","report-id":"late-1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.net"},"summary":{"total-successful-session-count":5,"total-failure-session-count":0}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Ingest(context.Background(), []store.Input{{Data: []byte("late"), Source: "import", Origin: "late.json", ReceivedAt: now, Reports: []*parse.Report{rep}}}); err != nil {
		t.Fatal(err)
	}
	p.waitLoaded(t, n)
	var text string
	p.eval(t, `document.querySelector('#inputs tbody').textContent`, &text)
	if !strings.Contains(text, "late.txt") {
		t.Errorf("the page did not update: %q", text)
	}
	p.clean(t)
}

// TestBrowserKeyboardPhoneAndDark: sorting works from the keyboard, a
// phone's width does not make the page wider than the screen (tables
// scroll in their own box), and a browser that prefers dark gets dark.
func TestBrowserKeyboardPhoneAndDark(t *testing.T) {
	st := seeded(t)
	origin := startWeb(t, st, web.Options{})
	p := newPage(t, origin)
	p.open(t, "/")
	n := p.loads(t)
	p.eval(t, `document.querySelector('#domains th[data-sort="failure_rate"] button').focus(), true`, new(bool))
	p.do(t, chromedp.KeyEvent("\r"))
	p.waitLoaded(t, n)
	var search, sorted string
	p.eval(t, `location.search`, &search)
	p.eval(t, `document.querySelector('#domains th[data-sort="failure_rate"]').getAttribute('aria-sort')`, &sorted)
	if search != "?sort=failure_rate" || sorted != "descending" {
		t.Errorf("after Enter on the failure rate header: URL %q, aria-sort %q", search, sorted)
	}

	for _, path := range []string{"/", "/domains/example.org", "/inputs"} {
		p.do(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		p.open(t, path)
		var widths struct{ Page, Screen int }
		p.eval(t, `({Page: document.documentElement.scrollWidth, Screen: window.innerWidth})`, &widths)
		if widths.Screen != 390 || widths.Page > widths.Screen {
			t.Errorf("%s on a phone: the page is %d pixels wide on a %d pixel screen", path, widths.Page, widths.Screen)
		}
	}
	p.do(t, chromedp.EmulateReset())

	background := func() string {
		var bg string
		p.eval(t, `getComputedStyle(document.body).backgroundColor`, &bg)
		return bg
	}
	light := background()
	dark := []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}
	if _, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: dark}); err != nil {
		t.Fatal(err)
	}
	if got := background(); got != "rgb(13, 17, 23)" || light != "rgb(255, 255, 255)" {
		t.Errorf("background light %s, dark %s", light, got)
	}
	p.clean(t)
}

// TestBrowserRefusedWithoutLogin: a dashboard on every address (not only
// loopback) answers a browser without credentials 401, data unseen.
func TestBrowserRefusedWithoutLogin(t *testing.T) {
	st := seeded(t)
	file := filepath.Join(t.TempDir(), "htpasswd")
	if _, err := web.SetPassword(file, "alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	h, err := web.New(st, web.Options{Auth: web.Auth{BasicFile: file}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	open, err := web.New(st, web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := web.Listen(open, web.ListenOptions{Addr: ":0"}); !errors.Is(err, web.ErrOpen) {
		t.Fatalf("every address without authentication: %v", err)
	}
	srv, err := web.Listen(h, web.ListenOptions{Addr: ":0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	origin := fmt.Sprintf("http://127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)
	p := newPage(t, origin)
	for _, path := range []string{"/", "/api/v1/summary"} {
		resp, err := chromedp.Run(p.ctx, chromedp.NavigateResponse(origin+path))
		if err != nil && strings.Contains(err.Error(), "ERR_INVALID_AUTH_CREDENTIALS") {
			continue // the 401's challenge, with no credentials to answer it
		}
		if err != nil {
			t.Fatal(err)
		}
		var text string
		p.eval(t, `document.body ? document.body.innerText : ''`, &text)
		if resp.Status != 401 || strings.Contains(text, "example.org") {
			t.Errorf("%s without a login: %d, %q", path, resp.Status, text)
		}
	}
	// With the login, the same browser sees the dashboard (the 401s logged
	// errors, as they should).
	p.do(t, chromedp.Navigate("about:blank"))
	p.mu.Lock()
	p.errs = nil
	p.mu.Unlock()
	auth := network.Headers{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:correct horse"))}
	if _, err := chromedp.Call(p.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: auth}); err != nil {
		t.Fatal(err)
	}
	p.open(t, "/")
	var rows int
	p.eval(t, `document.querySelectorAll('#domains tbody tr[data-domain]').length`, &rows)
	if rows != 3 {
		t.Errorf("logged in, %d domains shown", rows)
	}
	p.clean(t)
}
