package parse_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tlsrpt/tlsrpt/parse"
)

// withOrg is a valid report whose organization-name is the JSON string
// literal lit.
func withOrg(lit string) []byte {
	return []byte(strings.Replace(string(withCount("0")), `"organization-name":"O"`, `"organization-name":`+lit, 1))
}

func TestStringEscapes(t *testing.T) {
	tests := []struct{ lit, want string }{
		{`"plain"`, "plain"},
		{`"q\"uote\\back\/slash"`, `q"uote\back/slash`},
		{`"a\b\f\n\r\tz"`, "a\b\f\n\r\tz"},
		{`"\u00e9t\u00C9"`, "étÉ"},
		{`"\ud83d\ude00 smile"`, "\U0001F600 smile"},
		{`"mixed \u0041 and é"`, "mixed A and é"},
		// Leniency kept from the decoder this one replaced: what RFC 8259
		// does not allow is kept as written rather than refusing a report.
		{`"lone \ud83d surrogate"`, `lone \ud83d surrogate`},
		{`"bad \ud83d\u0041 pair"`, "bad \uFFFD pair"},
		{`"unknown \x escape"`, `unknown \x escape`},
		{`"short \u12"`, `short \u12`},
		{"\"raw\ttab\"", "raw\ttab"},
		{`"  trimmed  "`, "trimmed"},
		{`"long ` + strings.Repeat("0123456789", 5) + `\n"`, "long " + strings.Repeat("0123456789", 5)},
	}
	p := parse.New(parse.Limits{})
	for _, tt := range tests {
		r, err := p.ParseReport(withOrg(tt.lit))
		if err != nil {
			t.Errorf("%s: %v", tt.lit, err)
			continue
		}
		if r.OrganizationName != tt.want {
			t.Errorf("%s: got %q, want %q", tt.lit, r.OrganizationName, tt.want)
		}
	}
}

func TestRepeatedMemberFirstCounts(t *testing.T) {
	data := withOrg(`"first","organization-name":"second","organization-name":{"checked":[1,2]}`)
	r, err := parse.New(parse.Limits{}).ParseReport(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.OrganizationName != "first" {
		t.Errorf("organization-name %q, want the first one sent", r.OrganizationName)
	}
	// A repeat is still read for its syntax.
	if _, err := parse.New(parse.Limits{}).ParseReport(withOrg(`"first","organization-name":[1,}`)); !errors.Is(err, parse.ErrInvalid) {
		t.Errorf("a broken repeat was accepted: %v", err)
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct{ lit, msg string }{
		{`"x" "y"`, `',' or '}' expected at offset 25 ('"')`},
		{`"x",`, `a member name expected at offset`},
		{`"x", "k" 1`, `':' expected at offset`},
		{`[1 2]`, `',' or ']' expected at offset`},
		{`-`, `a digit expected at offset`},
		{`1.`, `a digit expected at offset`},
		{`1e+`, `a digit expected at offset`},
		{`+1`, `a value expected at offset 21 ('+')`},
		{`tru`, `"true" expected at offset`},
		{`falsy`, `"false" expected at offset`},
		{`'single'`, `a value expected at offset`},
	}
	p := parse.New(parse.Limits{})
	for _, tt := range tests {
		_, err := p.ParseReport(withOrg(tt.lit))
		if !errors.Is(err, parse.ErrInvalid) || !strings.Contains(err.Error(), "not JSON: "+tt.msg) {
			t.Errorf("%s: err = %v, want %q", tt.lit, err, tt.msg)
		}
	}
}

// FuzzJSONSyntax holds the decoder to encoding/json's idea of JSON: what it
// accepts is valid JSON (bar the documented leniency inside strings), and
// valid JSON is never refused as "not JSON".
func FuzzJSONSyntax(f *testing.F) {
	addSeeds(f, "../testdata/quirks/*.json", corpusDir+"/*.json", "../testdata/bench/*.json")
	p := parse.New(parse.Limits{MaxReport: 1 << 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		if parse.Sniff(data) != parse.FormatJSON {
			return
		}
		_, err := p.ParseReport(data)
		// Unknown escapes and short \u escapes are kept as written
		// (TestStringEscapes): only inputs with one are let through;
		// raw control characters inside strings are blanked out before
		// asking encoding/json.
		if err == nil && !json.Valid(blankControlsInStrings(data)) && !hasLenientEscape(data) {
			t.Fatalf("accepted what is not JSON")
		}
		if err != nil && json.Valid(data) && strings.Contains(err.Error(), "not JSON") {
			t.Fatalf("refused valid JSON: %v", err)
		}
	})
}

// blankControlsInStrings returns data with the control characters inside
// its strings replaced by spaces. It is meant for input without escapes.
func blankControlsInStrings(data []byte) []byte {
	out := bytes.Clone(data)
	in := false
	for i := 0; i < len(out); i++ {
		switch c := out[i]; {
		case c == '"':
			in = !in
		case in && c == '\\':
			i++ // an escaped quote does not end the string
			if i < len(out) && out[i] < 0x20 {
				out[i] = ' '
			}
		case in && c < 0x20:
			out[i] = ' '
		}
	}
	return out
}

// hasLenientEscape reports whether a string in data holds an escape RFC
// 8259 does not allow (an unknown letter, a \u without four hex digits),
// which the decoder keeps as written.
func hasLenientEscape(data []byte) bool {
	in := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			in = !in
		case in && c == '\\' && i+1 < len(data):
			i++
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(data) {
					return true
				}
				for _, h := range data[i+1 : i+5] {
					if !strings.ContainsRune("0123456789abcdefABCDEF", rune(h)) {
						return true
					}
				}
				i += 4
			default:
				return true
			}
		}
	}
	return false
}
