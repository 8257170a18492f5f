package parse

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson"
)

// jsonParsers reuse fastjson's parse buffers; a parser is not safe for
// concurrent use, so each decode takes one from the pool.
var jsonParsers fastjson.ParserPool

// decodeJSON turns one JSON document into a Report. It refuses with a
// *FieldError what cannot be counted or attributed and warns about the rest.
func decodeJSON(data []byte, lim Limits) (*Report, error) {
	// RFC 8460 section 4 says UTF-8; a BOM is tolerated, anything else is not.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, fieldErr("", "not valid UTF-8 (RFC 8460 section 4 requires UTF-8 JSON)")
	}
	p := jsonParsers.Get()
	defer jsonParsers.Put(p)
	v, err := p.ParseBytes(data)
	if err != nil {
		return nil, fieldErr("", "not JSON: %s", oneLine(err.Error()))
	}
	if v.Type() != fastjson.TypeObject {
		return nil, fieldErr("", "not a JSON object but %s", v.Type())
	}
	// Nesting deeper than MaxDepth needs more than MaxDepth opening
	// brackets; counting them is far cheaper than walking the tree, so only
	// documents with that many are walked.
	if bytes.Count(data, []byte("{"))+bytes.Count(data, []byte("[")) > lim.MaxDepth &&
		depth(v, lim.MaxDepth+1) > lim.MaxDepth {
		return nil, &LimitError{What: "JSON nesting depth", Limit: int64(lim.MaxDepth)}
	}
	d := decoder{lim: lim, pol: -1, detail: -1, arena: make([]byte, 0, len(data)/2+64)}
	r := d.report(v)
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// depth returns the nesting depth of v, counting no further than max.
func depth(v *fastjson.Value, max int) int {
	var inner int
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		o.Visit(func(_ []byte, c *fastjson.Value) {
			if inner < max {
				inner = max1(inner, depth(c, max-1))
			}
		})
	case fastjson.TypeArray:
		a, _ := v.Array()
		for _, c := range a {
			if inner >= max {
				break
			}
			inner = max1(inner, depth(c, max-1))
		}
	default:
		return 0
	}
	return inner + 1
}

func max1(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// decoder keeps the first error and the warnings of one report.
type decoder struct {
	lim      Limits
	err      *FieldError
	warnings []string
	details  int
	// pol and detail locate the field being read: the index into policies
	// and into its failure-details, -1 outside them. Paths are built from
	// them only when an error or warning needs one.
	pol, detail int
	// arena holds the bytes of the report's strings: one allocation for
	// all of them instead of one each. Bytes once written are never
	// changed, so strings may point into it.
	arena []byte
}

// text returns b as a string kept in the arena. The arena starts at half
// the document's size, more than a report's strings usually take (keys,
// punctuation and numbers are the rest); when they outgrow it, a new one
// is started and the old one stays with the strings that point into it.
func (d *decoder) text(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(d.arena)-len(d.arena) < len(b) {
		d.arena = make([]byte, 0, max(len(b), 256))
	}
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return unsafe.String(&d.arena[start], len(b))
}

// path names field (relative to the current policy or failure detail) by
// its full JSON path, as in "policies[1].failure-details[0].result-type".
func (d *decoder) path(field string) string {
	var b strings.Builder
	if d.pol >= 0 {
		fmt.Fprintf(&b, "policies[%d]", d.pol)
		if d.detail >= 0 {
			fmt.Fprintf(&b, ".failure-details[%d]", d.detail)
		}
		if field != "" {
			b.WriteByte('.')
		}
	}
	b.WriteString(field)
	return b.String()
}

func (d *decoder) fail(field, format string, args ...any) {
	if d.err == nil {
		d.err = fieldErr(d.path(field), format, args...)
	}
}

func (d *decoder) warn(field, format string, args ...any) {
	d.warnings = append(d.warnings, d.path(field)+": "+fmt.Sprintf(format, args...))
}

func (d *decoder) report(v *fastjson.Value) *Report {
	r := &Report{
		OrganizationName: d.requiredString(v, "organization-name", "organization-name"),
		ReportID:         d.requiredString(v, "report-id", "report-id"),
	}
	r.ContactInfo = d.optionalString(v, "contact-info", "contact-info")
	if v.Get("contact-info") == nil || v.Get("contact-info").Type() == fastjson.TypeNull {
		// QUIRK: small senders send "contact-info": null or leave it out,
		// though RFC 8460 section 4.4 requires it. Nothing depends on it.
		d.warn("contact-info", "missing")
	}
	r.DateRange = d.dateRange(v.Get("date-range"))

	pv := v.Get("policies")
	switch {
	case pv == nil:
		d.fail("policies", "missing")
	case pv.Type() != fastjson.TypeArray:
		d.fail("policies", "not an array but %s", pv.Type())
	default:
		pols, _ := pv.Array()
		if len(pols) > d.lim.MaxPolicies {
			d.fail("policies", "%d policies exceed the limit of %d", len(pols), d.lim.MaxPolicies)
			break
		}
		if len(pols) == 0 {
			d.warn("policies", "empty: the report covers no policy")
		}
		r.Policies = make([]Policy, 0, len(pols))
		for i, p := range pols {
			d.pol = i
			r.Policies = append(r.Policies, d.policy(p))
			if d.err != nil {
				break
			}
		}
		d.pol = -1
	}
	r.Warnings = d.warnings
	return r
}

func (d *decoder) dateRange(v *fastjson.Value) DateRange {
	if v == nil || v.Type() != fastjson.TypeObject {
		d.fail("date-range", "missing or not an object")
		return DateRange{}
	}
	dr := DateRange{
		Start: d.time(v, "start-datetime", "date-range.start-datetime"),
		End:   d.time(v, "end-datetime", "date-range.end-datetime"),
	}
	if d.err == nil && dr.End.Before(dr.Start) {
		d.fail("date-range", "end-datetime %s is before start-datetime %s",
			dr.End.Format(time.RFC3339), dr.Start.Format(time.RFC3339))
	}
	return dr
}

// timeLayouts are tried in order. RFC 8460 section 4.4 asks for RFC 3339
// date-times.
var timeLayouts = []string{
	time.RFC3339Nano,
	// QUIRK: Microsoft (2023) sends "2023-01-10T00:00:00" with no zone.
	// Reports are about UTC days, so a missing zone is read as UTC.
	"2006-01-02T15:04:05.999999999",
	// QUIRK: a space instead of the "T", as RFC 3339 section 5.6 allows.
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

func (d *decoder) time(obj *fastjson.Value, key, field string) time.Time {
	s := d.requiredString(obj, key, field)
	if s == "" {
		return time.Time{}
	}
	for i, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if i == 1 || i == 3 {
				d.warn(field, "no time zone in %q, read as UTC", s)
			}
			return t.UTC()
		}
	}
	d.fail(field, "%q is not an RFC 3339 date-time", s)
	return time.Time{}
}

func (d *decoder) policy(v *fastjson.Value) Policy {
	var p Policy
	if v.Type() != fastjson.TypeObject {
		d.fail("", "not an object but %s", v.Type())
		return p
	}
	pol := v.Get("policy")
	if pol == nil || pol.Type() != fastjson.TypeObject {
		d.fail("policy", "missing or not an object")
		return p
	}
	p.Type = strings.ToLower(d.optionalString(pol, "policy-type", "policy.policy-type"))
	switch p.Type {
	case PolicyTypeSTS:
		p.Type = PolicyTypeSTS // the constant, not a fresh copy per report
	case PolicyTypeTLSA:
		p.Type = PolicyTypeTLSA
	case PolicyTypeNoPolicyFound:
		p.Type = PolicyTypeNoPolicyFound
	case "":
		d.warn("policy.policy-type", "missing")
	default:
		d.warn("policy.policy-type", "unknown type %q kept as sent", p.Type)
	}
	p.Domain = normalizeHost(d.requiredString(pol, "policy-domain", "policy.policy-domain"))
	p.String = d.policyString(pol.Get("policy-string"), "policy.policy-string")
	p.MXHosts = d.mxHosts(pol.Get("mx-host"), "policy.mx-host")

	sum := v.Get("summary")
	if sum == nil || sum.Type() != fastjson.TypeObject {
		d.fail("summary", "missing or not an object")
		return p
	}
	p.SuccessfulSessions = d.count(sum, "total-successful-session-count", "summary.total-successful-session-count", true)
	p.FailedSessions = d.count(sum, "total-failure-session-count", "summary.total-failure-session-count", true)

	fds := v.Get("failure-details")
	if fds == nil || fds.Type() == fastjson.TypeNull {
		return p
	}
	if fds.Type() != fastjson.TypeArray {
		d.fail("failure-details", "not an array but %s", fds.Type())
		return p
	}
	arr, _ := fds.Array()
	d.details += len(arr)
	if d.details > d.lim.MaxFailureDetails {
		d.fail("failure-details", "more than the limit of %d failure details in the report", d.lim.MaxFailureDetails)
		return p
	}
	var detailSum int64
	p.FailureDetails = make([]FailureDetail, 0, len(arr))
	for i, fv := range arr {
		d.detail = i
		fd := d.failureDetail(fv)
		d.detail = -1
		if d.err != nil {
			return p
		}
		detailSum += fd.FailedSessions
		p.FailureDetails = append(p.FailureDetails, fd)
	}
	if detailSum > p.FailedSessions {
		// QUIRK: Mail.ru sends failure details that add up to more than the
		// summary's total-failure-session-count. Both figures are kept as
		// sent; the mismatch is flagged, not "fixed".
		d.warn("failure-details", "failed-session-count adds up to %d, more than total-failure-session-count %d",
			detailSum, p.FailedSessions)
	}
	return p
}

func (d *decoder) failureDetail(v *fastjson.Value) FailureDetail {
	var fd FailureDetail
	if v.Type() != fastjson.TypeObject {
		d.fail("", "not an object but %s", v.Type())
		return fd
	}
	fd.ResultType = d.optionalString(v, "result-type", "result-type")
	switch lower := strings.ToLower(fd.ResultType); {
	case fd.ResultType == "":
		d.warn("result-type", "missing")
	case GroupOf(lower) != GroupUnknown:
		fd.ResultType = canonicalResultType[lower]
	default:
		d.warn("result-type", "unregistered result type %q kept as sent", fd.ResultType)
	}
	// QUIRK: Microsoft and Mail.ru leave out sending-mta-ip and
	// receiving-mx-hostname; they are optional in RFC 8460 section 4.3.
	fd.SendingMTAIP = d.ip(v, "sending-mta-ip", "sending-mta-ip")
	fd.ReceivingIP = d.ip(v, "receiving-ip", "receiving-ip")
	fd.ReceivingMXHostname = normalizeHost(d.optionalString(v, "receiving-mx-hostname", "receiving-mx-hostname"))
	fd.ReceivingMXHelo = normalizeHost(d.optionalString(v, "receiving-mx-helo", "receiving-mx-helo"))
	fd.AdditionalInformation = d.optionalString(v, "additional-information", "additional-information")
	fd.FailureReasonCode = d.optionalString(v, "failure-reason-code", "failure-reason-code")
	if v.Get("failed-session-count") == nil {
		d.warn("failed-session-count", "missing, counted as 0")
	} else {
		fd.FailedSessions = d.count(v, "failed-session-count", "failed-session-count", false)
	}
	return fd
}

// count reads a non-negative integer. A negative, fractional, overflowing or
// non-numeric value refuses the report: it cannot be counted.
func (d *decoder) count(obj *fastjson.Value, key, field string, required bool) int64 {
	v := obj.Get(key)
	if v == nil {
		if required {
			d.fail(field, "missing")
		}
		return 0
	}
	if v.Type() != fastjson.TypeNumber {
		d.fail(field, "not a number but %s", v.Type())
		return 0
	}
	n, err := v.Int64()
	if err != nil {
		d.fail(field, "%s is not an integer that fits in 64 bits", truncate(v.String(), 40))
		return 0
	}
	if n < 0 {
		d.fail(field, "negative count %d", n)
		return 0
	}
	return n
}

func (d *decoder) requiredString(obj *fastjson.Value, key, field string) string {
	v := obj.Get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		d.fail(field, "missing")
		return ""
	}
	s := d.str(v, field)
	if s == "" && d.err == nil {
		d.fail(field, "empty")
	}
	return s
}

func (d *decoder) optionalString(obj *fastjson.Value, key, field string) string {
	v := obj.Get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		return ""
	}
	return d.str(v, field)
}

// str reads a string field. A number where a string belongs is kept as its
// text with a warning; an object or array is refused.
func (d *decoder) str(v *fastjson.Value, field string) string {
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return d.text(bytes.TrimSpace(b))
	case fastjson.TypeNumber, fastjson.TypeTrue, fastjson.TypeFalse:
		d.warn(field, "a %s where a string belongs, kept as text", v.Type())
		return v.String()
	default:
		d.fail(field, "not a string but %s", v.Type())
		return ""
	}
}

func (d *decoder) ip(obj *fastjson.Value, key, field string) string {
	s := d.optionalString(obj, key, field)
	if s == "" {
		return ""
	}
	bare := strings.Trim(s, "[]")
	a, err := netip.ParseAddr(bare)
	if err != nil {
		d.warn(field, "%q is not an IP address, kept as sent", s)
		return s
	}
	if a.Is4() && len(bare) == len(s) {
		return s // ParseAddr takes IPv4 only in its canonical form
	}
	var buf [64]byte
	if canon := a.Unmap().AppendTo(buf[:0]); string(canon) != s {
		return d.text(canon)
	}
	return s
}

// policyString reads policy-string, an array of the policy's lines.
func (d *decoder) policyString(v *fastjson.Value, field string) []string {
	if v == nil || v.Type() == fastjson.TypeNull {
		// QUIRK: Microsoft and Mail.ru leave policy-string out.
		return nil
	}
	var lines []string
	switch v.Type() {
	case fastjson.TypeString:
		// QUIRK: a single string instead of an array: split it into lines.
		lines = splitLines(d.str(v, field))
	case fastjson.TypeArray:
		arr, _ := v.Array()
		for _, e := range arr {
			lines = append(lines, d.str(e, field))
		}
	default:
		d.fail(field, "not an array but %s", v.Type())
		return nil
	}
	if len(lines) == 1 && strings.HasPrefix(lines[0], "[") {
		// QUIRK: Microsoft sends a tlsa policy-string as one string holding a
		// JSON-encoded array of TLSA records.
		if inner, err := fastjson.Parse(lines[0]); err == nil && inner.Type() == fastjson.TypeArray {
			arr, _ := inner.Array()
			expanded := make([]string, 0, len(arr))
			for _, e := range arr {
				b, err := e.StringBytes()
				if err != nil {
					return lines
				}
				expanded = append(expanded, string(b))
			}
			return expanded
		}
	}
	return lines
}

// mxHosts reads mx-host, an array of MX patterns.
func (d *decoder) mxHosts(v *fastjson.Value, field string) []string {
	if v == nil || v.Type() == fastjson.TypeNull {
		// QUIRK: Microsoft and Mail.ru leave mx-host out.
		return nil
	}
	var hosts []string
	add := func(s string) {
		// QUIRK: some senders copy policy lines ("mx: mx.example.com") into
		// mx-host.
		if rest, ok := strings.CutPrefix(s, "mx:"); ok {
			s = rest
		}
		if h := normalizeHost(s); h != "" {
			hosts = append(hosts, h)
		}
	}
	switch v.Type() {
	case fastjson.TypeString:
		// QUIRK: the RFC 8460 section 4.4 example itself, before errata 6241,
		// gives mx-host as a single string; senders copied it.
		add(d.str(v, field))
	case fastjson.TypeArray:
		arr, _ := v.Array()
		for _, e := range arr {
			add(d.str(e, field))
		}
	default:
		d.fail(field, "not an array but %s", v.Type())
	}
	return hosts
}

// normalizeHost lower-cases a host name and strips the trailing dot.
func normalizeHost(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, ".")
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
			return strings.ToLower(s)
		}
	}
	return s
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// oneLine makes a library's message fit on one line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return truncate(s, 200)
}
