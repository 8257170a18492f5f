package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tlsrpt/tlsrpt/internal/jsonout"
)

// TestListingMatchesPrint pins a listing written a row at a time to what
// the printer writes for all the rows at once, in every format.
func TestListingMatchesPrint(t *testing.T) {
	type item struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	header := []string{"name", "n"}
	for _, count := range []int{0, 1, 3} {
		var items []item
		var rows [][]string
		for i := range count {
			it := item{Name: fmt.Sprintf("row <%d>, \"quoted\"", i), N: i * 1000}
			items = append(items, it)
			rows = append(rows, []string{it.Name, fmt.Sprint(it.N)})
		}
		for _, key := range []string{"", "failures"} {
			for _, format := range []string{"table", "json", "csv"} {
				t.Run(fmt.Sprintf("%d %q %s", count, key, format), func(t *testing.T) {
					var want, got bytes.Buffer
					if format == "table" && count == 0 {
						want.WriteString("nothing matches\n")
					} else if err := newPrinter(&want, format).print(header, rows, jsonout.ListOf(key, append([]item{}, items...))); err != nil {
						t.Fatal(err)
					}
					l := newPrinter(&got, format).list(header, key, "nothing matches")
					for i := range items {
						if err := l.add(func() []string { return rows[i] }, func() any { return items[i] }); err != nil {
							t.Fatal(err)
						}
					}
					if err := l.close(); err != nil {
						t.Fatal(err)
					}
					if got.String() != want.String() {
						t.Errorf("a row at a time:\n%s\nall at once:\n%s", got.String(), want.String())
					}
				})
			}
		}
	}
}

// A table longer than it holds: the rows held set the widths, the rest are
// written as they come with those widths, and a wider cell keeps two spaces
// before the next column.
func TestTableListingPastWhatItHolds(t *testing.T) {
	var got bytes.Buffer
	l := newPrinter(&got, "table").list([]string{"name", "kind", "n"}, "", "nothing matches")
	l.hold = 2
	for _, r := range [][]string{{"a", "x", "1"}, {"bb", "y", "2"}, {"c", "z", "3"}, {"a-long-name", "wide-kind", "4"}, {"d", "", ""}} {
		if err := l.add(func() []string { return r }, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	want := "NAME  KIND  N\n" +
		"a     x     1\n" +
		"bb    y     2\n" +
		"c     z     3\n" +
		"a-long-name  wide-kind  4\n" +
		"d\n"
	if got.String() != want {
		t.Errorf("got\n%s\nwant\n%s", got.String(), want)
	}
}

// Text from a report reaches a terminal escaped: an organization-name that
// sets the window title and clears the screen, and a report-id with a line
// break, in the table of reports, in reports show, in summary --by sender
// and in failures. JSON and CSV carry them exactly.
func TestTerminalEscapesAreEscaped(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	org := "Evil\x1b]0;pwned\x07\x1b[2J Org\u202e"
	body := `{"organization-name":"` + strings.NewReplacer("\x1b", `\u001b`, "\x07", `\u0007`).Replace(org) + `",` +
		`"date-range":{"start-datetime":"2026-10-01T00:00:00Z","end-datetime":"2026-10-01T23:59:59Z"},"contact-info":"c",` +
		`"report-id":"line\nbreak","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},` +
		`"summary":{"total-successful-session-count":1,"total-failure-session-count":1},` +
		`"failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mx.example.com","failed-session-count":1,` +
		`"failure-reason-code":"\u001b[31mred"}]}]}`
	file := filepath.Join(t.TempDir(), "evil.json")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, "", "--db", db, "import", file); code != exitOK {
		t.Fatalf("import: %d %s", code, errOut)
	}
	for _, args := range [][]string{
		{"reports", "--since", "2026-10-01"},
		{"reports", "show", "1"},
		{"summary", "--by", "sender", "--since", "2026-10-01"},
		{"failures", "--since", "2026-10-01"},
	} {
		out, errOut, code := run(t, "", append([]string{"--db", db}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d %s", args, code, errOut)
		}
		if strings.ContainsAny(out, "\x1b\x07\u202e") {
			t.Errorf("%v printed a control character: %q", args, out)
		}
		if args[0] != "reports" || len(args) < 2 || args[1] != "show" {
			if !strings.Contains(out, `Evil\x1b]0;pwned\x07\x1b[2J Org\u202e`) && args[0] != "failures" {
				t.Errorf("%v: the name is not shown escaped:\n%s", args, out)
			}
		}
	}
	out, _, _ := run(t, "", "--db", db, "reports", "--since", "2026-10-01", "-f", "json")
	if !strings.Contains(out, `"organization_name": "Evil\u001b]0;pwned\u0007\u001b[2J Org`+"\u202e\"") {
		t.Errorf("JSON does not carry the name exactly:\n%s", out)
	}
	out, _, _ = run(t, "", "--db", db, "reports", "--since", "2026-10-01", "-f", "csv")
	if !strings.Contains(out, org) || !strings.Contains(out, "\"line\nbreak\"") {
		t.Errorf("CSV does not carry the text exactly:\n%q", out)
	}
}

// JSON has one shape: snake_case keys, hex digests, lists never null, and
// every list an object with a named key.
func TestJSONShapes(t *testing.T) {
	db := sampleDB(t)
	out, _, code := run(t, "", "--db", db, "reports", "--since", "2020-01-01", "--limit", "2", "-f", "json")
	var list struct {
		Reports []map[string]any `json:"reports"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != exitOK || err != nil || len(list.Reports) != 2 {
		t.Fatalf("reports -f json: exit %d, %v\n%s", code, err, out)
	}
	out, _, code = run(t, "", "--db", db, "reports", "show", "1", "-f", "json")
	var one map[string]any
	if err := json.Unmarshal([]byte(out), &one); code != exitOK || err != nil {
		t.Fatalf("reports show -f json: exit %d, %v\n%s", code, err, out)
	}
	input, _ := one["input"].(map[string]any)
	sum, _ := input["sha256"].(string)
	if _, ok := one["organization_name"]; !ok || len(sum) != 64 || strings.Contains(out, "null") || strings.Contains(out, `"ID"`) {
		t.Errorf("reports show -f json:\n%s", out)
	}
	if w, ok := one["warnings"].([]any); !ok || w == nil {
		t.Errorf("warnings %v, want a list", one["warnings"])
	}
}

// A listing cut at its --limit says so on stderr, with the count.
func TestListingsSayWhenCut(t *testing.T) {
	db := sampleDB(t)
	_, errOut, code := run(t, "", "--db", db, "reports", "--since", "2020-01-01")
	if code != exitOK || errOut != "50 of 231 reports shown, the newest: --limit N for more, --limit 0 for all\n" {
		t.Errorf("reports: exit %d, stderr %q", code, errOut)
	}
	if _, errOut, _ := run(t, "", "--db", db, "reports", "--since", "2020-01-01", "--limit", "0"); errOut != "" {
		t.Errorf("reports --limit 0: stderr %q", errOut)
	}
	_, errOut, _ = run(t, "", "--db", db, "failures", "--since", "2020-01-01", "-n", "3")
	if !strings.HasPrefix(errOut, "3 of ") || !strings.Contains(errOut, "failure details shown") {
		t.Errorf("failures -n 3: stderr %q", errOut)
	}
}

// The failures table fits 120 columns; --wide shows every field.
func TestFailuresTableWidth(t *testing.T) {
	db := sampleDB(t)
	for _, args := range [][]string{{"failures", "--since", "2020-01-01", "-n", "0"}, {"failures", "--since", "2020-01-01", "-n", "0", "--wide"}} {
		out, _, code := run(t, "", append([]string{"--db", db}, args...)...)
		widest := 0
		for _, line := range strings.Split(out, "\n") {
			widest = max(widest, utf8.RuneCountInString(line))
		}
		wide := len(args) == 6
		if code != exitOK || (!wide && widest > 120) || (wide && !strings.Contains(out, "ADDITIONAL INFORMATION")) {
			t.Errorf("%v: exit %d, widest line %d", args, code, widest)
		}
	}
}
