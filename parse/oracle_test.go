package parse_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tlsrpt/tlsrpt/parse"
)

// The oracle: a report decoded the plain way, with encoding/json into a
// generic tree and the documented rules applied to it (which fields are
// required, how names are normalised, the senders' quirks), written
// without looking at parse/json.go's shortcuts. On every input both accept
// as JSON, the hand-written single-pass decoder must accept what the
// oracle accepts and give the same report, value for value. Documented
// differences, left out of the comparison: a member sent twice (the
// decoder keeps the first, encoding/json the last), and what encoding/json
// does not take (raw control characters, unknown escapes and lone
// surrogates inside strings, which the decoder keeps as sent).

// oracleDecode decodes data into a report, or says it is refused.
func oracleDecode(data []byte) (*parse.Report, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, false
	}
	o := oracle{ok: true}
	r := &parse.Report{}
	r.OrganizationName = o.required(top, "organization-name")
	r.ReportID = o.required(top, "report-id")
	if v, ok := top["contact-info"]; ok && v != nil {
		r.ContactInfo = o.str(v)
	}
	dr, ok := top["date-range"].(map[string]any)
	if !ok {
		return nil, false
	}
	r.DateRange.Start = o.time(dr, "start-datetime")
	r.DateRange.End = o.time(dr, "end-datetime")
	if o.ok && r.DateRange.End.Before(r.DateRange.Start) {
		return nil, false
	}
	pols, ok := top["policies"].([]any)
	if !ok {
		return nil, false
	}
	r.Policies = []parse.Policy{}
	for _, pv := range pols {
		r.Policies = append(r.Policies, o.policy(pv))
	}
	if len(r.Policies) == 0 {
		r.Policies = []parse.Policy{}
	}
	return r, o.ok
}

type oracle struct{ ok bool }

// str is a string field's value: a string trimmed of white space, a number
// or a boolean as its text; another kind refuses the report.
func (o *oracle) str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	o.ok = false
	return ""
}

func (o *oracle) required(m map[string]any, key string) string {
	v, present := m[key]
	s := o.str(v)
	if !present || v == nil || s == "" {
		o.ok = false
	}
	return s
}

func (o *oracle) time(m map[string]any, key string) time.Time {
	s, isStr := m[key].(string)
	if !isStr {
		// A number or boolean is taken as text, and is no date.
		o.ok = false
		return time.Time{}
	}
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Before(time.Unix(0, 0)) {
				break
			}
			return t.UTC()
		}
	}
	o.ok = false
	return time.Time{}
}

func (o *oracle) count(m map[string]any, key string, required bool) int64 {
	v, present := m[key]
	if !present {
		if required {
			o.ok = false
		}
		return 0
	}
	n, isNum := v.(json.Number)
	if !isNum {
		o.ok = false
		return 0
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil || i < 0 {
		o.ok = false
		return 0
	}
	return i
}

func host(s string) string { return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), ".")) }

// list is a string or an array of strings (null: none).
func (o *oracle) list(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string, json.Number, bool:
		return []string{o.str(x)}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, o.str(e))
		}
		return out
	}
	o.ok = false
	return nil
}

func (o *oracle) policy(v any) parse.Policy {
	var p parse.Policy
	m, ok := v.(map[string]any)
	if !ok {
		o.ok = false
		return p
	}
	pm, ok := m["policy"].(map[string]any)
	if !ok {
		o.ok = false
		return p
	}
	p.Type = strings.ToLower(o.str(pm["policy-type"]))
	p.Domain = host(o.required(pm, "policy-domain"))
	if s, single := pm["policy-string"].(string); single {
		for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				p.String = append(p.String, l)
			}
		}
	} else {
		p.String = o.list(pm["policy-string"])
	}
	if len(p.String) == 1 && strings.HasPrefix(p.String[0], "[") {
		var lines []string
		if err := json.Unmarshal([]byte(p.String[0]), &lines); err == nil && lines != nil {
			p.String = lines
		}
	}
	for _, h := range o.list(pm["mx-host"]) {
		if h = host(strings.TrimPrefix(h, "mx:")); h != "" {
			p.MXHosts = append(p.MXHosts, h)
		}
	}
	sm, ok := m["summary"].(map[string]any)
	if !ok {
		o.ok = false
		return p
	}
	p.SuccessfulSessions = o.count(sm, "total-successful-session-count", true)
	p.FailedSessions = o.count(sm, "total-failure-session-count", true)
	switch fds := m["failure-details"].(type) {
	case nil:
	case []any:
		for _, fv := range fds {
			p.FailureDetails = append(p.FailureDetails, o.detail(fv))
		}
	default:
		o.ok = false
	}
	return p
}

func (o *oracle) detail(v any) parse.FailureDetail {
	var fd parse.FailureDetail
	m, ok := v.(map[string]any)
	if !ok {
		o.ok = false
		return fd
	}
	fd.ResultType = o.str(m["result-type"])
	if lower := strings.ToLower(fd.ResultType); parse.GroupOf(lower) != parse.GroupUnknown {
		fd.ResultType = lower
	}
	ip := func(key string) string {
		s := o.str(m[key])
		bare := strings.Trim(s, "[]")
		a, err := netip.ParseAddr(bare)
		if err != nil || a.Is4() && bare == s {
			return s
		}
		return a.Unmap().String()
	}
	fd.SendingMTAIP = ip("sending-mta-ip")
	fd.ReceivingIP = ip("receiving-ip")
	fd.ReceivingMXHostname = host(o.str(m["receiving-mx-hostname"]))
	fd.ReceivingMXHelo = host(o.str(m["receiving-mx-helo"]))
	fd.AdditionalInformation = o.str(m["additional-information"])
	fd.FailureReasonCode = o.str(m["failure-reason-code"])
	fd.FailedSessions = o.count(m, "failed-session-count", false)
	return fd
}

// comparable says whether an input is one the two decoders must agree on:
// valid UTF-8 JSON that encoding/json takes, no member sent twice in an
// object, and within the limits the decoder counts.
func comparable(data []byte) bool {
	if !utf8.Valid(data) || !json.Valid(data) || bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		return false
	}
	return !hasRepeatedMember(json.NewDecoder(bytes.NewReader(data)))
}

// hasRepeatedMember walks the document's tokens and reports whether an
// object names a member twice. The decoder keeps the first, encoding/json
// the last.
func hasRepeatedMember(dec *json.Decoder) bool {
	type frame struct {
		obj  bool
		keys map[string]bool
		key  bool // the next string is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &frame{obj: true, keys: map[string]bool{}, key: true})
				continue
			case '[':
				stack = append(stack, &frame{})
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.obj && top.key {
				if top.keys[t] {
					return true
				}
				top.keys[t] = true
				top.key = false
				continue
			}
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].key = true
		}
	}
}

// agreeWithOracle fails t when the decoder and the oracle disagree on data.
func agreeWithOracle(t *testing.T, p *parse.Parser, data []byte) {
	t.Helper()
	if !comparable(data) {
		return
	}
	got, err := p.ParseReport(data)
	want, ok := oracleDecode(data)
	switch {
	case err == nil && !ok:
		t.Fatalf("accepted what the oracle refuses: %+v", got)
	case err != nil && ok:
		if errors.Is(err, parse.ErrTooLarge) {
			return // a limit the oracle does not count
		}
		t.Fatalf("refused what the oracle accepts (%v): %+v", err, want)
	case err == nil:
		g := *got
		g.Warnings = nil
		if !reflect.DeepEqual(normalized(&g), normalized(want)) {
			t.Fatalf("reports differ:\ndecoder %+v\noracle  %+v", normalized(&g), normalized(want))
		}
	}
}

// normalized makes nil and empty lists alike, which the two build
// differently and mean the same.
func normalized(r *parse.Report) parse.Report {
	out := *r
	out.Warnings = nil
	out.Policies = slices.Clone(r.Policies)
	if len(out.Policies) == 0 {
		out.Policies = nil
	}
	for i := range out.Policies {
		p := &out.Policies[i]
		if len(p.String) == 0 {
			p.String = nil
		}
		if len(p.MXHosts) == 0 {
			p.MXHosts = nil
		}
		if len(p.FailureDetails) == 0 {
			p.FailureDetails = nil
		}
	}
	return out
}

// Every report fixture decodes to the same report both ways.
func TestDecoderAgreesWithOracle(t *testing.T) {
	p := parse.New(parse.Limits{})
	var files []string
	for _, pat := range []string{"../testdata/quirks/*.json", "../testdata/bench/*.json", "../testdata/mail/*.json", corpusDir + "/*.json"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("fixtures: %q", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			if !comparable(data) {
				t.Skip("not comparable")
			}
			if _, ok := oracleDecode(data); !ok {
				t.Fatalf("the oracle refuses a fixture")
			}
			agreeWithOracle(t, p, data)
		})
	}

}

// FuzzDecodeOracle compares the two decoders on whatever encoding/json
// takes.
func FuzzDecodeOracle(f *testing.F) {
	addSeeds(f, "../testdata/quirks/*.json", "../testdata/bench/*.json", corpusDir+"/*.json")
	p := parse.New(parse.Limits{MaxReport: 1 << 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		agreeWithOracle(t, p, data)
	})
}
