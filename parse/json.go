package parse

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"
)

// decodeJSON turns one JSON document into a Report in a single pass over
// its bytes. It refuses with a *FieldError what cannot be counted or
// attributed and warns about the rest; a syntax error anywhere refuses the
// document, whatever else was found before it.
func decodeJSON(data []byte, lim Limits) (*Report, error) {
	// RFC 8460 section 4 says UTF-8; a BOM is tolerated, anything else is not.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, fieldErr("", "not valid UTF-8 (RFC 8460 section 4 requires UTF-8 JSON)")
	}
	b := new(block)
	d := decoder{
		lim: lim, pol: -1, detail: -1,
		s:     scanner{data: data, maxDepth: lim.MaxDepth},
		arena: make([]byte, 0, len(data)/2+64),
		block: b, lists: b.lists[:0], details: b.details[:0],
	}
	r := d.report()
	d.s.end()
	if d.s.err != nil {
		return nil, d.s.err
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// block is a report with room for its usual parts, allocated at once:
// most reports have one or two policies, a few policy lines and MX
// patterns, and a few failure details. Parts that outgrow their room are
// allocated apart.
type block struct {
	r       Report
	pols    [2]Policy
	lists   [8]string
	details [4]FailureDetail
}

// decoder reads a report from its scanner, keeping the first error and the
// warnings. Fields are taken in the order they come; a field sent twice
// counts as first sent, the repeat is only checked for syntax. What is
// missing is noticed at the end of the object that should have held it.
type decoder struct {
	s        scanner
	lim      Limits
	err      *FieldError
	warnings []string
	// pol and detail locate the field being read: the index into policies
	// and into its failure-details, -1 outside them. Paths are built from
	// them only when an error or warning needs one.
	pol, detail int
	// arena holds the bytes of the report's strings: one allocation for
	// all of them instead of one each. Bytes once written are never
	// changed, so strings may point into it.
	arena []byte
	// lists and details hold the report's string lists and failure
	// details, each list a capped slice of one of them: they start as the
	// block's room, a slice is grown while a list is read, and a list
	// outgrowing it moves whole into the grown one, which later lists
	// share.
	lists   []string
	details []FailureDetail
	block   *block
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

// first marks bit in seen and reports whether the member just named is the
// first with its name in its object; a repeat's value is skipped.
func (d *decoder) first(seen *uint16, bit uint16) bool {
	if *seen&bit != 0 {
		d.s.skip()
		return false
	}
	*seen |= bit
	return true
}

// object starts reading an object for field, refusing a value of another
// kind. It reports whether there is an object to read.
func (d *decoder) object(field string) bool {
	switch k := d.s.kind(); k {
	case kindObject:
		return d.s.enter()
	case kindInvalid:
	default:
		d.fail(field, "not an object but %s", k)
		d.s.skip()
	}
	return false
}

// Bits of each object's members, to tell the missing and the repeated.
const (
	mOrganization = 1 << iota
	mReportID
	mContact
	mDateRange
	mPolicies
)

const (
	mStart = 1 << iota
	mEnd
)

const (
	mPolicy = 1 << iota
	mSummary
	mDetails
)

const (
	mType = 1 << iota
	mDomain
	mString
	mMX
)

const (
	mSuccessful = 1 << iota
	mFailed
)

const (
	mResult = 1 << iota
	mSendingIP
	mReceivingIP
	mHostname
	mHelo
	mInfo
	mCode
	mCount
)

func (d *decoder) report() *Report {
	r := &d.block.r
	if !d.object("") {
		return r
	}
	var seen uint16
	contactNull := false
	for n := 0; d.s.more('}', n); n++ {
		switch string(d.s.key()) {
		case "organization-name":
			if d.first(&seen, mOrganization) {
				r.OrganizationName = d.requiredString("organization-name")
			}
		case "report-id":
			if d.first(&seen, mReportID) {
				r.ReportID = d.requiredString("report-id")
			}
		case "contact-info":
			if d.first(&seen, mContact) {
				k := d.s.kind()
				if contactNull = k == kindNull; contactNull {
					d.s.literal("null")
				} else {
					r.ContactInfo = d.str(k, "contact-info")
				}
			}
		case "date-range":
			if d.first(&seen, mDateRange) {
				r.DateRange = d.dateRange()
			}
		case "policies":
			if d.first(&seen, mPolicies) {
				r.Policies = d.policies()
			}
		default:
			d.s.skip()
		}
	}
	if seen&mOrganization == 0 {
		d.fail("organization-name", "missing")
	}
	if seen&mReportID == 0 {
		d.fail("report-id", "missing")
	}
	if seen&mContact == 0 || contactNull {
		// QUIRK: small senders send "contact-info": null or leave it out,
		// though RFC 8460 section 4.4 requires it. Nothing depends on it.
		d.warn("contact-info", "missing")
	}
	if seen&mDateRange == 0 {
		d.fail("date-range", "missing")
	}
	if seen&mPolicies == 0 {
		d.fail("policies", "missing")
	}
	r.Warnings = d.warnings
	return r
}

func (d *decoder) dateRange() DateRange {
	var dr DateRange
	if !d.object("date-range") {
		return dr
	}
	var seen uint16
	for n := 0; d.s.more('}', n); n++ {
		switch string(d.s.key()) {
		case "start-datetime":
			if d.first(&seen, mStart) {
				dr.Start = d.time("date-range.start-datetime")
			}
		case "end-datetime":
			if d.first(&seen, mEnd) {
				dr.End = d.time("date-range.end-datetime")
			}
		default:
			d.s.skip()
		}
	}
	if seen&mStart == 0 {
		d.fail("date-range.start-datetime", "missing")
	}
	if seen&mEnd == 0 {
		d.fail("date-range.end-datetime", "missing")
	}
	if d.err == nil && dr.End.Before(dr.Start) {
		d.fail("date-range", "end-datetime %s is before start-datetime %s",
			dr.End.Format(time.RFC3339), dr.Start.Format(time.RFC3339))
	}
	return dr
}

func (d *decoder) policies() []Policy {
	switch k := d.s.kind(); k {
	case kindArray:
	case kindInvalid:
		return nil
	default:
		d.fail("policies", "not an array but %s", k)
		d.s.skip()
		return nil
	}
	if !d.s.enter() {
		return nil
	}
	pols := d.block.pols[:0]
	n := 0
	for ; d.s.more(']', n); n++ {
		if n >= d.lim.MaxPolicies || d.err != nil {
			d.s.skip() // only counted: nothing more is kept
			continue
		}
		d.pol = n
		pols = append(pols, d.policy())
		d.pol = -1
	}
	if n > d.lim.MaxPolicies {
		d.fail("policies", "%d policies exceed the limit of %d", n, d.lim.MaxPolicies)
	}
	if n == 0 {
		d.warn("policies", "empty: the report covers no policy")
		return []Policy{}
	}
	return pols[:len(pols):len(pols)]
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

func (d *decoder) time(field string) time.Time {
	s := d.requiredString(field)
	if s == "" {
		return time.Time{}
	}
	for i, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if i == 1 || i == 3 {
				d.warn(field, "no time zone in %q, read as UTC", s)
			}
			if t.Before(time.Unix(0, 0)) {
				// Day numbers are counted from 1970; no report is older.
				d.fail(field, "%q is before 1970: not the date of a report", s)
				return time.Time{}
			}
			return t.UTC()
		}
	}
	d.fail(field, "%q is not an RFC 3339 date-time", s)
	return time.Time{}
}

func (d *decoder) policy() Policy {
	var p Policy
	if !d.object("") {
		return p
	}
	var seen uint16
	var detailSum int64
	for n := 0; d.s.more('}', n); n++ {
		switch string(d.s.key()) {
		case "policy":
			if d.first(&seen, mPolicy) {
				d.policyFields(&p)
			}
		case "summary":
			if d.first(&seen, mSummary) {
				d.summary(&p)
			}
		case "failure-details":
			if d.first(&seen, mDetails) {
				p.FailureDetails, detailSum = d.failureDetails()
			}
		default:
			d.s.skip()
		}
	}
	if seen&mPolicy == 0 {
		d.fail("policy", "missing")
	}
	if seen&mSummary == 0 {
		d.fail("summary", "missing")
	}
	if d.err == nil && detailSum > p.FailedSessions {
		// QUIRK: failure details that add up to more than the summary's
		// total-failure-session-count are normal for the Postfix TLSRPT
		// reporter and mox, and seen from Mail.ru: a session that failed on
		// one MX and then succeeded on another adds a detail but counts as
		// a success, and one that failed on two MX hosts adds two details
		// (RFC 8460 section 4.3 counts sessions, not attempts). Both
		// figures are kept as sent; the difference is noted, not "fixed".
		d.warn("failure-details", "failed-session-count adds up to %d, more than total-failure-session-count %d: "+
			"a session that failed on one MX and then succeeded on another adds a detail but counts as a success, "+
			"and one that failed on several MX hosts adds a detail for each", detailSum, p.FailedSessions)
	}
	return p
}

// policyFields reads a policy's "policy" object into p.
func (d *decoder) policyFields(p *Policy) {
	if !d.object("policy") {
		return
	}
	var seen uint16
	for n := 0; d.s.more('}', n); n++ {
		switch string(d.s.key()) {
		case "policy-type":
			if d.first(&seen, mType) {
				p.Type = strings.ToLower(d.optionalString("policy.policy-type"))
			}
		case "policy-domain":
			if d.first(&seen, mDomain) {
				p.Domain = normalizeHost(d.requiredString("policy.policy-domain"))
			}
		case "policy-string":
			if d.first(&seen, mString) {
				p.String = d.policyString("policy.policy-string")
			}
		case "mx-host":
			if d.first(&seen, mMX) {
				p.MXHosts = d.mxHosts("policy.mx-host")
			}
		default:
			d.s.skip()
		}
	}
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
	if seen&mDomain == 0 {
		d.fail("policy.policy-domain", "missing")
	}
}

// summary reads a policy's "summary" object into p.
func (d *decoder) summary(p *Policy) {
	if !d.object("summary") {
		return
	}
	var seen uint16
	for n := 0; d.s.more('}', n); n++ {
		switch string(d.s.key()) {
		case "total-successful-session-count":
			if d.first(&seen, mSuccessful) {
				p.SuccessfulSessions = d.count("summary.total-successful-session-count")
			}
		case "total-failure-session-count":
			if d.first(&seen, mFailed) {
				p.FailedSessions = d.count("summary.total-failure-session-count")
			}
		default:
			d.s.skip()
		}
	}
	if seen&mSuccessful == 0 {
		d.fail("summary.total-successful-session-count", "missing")
	}
	if seen&mFailed == 0 {
		d.fail("summary.total-failure-session-count", "missing")
	}
}

// failureDetails reads a policy's "failure-details" and adds up their
// failed-session-count (at most math.MaxInt64).
func (d *decoder) failureDetails() ([]FailureDetail, int64) {
	switch k := d.s.kind(); k {
	case kindArray:
	case kindNull, kindInvalid:
		d.s.skip()
		return nil, 0
	default:
		d.fail("failure-details", "not an array but %s", k)
		d.s.skip()
		return nil, 0
	}
	if !d.s.enter() {
		return nil, 0
	}
	start := len(d.details)
	var sum int64
	for n := 0; d.s.more(']', n); n++ {
		if len(d.details) >= d.lim.MaxFailureDetails {
			d.fail("failure-details", "more than the limit of %d failure details in the report", d.lim.MaxFailureDetails)
		}
		if d.err != nil {
			d.s.skip()
			continue
		}
		d.detail = n
		fd := d.failureDetail()
		d.detail = -1
		if sum += fd.FailedSessions; sum < 0 {
			sum = math.MaxInt64
		}
		d.details = append(d.details, fd)
	}
	return d.details[start:len(d.details):len(d.details)], sum
}

func (d *decoder) failureDetail() FailureDetail {
	var fd FailureDetail
	if !d.object("") {
		return fd
	}
	var seen uint16
	for n := 0; d.s.more('}', n); n++ {
		switch string(d.s.key()) {
		case "result-type":
			if d.first(&seen, mResult) {
				fd.ResultType = d.resultType()
			}
		// QUIRK: Microsoft and Mail.ru leave out sending-mta-ip and
		// receiving-mx-hostname; they are optional in RFC 8460 section 4.3.
		case "sending-mta-ip":
			if d.first(&seen, mSendingIP) {
				fd.SendingMTAIP = d.ip("sending-mta-ip")
			}
		case "receiving-ip":
			if d.first(&seen, mReceivingIP) {
				fd.ReceivingIP = d.ip("receiving-ip")
			}
		case "receiving-mx-hostname":
			if d.first(&seen, mHostname) {
				fd.ReceivingMXHostname = normalizeHost(d.optionalString("receiving-mx-hostname"))
			}
		case "receiving-mx-helo":
			if d.first(&seen, mHelo) {
				fd.ReceivingMXHelo = normalizeHost(d.optionalString("receiving-mx-helo"))
			}
		case "additional-information":
			if d.first(&seen, mInfo) {
				fd.AdditionalInformation = d.optionalString("additional-information")
			}
		case "failure-reason-code":
			if d.first(&seen, mCode) {
				fd.FailureReasonCode = d.optionalString("failure-reason-code")
			}
		case "failed-session-count":
			if d.first(&seen, mCount) {
				fd.FailedSessions = d.count("failed-session-count")
			}
		default:
			d.s.skip()
		}
	}
	if seen&mResult == 0 {
		d.warn("result-type", "missing")
	}
	if seen&mCount == 0 {
		d.warn("failed-session-count", "missing, counted as 0")
	}
	return fd
}

// resultType reads a result-type: a registered one as its shared string, an
// unknown one as sent.
func (d *decoder) resultType() string {
	t := d.optionalString("result-type")
	if c, ok := canonicalResultType[t]; ok {
		return c
	}
	switch lower := strings.ToLower(t); {
	case t == "":
		d.warn("result-type", "missing")
	case GroupOf(lower) != GroupUnknown:
		return canonicalResultType[lower]
	default:
		d.warn("result-type", "unregistered result type %q kept as sent", t)
	}
	return t
}

// count reads a non-negative integer. A negative, fractional, overflowing or
// non-numeric value refuses the report: it cannot be counted.
func (d *decoder) count(field string) int64 {
	switch k := d.s.kind(); k {
	case kindNumber:
	case kindInvalid:
		return 0
	default:
		d.fail(field, "not a number but %s", k)
		d.s.skip()
		return 0
	}
	text := d.s.number()
	if text == nil {
		return 0
	}
	n, ok := parseInt64(text)
	if !ok {
		d.fail(field, "%s is not an integer that fits in 64 bits", truncate(string(text), 40))
		return 0
	}
	if n < 0 {
		d.fail(field, "negative count %d", n)
		return 0
	}
	return n
}

// parseInt64 reads a number's text as an int64; it refuses a fraction, an
// exponent and what does not fit.
func parseInt64(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' || n > (1<<63)/10 {
			return 0, false
		}
		if n = n*10 + uint64(c-'0'); n > 1<<63 {
			return 0, false
		}
	}
	if neg {
		return -int64(n), true // -(1<<63) wraps to math.MinInt64 as it should
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

func (d *decoder) requiredString(field string) string {
	k := d.s.kind()
	if k == kindNull {
		d.s.literal("null")
		d.fail(field, "missing")
		return ""
	}
	s := d.str(k, field)
	if s == "" && d.err == nil {
		d.fail(field, "empty")
	}
	return s
}

func (d *decoder) optionalString(field string) string {
	k := d.s.kind()
	if k == kindNull {
		d.s.literal("null")
		return ""
	}
	return d.str(k, field)
}

// str reads a string field of kind k, the kind of the value that follows.
// A number where a string belongs is kept as its text with a warning; an
// object or array is refused.
func (d *decoder) str(k kind, field string) string {
	switch k {
	case kindString:
		b := d.s.str()
		if !printableEnds(b) {
			b = bytes.TrimSpace(b)
		}
		return d.text(b)
	case kindNumber:
		d.warn(field, "a %s where a string belongs, kept as text", k)
		return d.text(d.s.number())
	case kindTrue:
		d.warn(field, "a %s where a string belongs, kept as text", k)
		d.s.literal("true")
		return "true"
	case kindFalse:
		d.warn(field, "a %s where a string belongs, kept as text", k)
		d.s.literal("false")
		return "false"
	case kindInvalid:
		return ""
	default:
		d.fail(field, "not a string but %s", k)
		d.s.skip()
		return ""
	}
}

func (d *decoder) ip(field string) string {
	s := d.optionalString(field)
	if s == "" || isCanonicalIPv4(s) {
		return s
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

// isCanonicalIPv4 reports whether s is a dotted quad as netip.ParseAddr
// takes it (four decimal octets, no leading zeros), which is also how it
// would format it: most addresses in reports are, and are checked here
// without parsing and formatting them.
func isCanonicalIPv4(s string) bool {
	dots, n, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if digits == 1 && n == 0 { // a leading zero
				return false
			}
			n = n*10 + int(c-'0')
			if digits++; n > 255 {
				return false
			}
		case c == '.' && digits > 0 && dots < 3:
			dots, n, digits = dots+1, 0, 0
		default:
			return false
		}
	}
	return dots == 3 && digits > 0
}

// stringList reads an array of strings, or a single string where an array
// belongs. Null is no strings; another kind refuses the report.
func (d *decoder) stringList(field string) []string {
	start := len(d.lists)
	switch k := d.s.kind(); k {
	case kindNull:
		d.s.literal("null")
	case kindString:
		d.lists = append(d.lists, d.str(k, field))
	case kindArray:
		if !d.s.enter() {
			break
		}
		for n := 0; d.s.more(']', n); n++ {
			d.lists = append(d.lists, d.str(d.s.kind(), field))
		}
	case kindInvalid:
	default:
		d.fail(field, "not an array but %s", k)
		d.s.skip()
	}
	if len(d.lists) == start {
		return nil
	}
	return d.lists[start:len(d.lists):len(d.lists)]
}

// policyString reads policy-string, an array of the policy's lines.
func (d *decoder) policyString(field string) []string {
	// QUIRK: Microsoft and Mail.ru leave policy-string out.
	single := d.s.kind() == kindString
	lines := d.stringList(field)
	if single {
		// QUIRK: a single string instead of an array: split it into lines.
		lines = splitLines(lines[0])
	}
	if len(lines) == 1 && strings.HasPrefix(lines[0], "[") {
		// QUIRK: Microsoft sends a tlsa policy-string as one string holding a
		// JSON-encoded array of TLSA records.
		if expanded, ok := d.stringArray(lines[0]); ok {
			return expanded
		}
	}
	return lines
}

// stringArray decodes s as a JSON array of strings, if it is one.
func (d *decoder) stringArray(s string) ([]string, bool) {
	sc := scanner{data: unsafe.Slice(unsafe.StringData(s), len(s)), maxDepth: 1}
	if sc.kind() != kindArray || !sc.enter() {
		return nil, false
	}
	out := []string{}
	for n := 0; sc.more(']', n); n++ {
		if sc.kind() != kindString {
			return nil, false
		}
		out = append(out, d.text(sc.str()))
	}
	sc.end()
	return out, sc.err == nil
}

// mxHosts reads mx-host, an array of MX patterns.
func (d *decoder) mxHosts(field string) []string {
	// QUIRK: Microsoft and Mail.ru leave mx-host out. The RFC 8460 section
	// 4.4 example itself, before errata 6241, gives mx-host as a single
	// string; senders copied it.
	list := d.stringList(field)
	hosts := list[:0] // filtered in place: the list is the decoder's
	for _, s := range list {
		// QUIRK: some senders copy policy lines ("mx: mx.example.com") into
		// mx-host.
		if rest, ok := strings.CutPrefix(s, "mx:"); ok {
			s = rest
		}
		if h := normalizeHost(s); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	return hosts
}

// printableEnds reports whether s starts and ends with printable ASCII,
// which TrimSpace would leave as it is: the usual case, checked without
// calling it.
func printableEnds[T string | []byte](s T) bool {
	n := len(s)
	return n > 0 && s[0]-'!' <= '~'-'!' && s[n-1]-'!' <= '~'-'!'
}

// normalizeHost lower-cases a host name and strips the trailing dot.
func normalizeHost(s string) string {
	if !printableEnds(s) {
		s = strings.TrimSpace(s)
	}
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
