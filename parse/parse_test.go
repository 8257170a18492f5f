package parse_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
)

const corpusDir = "../../shared/corpus"

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// parseOne parses data that must hold exactly one valid report.
func parseOne(t *testing.T, data []byte) *parse.Report {
	t.Helper()
	items, err := parse.New(parse.Limits{}).Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(items) != 1 {
		t.Fatalf("got %d items, want 1", len(items))
	}
	if items[0].Err != nil {
		t.Fatalf("item: %v", items[0].Err)
	}
	return items[0].Report
}

func hasWarning(r *parse.Report, sub string) bool {
	return slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, sub) })
}

func TestCorpus(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus not present at %s: %v", corpusDir, err)
	}
	type pol struct {
		typ, domain string
		ok, fail    int64
		details     int
	}
	tests := []struct {
		file     string
		noReport bool
		org, id  string
		start    time.Time
		policies []pol
		warning  string
	}{
		{file: "rfc8460-example.json", org: "Company-X", id: "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
			start: time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC), policies: []pol{{"sts", "company-y.example", 5326, 303, 3}}},
		{file: "google-2022-sts.eml", org: "Google Inc.", id: "2022-09-15T00:00:00Z_test.xmox.nl",
			start: time.Date(2022, 9, 15, 0, 0, 0, 0, time.UTC), policies: []pol{{"sts", "test.xmox.nl", 3, 0, 0}}},
		{file: "google-2024-sts.eml", org: "Google Inc.", id: "2024-09-15T00:00:00Z_krvtz.net",
			start: time.Date(2024, 9, 15, 0, 0, 0, 0, time.UTC), policies: []pol{{"sts", "krvtz.net", 1, 0, 0}}},
		{file: "microsoft-2023-no-timezone.eml", org: "Microsoft Corporation", id: "133198585438131172+test.xmox.nl",
			start: time.Date(2023, 1, 10, 0, 0, 0, 0, time.UTC), policies: []pol{{"sts", "test.xmox.nl", 2, 0, 0}}, warning: "no time zone"},
		{file: "microsoft-2024-sts-and-tlsa.eml", org: "Microsoft Corporation", id: "133708152202987951+krvtz.net",
			start: time.Date(2024, 9, 13, 0, 0, 0, 0, time.UTC), policies: []pol{{"sts", "krvtz.net", 2, 0, 0}, {"tlsa", "krvtz.net", 2, 0, 0}}},
		{file: "mailru-2023-fetch-error.eml", org: "Mail.ru", id: "c96d67df-0440-57f7-6e96-c83824d0fdf2@mail.ru",
			start: time.Date(2023, 1, 25, 0, 0, 0, 0, time.UTC), policies: []pol{{"sts", "krvtz.net", 0, 1, 1}}},
		{file: "mailru-2023-fetch-error.json", org: "Mail.ru", id: "c96d67df-0440-57f7-6e96-c83824d0fdf2@mail.ru",
			start: time.Date(2023, 1, 25, 0, 0, 0, 0, time.UTC), policies: []pol{{"sts", "krvtz.net", 0, 1, 1}}},
		{file: "contact-info-null.json", org: "server.com", id: "123_456",
			start: time.Date(2026, 1, 11, 0, 0, 0, 0, time.UTC), policies: []pol{{"sts", "server.com", 1, 0, 0}}, warning: "contact-info: missing"},
		{file: "microsoft-no-ip-no-mx.json", org: "Microsoft Corporation", id: "1234567890+",
			start: time.Date(2025, 6, 14, 0, 0, 0, 0, time.UTC), policies: []pol{{"sts", "xxxxxxxx.xx", 0, 3, 1}}},
		{file: "not-a-report.eml", noReport: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := mustRead(t, filepath.Join(corpusDir, tt.file))
			if tt.noReport {
				_, err := parse.New(parse.Limits{}).Parse(data)
				if !errors.Is(err, parse.ErrNoReport) {
					t.Fatalf("err = %v, want ErrNoReport", err)
				}
				return
			}
			r := parseOne(t, data)
			if r.OrganizationName != tt.org || r.ReportID != tt.id || !r.DateRange.Start.Equal(tt.start) {
				t.Errorf("got %q %q %v, want %q %q %v", r.OrganizationName, r.ReportID, r.DateRange.Start, tt.org, tt.id, tt.start)
			}
			if r.DateRange.Start.Location() != time.UTC {
				t.Errorf("start not in UTC: %v", r.DateRange.Start)
			}
			var got []pol
			for _, p := range r.Policies {
				got = append(got, pol{p.Type, p.Domain, p.SuccessfulSessions, p.FailedSessions, len(p.FailureDetails)})
			}
			if !slices.Equal(got, tt.policies) {
				t.Errorf("policies = %+v, want %+v", got, tt.policies)
			}
			if tt.warning != "" && !hasWarning(r, tt.warning) {
				t.Errorf("warnings %q lack %q", r.Warnings, tt.warning)
			}
		})
	}
}

func TestCorpusDetails(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus not present: %v", err)
	}
	r := parseOne(t, mustRead(t, filepath.Join(corpusDir, "rfc8460-example.json")))
	fds := r.Policies[0].FailureDetails
	if fds[0].SendingMTAIP != "2001:db8:abcd:12::1" {
		t.Errorf("IPv6 not canonical: %q", fds[0].SendingMTAIP)
	}
	if !strings.HasPrefix(fds[1].AdditionalInformation, "https://reports.company-x.example/") {
		t.Errorf("additional-information lost: %q", fds[1].AdditionalInformation)
	}
	if fds[2].FailureReasonCode != "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED" || fds[2].ReceivingIP != "203.0.113.58" {
		t.Errorf("detail 2 = %+v", fds[2])
	}
	ms := parseOne(t, mustRead(t, filepath.Join(corpusDir, "microsoft-2024-sts-and-tlsa.eml")))
	if got := ms.Policies[1].String; len(got) != 13 || got[0] != "2 1 1 025490860B498AB73C6A12F27A49AD5FE230FAFE3AC8F6112C9B7D0AAD46941D" {
		t.Errorf("tlsa policy-string not expanded: %q", got)
	}
}

func TestQuirks(t *testing.T) {
	dir := "../testdata/quirks"
	tests := map[string]func(t *testing.T, r *parse.Report){
		"mx-host-string.json": func(t *testing.T, r *parse.Report) {
			if !slices.Equal(r.Policies[0].MXHosts, []string{"*.mx.example.com"}) {
				t.Errorf("mx-host = %q", r.Policies[0].MXHosts)
			}
		},
		"no-mx-host-no-policy-string.json": func(t *testing.T, r *parse.Report) {
			p := r.Policies[0]
			if p.MXHosts != nil || p.String != nil || p.FailureDetails[0].FailureReasonCode != "connection timed out" {
				t.Errorf("policy = %+v", p)
			}
		},
		"no-timezone.json": func(t *testing.T, r *parse.Report) {
			if want := time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC); !r.DateRange.End.Equal(want) {
				t.Errorf("end = %v, want %v", r.DateRange.End, want)
			}
			if !hasWarning(r, "read as UTC") {
				t.Errorf("no warning: %q", r.Warnings)
			}
		},
		"contact-info-null.json": func(t *testing.T, r *parse.Report) {
			if r.ContactInfo != "" || !hasWarning(r, "contact-info: missing") {
				t.Errorf("contact %q warnings %q", r.ContactInfo, r.Warnings)
			}
		},
		"no-sending-ip-no-mx.json": func(t *testing.T, r *parse.Report) {
			fd := r.Policies[0].FailureDetails[0]
			if fd.SendingMTAIP != "" || fd.ReceivingMXHostname != "" || fd.FailedSessions != 3 {
				t.Errorf("detail = %+v", fd)
			}
		},
		"sts-and-tlsa-same-sessions.json": func(t *testing.T, r *parse.Report) {
			if len(r.Policies) != 2 || r.Policies[1].Type != "tlsa" {
				t.Fatalf("policies = %+v", r.Policies)
			}
			if !slices.Equal(r.Policies[1].String, []string{"3 1 1 AB12", "3 1 1 CD34"}) {
				t.Errorf("tlsa policy-string = %q", r.Policies[1].String)
			}
		},
		"details-exceed-summary.json": func(t *testing.T, r *parse.Report) {
			p := r.Policies[0]
			if p.FailedSessions != 1 || p.FailureDetails[0].FailedSessions+p.FailureDetails[1].FailedSessions != 3 {
				t.Errorf("figures changed: %+v", p)
			}
			if !hasWarning(r, "adds up to 3, more than total-failure-session-count 1") {
				t.Errorf("no mismatch warning: %q", r.Warnings)
			}
		},
		"uppercase-trailing-dot.json": func(t *testing.T, r *parse.Report) {
			p := r.Policies[0]
			fd := p.FailureDetails[0]
			if p.Domain != "example.com" || !slices.Equal(p.MXHosts, []string{"mx1.example.com"}) ||
				fd.ReceivingMXHostname != "mx1.example.com" || fd.ReceivingMXHelo != "mx1.example.com" {
				t.Errorf("names not normalised: %+v", p)
			}
			if fd.SendingMTAIP != "2001:db8::1" || fd.ReceivingIP != "192.0.2.7" {
				t.Errorf("IPs not canonical: %q %q", fd.SendingMTAIP, fd.ReceivingIP)
			}
		},
		"unknown-result-type.json": func(t *testing.T, r *parse.Report) {
			if got := r.Policies[0].FailureDetails[0].ResultType; got != "quantum-tls-downgrade" {
				t.Errorf("result type = %q", got)
			}
			if !hasWarning(r, "unregistered result type") {
				t.Errorf("no warning: %q", r.Warnings)
			}
		},
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != len(tests) {
		t.Errorf("%d fixtures but %d checks: every quirk fixture needs a check", len(files), len(tests))
	}
	for name, check := range tests {
		t.Run(name, func(t *testing.T) {
			data := mustRead(t, filepath.Join(dir, name))
			check(t, parseOne(t, data))
			// The same report gzipped decodes the same.
			check(t, parseOne(t, gz(t, data)))
		})
	}
}

func TestMail(t *testing.T) {
	tests := []struct {
		file string
		ids  []string
	}{
		{"base64-tlsrpt-gzip.eml", []string{"mail-b64gz"}},
		{"quoted-printable-tlsrpt-json.eml", []string{"mail-qp"}},
		{"7bit-application-json.eml", []string{"mail-7bit"}},
		{"octet-stream-gzip.eml", []string{"mail-octet"}},
		{"application-gzip.eml", []string{"mail-appgz"}},
		{"application-zip-two-members.eml", []string{"mail-zip1", "mail-zip2"}},
		{"gzip-label-plain-json.eml", []string{"mail-mislabel"}},
		{"two-reports.eml", []string{"mail-two-a", "mail-two-b"}},
		{"forwarded-rfc822.eml", []string{"mail-fwd"}},
		{"report-part-ends-message.eml", []string{"mail-unclosed"}},
		{"no-report.eml", nil},
	}
	p := parse.New(parse.Limits{})
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			items, err := p.Parse(mustRead(t, filepath.Join("../testdata/mail", tt.file)))
			if tt.ids == nil {
				if !errors.Is(err, parse.ErrNoReport) {
					t.Fatalf("err = %v, want ErrNoReport", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, it := range items {
				if it.Err != nil {
					t.Fatalf("item %q: %v", it.Name, it.Err)
				}
				ids = append(ids, it.Report.ReportID)
				if p := it.Report.Policies[0]; p.Domain != "example.net" || p.SuccessfulSessions != 50 || p.FailedSessions != 2 {
					t.Errorf("policy = %+v", p)
				}
			}
			if !slices.Equal(ids, tt.ids) {
				t.Errorf("report ids = %q, want %q", ids, tt.ids)
			}
		})
	}
}

// A report part that runs to the end of the message (no closing boundary,
// CRLF, the base64 on one line) is kept when it is complete, with a
// warning; cut short, it is refused with an error that says so.
func TestReportPartEndsMessage(t *testing.T) {
	data := mustRead(t, "../testdata/mail/report-part-ends-message.eml")
	p := parse.New(parse.Limits{})
	items, err := p.Parse(data)
	if err != nil || len(items) != 1 || items[0].Err != nil {
		t.Fatalf("items %+v, %v", items, err)
	}
	if !hasWarning(items[0].Report, "without its closing MIME boundary") {
		t.Errorf("warnings %q", items[0].Report.Warnings)
	}
	items, err = p.Parse(data[:len(data)-40])
	if err != nil || len(items) != 1 || items[0].Err == nil || !errors.Is(items[0].Err, parse.ErrInvalid) ||
		!strings.Contains(items[0].Err.Error(), "without its closing boundary") {
		t.Fatalf("cut short: items %+v, %v", items, err)
	}
}

const validJSON = `{"organization-name":"O","date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T23:59:59Z"},
"contact-info":"c","report-id":"r1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},
"summary":{"total-successful-session-count":1,"total-failure-session-count":COUNT}}]}`

func withCount(c string) []byte { return []byte(strings.Replace(validJSON, "COUNT", c, 1)) }

func zipOf(t *testing.T, name string, body []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBadInput(t *testing.T) {
	lim := parse.Limits{MaxReport: 1 << 20}
	bomb := gz(t, make([]byte, 64<<20)) // 64 MiB of zeros in ~64 KiB
	valid := gz(t, withCount("0"))
	tests := []struct {
		name string
		data []byte
		is   error
		msg  string
	}{
		{"empty", nil, parse.ErrNotReport, "empty"},
		{"whitespace", []byte(" \n\t"), parse.ErrNotReport, "empty"},
		{"binary", []byte{0, 1, 2, 3, 0xff, 0xfe}, parse.ErrNotReport, "not JSON, gzip, zip or a mail message"},
		{"not json", []byte("{this is not json"), parse.ErrInvalid, "not JSON"},
		{"json array", []byte("[1,2]"), parse.ErrNotReport, "not JSON, gzip"},
		{"truncated gzip", valid[:len(valid)/2], parse.ErrInvalid, "truncated gzip"},
		{"corrupt gzip", append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0}, bytes.Repeat([]byte{0xff}, 50)...), parse.ErrInvalid, "gzip"},
		{"gzip bomb", bomb, parse.ErrTooLarge, "decompressed report exceeds the limit of 1048576"},
		{"zip bomb", zipOf(t, "r.json", make([]byte, 64<<20)), parse.ErrTooLarge, "decompressed report exceeds"},
		{"invalid utf-8", []byte(strings.Replace(validJSON, `"O"`, "\"O\xff\xfe\"", 1)), parse.ErrInvalid, "not valid UTF-8"},
		{"deep nesting", []byte(`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "}"), parse.ErrInvalid, "JSON nesting depth exceeds the limit of 32"},
		{"unclosed nesting", []byte(`{"a":` + strings.Repeat("[", 10000)), parse.ErrInvalid, "JSON nesting depth exceeds the limit of 32"},
		{"trailing comma", []byte(strings.Replace(string(withCount("0")), `"report-id":"r1",`, `"report-id":"r1",}`, 1)), parse.ErrInvalid, "not JSON: a member name expected at offset"},
		{"unterminated string", []byte(`{"organization-name":"O`), parse.ErrInvalid, "not JSON: unterminated string at offset 21"},
		{"text after the report", append(withCount("0"), " {}"...), parse.ErrInvalid, "not JSON: end of the document expected at offset"},
		{"leading zero", withCount("007"), parse.ErrInvalid, "not JSON: ',' or '}' expected at offset"},
		{"NaN count", withCount("NaN"), parse.ErrInvalid, "not JSON: a value expected at offset"},
		{"bad literal", withCount("nul"), parse.ErrInvalid, `not JSON: "null" expected`},
		{"syntax error after a field error", []byte(strings.Replace(string(withCount("0")), `"report-id":"r1"`, `"report-id":{},"x":7.5e`, 1)), parse.ErrInvalid, "not JSON: a digit expected"},
		{"nesting over limit", []byte(`{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "," + string(withCount("0")[1:])), parse.ErrInvalid, "JSON nesting depth exceeds the limit of 32"},
		{"negative count", withCount("-5"), parse.ErrInvalid, "policies[0].summary.total-failure-session-count: negative count -5"},
		{"overflowing count", withCount("99999999999999999999"), parse.ErrInvalid, "total-failure-session-count: 99999999999999999999 is not an integer"},
		{"fractional count", withCount("1.5"), parse.ErrInvalid, "total-failure-session-count: 1.5 is not an integer"},
		{"string count", withCount(`"7"`), parse.ErrInvalid, "total-failure-session-count: not a number but string"},
		{"no report-id", []byte(strings.Replace(string(withCount("0")), `"report-id":"r1",`, "", 1)), parse.ErrInvalid, "report-id: missing"},
		{"no policies", []byte(strings.Split(string(withCount("0")), `,"policies"`)[0] + "}"), parse.ErrInvalid, "policies: missing"},
		{"end before start", []byte(strings.Replace(string(withCount("0")), "2026-01-01T23:59:59Z", "2025-01-01T00:00:00Z", 1)), parse.ErrInvalid, "date-range: end-datetime 2025-01-01T00:00:00Z is before start-datetime"},
		{"bad date", []byte(strings.Replace(string(withCount("0")), "2026-01-01T23:59:59Z", "yesterday", 1)), parse.ErrInvalid, `date-range.end-datetime: "yesterday" is not an RFC 3339 date-time`},
		{"input too large", make([]byte, 2<<20), parse.ErrTooLarge, "input exceeds the limit"},
	}
	p := parse.New(parse.Limits{MaxReport: lim.MaxReport, MaxInput: 1 << 20})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data
			if tt.name == "gzip bomb" || tt.name == "zip bomb" {
				data = tt.data // compressed sizes are under MaxInput
			}
			items, err := p.Parse(data)
			if err == nil && len(items) == 1 {
				err = items[0].Err
			}
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	many := `{"organization-name":"O","date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-02T00:00:00Z"},"report-id":"r","policies":[` +
		strings.TrimSuffix(strings.Repeat(`{"policy":{"policy-domain":"d"},"summary":{"total-successful-session-count":0,"total-failure-session-count":0}},`, 5), ",") + "]}"
	_, err := parse.New(parse.Limits{MaxPolicies: 4}).Parse([]byte(many))
	if !errors.Is(err, parse.ErrInvalid) || !strings.Contains(err.Error(), "5 policies exceed the limit of 4") {
		t.Errorf("policies limit: %v", err)
	}
	if _, err := parse.New(parse.Limits{MaxPolicies: 5}).Parse([]byte(many)); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	details := strings.Replace(string(withCount("3")), `"total-failure-session-count":3}`,
		`"total-failure-session-count":3},"failure-details":[{"result-type":"certificate-expired","failed-session-count":1},{"result-type":"certificate-expired","failed-session-count":1},{"result-type":"certificate-expired","failed-session-count":1}]`, 1)
	if _, err := parse.New(parse.Limits{MaxFailureDetails: 2}).Parse([]byte(details)); !errors.Is(err, parse.ErrInvalid) || !strings.Contains(err.Error(), "limit of 2 failure details") {
		t.Errorf("details limit: %v", err)
	}
	if _, err := parse.New(parse.Limits{MaxFailureDetails: 3}).Parse([]byte(details)); err != nil {
		t.Errorf("at the details limit: %v", err)
	}
	// Exactly MaxReport decompressed bytes pass; one more is refused.
	body := withCount("0")
	if _, err := parse.New(parse.Limits{MaxReport: int64(len(body))}).Parse(gz(t, body)); err != nil {
		t.Errorf("at the size limit: %v", err)
	}
	if _, err := parse.New(parse.Limits{MaxReport: int64(len(body) - 1)}).Parse(gz(t, body)); !errors.Is(err, parse.ErrTooLarge) {
		t.Errorf("one byte over the size limit: %v", err)
	}
}

func TestMIMELimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n")
	for range 300 {
		b.WriteString("--B\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	b.WriteString("--B--\r\n")
	if _, err := parse.New(parse.Limits{}).Parse([]byte(b.String())); !errors.Is(err, parse.ErrTooLarge) || !strings.Contains(err.Error(), "MIME parts") {
		t.Errorf("parts limit: %v", err)
	}
	var deep strings.Builder
	deep.WriteString("From: a@example.com\r\nMIME-Version: 1.0\r\n")
	for i := range 20 {
		deep.WriteString("Content-Type: multipart/mixed; boundary=B" + string(rune('a'+i)) + "\r\n\r\n--B" + string(rune('a'+i)) + "\r\n")
	}
	deep.WriteString("Content-Type: text/plain\r\n\r\nx\r\n")
	if _, err := parse.New(parse.Limits{}).Parse([]byte(deep.String())); !errors.Is(err, parse.ErrTooLarge) || !strings.Contains(err.Error(), "nesting") {
		t.Errorf("nesting limit: %v", err)
	}
}

func TestZipMembers(t *testing.T) {
	items, err := parse.New(parse.Limits{}).Parse(zipOf(t, "one.json.gz", gz(t, withCount("0"))))
	if err != nil || len(items) != 1 || items[0].Err != nil || items[0].Name != "one.json.gz" {
		t.Fatalf("items %+v err %v", items, err)
	}
	if _, err := parse.New(parse.Limits{}).Parse(zipOf(t, "readme.txt", []byte("hello"))); !errors.Is(err, parse.ErrNoReport) {
		t.Errorf("zip without report: %v", err)
	}
}

// Strings of a report are copied out of the decompressed bytes and the
// JSON parser's buffers, which later inputs reuse: a report keeps its
// text whatever is parsed after it, also when its strings are most of the
// document (more than the share the parser sets aside for them at first).
func TestReportStringsOutliveTheInput(t *testing.T) {
	p := parse.New(parse.Limits{})
	doc := func(id, contact string) []byte {
		return []byte(`{"organization-name":"Org ` + id + `","report-id":"` + id + `","contact-info":"` + contact + `",
"date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},
"policies":[{"policy":{"policy-type":"sts","policy-domain":"` + id + `.example","mx-host":["mx.` + id + `.example"]},
"summary":{"total-successful-session-count":1,"total-failure-session-count":1},
"failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mx.` + id + `.example","failed-session-count":1,
"additional-information":"` + contact + `"}]}]}`)
	}
	long := strings.Repeat("x", 5000)
	first, err := p.ParseReport(gz(t, doc("first", long)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := p.ParseReport(gz(t, doc(fmt.Sprint("other", i), strings.Repeat("y", 5000)))); err != nil {
			t.Fatal(err)
		}
	}
	fd := first.Policies[0].FailureDetails[0]
	if first.OrganizationName != "Org first" || first.ReportID != "first" || first.ContactInfo != long ||
		first.Policies[0].Domain != "first.example" || first.Policies[0].MXHosts[0] != "mx.first.example" ||
		fd.ReceivingMXHostname != "mx.first.example" || fd.AdditionalInformation != long {
		t.Errorf("first report changed: %+v", first)
	}
}

// IP addresses in their canonical form, or kept as sent with a warning.
func TestIPCanonicalForm(t *testing.T) {
	p := parse.New(parse.Limits{})
	for _, tt := range []struct{ in, want, warning string }{
		{"192.0.2.1", "192.0.2.1", ""},
		{"[192.0.2.1]", "192.0.2.1", ""},
		{"2001:DB8:0:0::0012:1", "2001:db8::12:1", ""},
		{"[2001:db8::1]", "2001:db8::1", ""},
		{"::ffff:192.0.2.7", "192.0.2.7", ""},
		{"192.0.2.01", "192.0.2.01", "is not an IP address"},
		{"mx.example.com", "mx.example.com", "is not an IP address"},
	} {
		doc := `{"organization-name":"O","report-id":"r","contact-info":"c",
"date-range":{"start-datetime":"2026-03-01T00:00:00Z","end-datetime":"2026-03-01T23:59:59Z"},
"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},
"summary":{"total-successful-session-count":0,"total-failure-session-count":1},
"failure-details":[{"result-type":"validation-failure","sending-mta-ip":"` + tt.in + `","failed-session-count":1}]}]}`
		r, err := p.ParseReport([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		warned := strings.Contains(strings.Join(r.Warnings, "\n"), "sending-mta-ip: ")
		if got := r.Policies[0].FailureDetails[0].SendingMTAIP; got != tt.want || warned != (tt.warning != "") {
			t.Errorf("%s: %q, warnings %q; want %q", tt.in, got, r.Warnings, tt.want)
		}
	}
}

// What one input may decompress is counted across every layer and member:
// a report wrapped in gzip seven times is refused at the third layer, and
// zip members that each pass MaxReport are refused once they add up past
// MaxDecompressed. Two gzip layers (a gzip body sent with Content-Encoding:
// gzip) still parse.
func TestDecompressionBudget(t *testing.T) {
	padded := []byte(strings.Replace(string(withCount("0")), `"contact-info":"c"`,
		`"contact-info":"`+strings.Repeat(" ", 7<<20)+`c"`, 1))
	nested := padded
	for range 7 {
		nested = gz(t, nested)
	}
	p := parse.New(parse.Limits{})
	if _, err := p.Parse(nested); !errors.Is(err, parse.ErrTooLarge) || !strings.Contains(err.Error(), "gzip layers exceeds the limit of 2") {
		t.Errorf("seven layers: %v", err)
	}
	if items, err := p.Parse(gz(t, gz(t, padded))); err != nil || len(items) != 1 || items[0].Err != nil {
		t.Errorf("two layers: %+v, %v", items, err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range 5 {
		w, _ := zw.Create(fmt.Sprintf("r%d.json", i))
		w.Write(padded)
	}
	zw.Close()
	items, err := p.Parse(buf.Bytes())
	if !errors.Is(err, parse.ErrTooLarge) || !strings.Contains(err.Error(), "bytes decompressed from one input exceeds the limit of 33554432") {
		t.Errorf("five 7 MiB members: %d items, %v", len(items), err)
	}
	// Within the budget, every member is read.
	if items, err := parse.New(parse.Limits{MaxDecompressed: 5 * int64(len(padded))}).Parse(buf.Bytes()); err != nil || len(items) != 5 {
		t.Errorf("within a larger budget: %d items, %v", len(items), err)
	}
	// The same across the attachments of one message.
	msg := "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
	for i := range 5 {
		msg += fmt.Sprintf("--B\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			base64.StdEncoding.EncodeToString(gz(t, []byte(strings.Replace(string(padded), `"r1"`, fmt.Sprintf(`"r%d"`, i+10), 1)))))
	}
	msg += "--B--\r\n"
	items, err = p.Parse([]byte(msg))
	refused := 0
	for _, it := range items {
		if it.Err != nil && strings.Contains(it.Err.Error(), "bytes decompressed from one input") {
			refused++
		}
	}
	if err != nil || len(items) != 5 || refused != 1 {
		t.Errorf("five 7 MiB attachments: %d items, %d refused, %v", len(items), refused, err)
	}
}

// A date before 1970 is no report's: refused with the field named, not
// stored to break the day series later.
func TestDateBefore1970(t *testing.T) {
	body := strings.Replace(string(withCount("0")), "2026-01-01T00:00:00Z", "1969-12-31T00:00:00Z", 1)
	_, err := parse.New(parse.Limits{}).Parse([]byte(body))
	if !errors.Is(err, parse.ErrInvalid) || !strings.Contains(err.Error(), "date-range.start-datetime") || !strings.Contains(err.Error(), "before 1970") {
		t.Errorf("err = %v", err)
	}
}
