package store

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/tlsrpt/tlsrpt/parse"
)

// A report is known by its sender's (organization-name, report-id) (RFC
// 8460 section 4.1) and by what it says, its Fingerprint. A report arriving
// again with the same key and fingerprint is a re-delivery (an IMAP re-run,
// an HTTPS retry, the same report by mail and by HTTPS) and is stored once.
//
// QUIRK: the Postfix TLSRPT reporter builds report-id from a counter kept
// per installation ("<day>T00:00:00Z_idx<N>_<domain>"), so two
// installations of one organisation, or one rebuilt, send different
// reports under the same key. A report whose key is stored with another
// fingerprint is another report: it is stored and counted, and both carry
// a warning (ReusedIDWarning).

// Fingerprint digests what a report says: its date range and its policies
// with their lines, MX patterns, summaries and failure details. It does not
// depend on how the report was encoded (whitespace, member order,
// compression, mail or HTTPS) nor on the order of its policies or failure
// details, and leaves out the organisation, report-id and contact-info.
func Fingerprint(r *parse.Report) [32]byte {
	h := sha256.New()
	var buf []byte
	num := func(n int64) { buf = binary.AppendVarint(buf, n) }
	str := func(s string) { buf = binary.AppendUvarint(buf, uint64(len(s))); buf = append(buf, s...) }
	strs := func(ss []string) {
		num(int64(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	policies := make([][]byte, len(r.Policies))
	for i := range r.Policies {
		p := &r.Policies[i]
		buf = buf[:0]
		str(p.Type)
		str(p.Domain)
		strs(p.String)
		strs(p.MXHosts)
		num(p.SuccessfulSessions)
		num(p.FailedSessions)
		details := slices.Clone(p.FailureDetails)
		slices.SortFunc(details, compareDetails)
		num(int64(len(details)))
		for _, d := range details {
			str(d.ResultType)
			str(d.SendingMTAIP)
			str(d.ReceivingMXHostname)
			str(d.ReceivingMXHelo)
			str(d.ReceivingIP)
			num(d.FailedSessions)
			str(d.AdditionalInformation)
			str(d.FailureReasonCode)
		}
		policies[i] = slices.Clone(buf)
	}
	slices.SortFunc(policies, func(a, b []byte) int { return cmp.Compare(string(a), string(b)) })
	buf = buf[:0]
	num(r.DateRange.Start.Unix())
	num(r.DateRange.End.Unix())
	num(int64(len(policies)))
	h.Write(buf)
	for _, p := range policies {
		buf = binary.AppendUvarint(buf[:0], uint64(len(p)))
		h.Write(buf)
		h.Write(p)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// ReusedIDWarning is the warning both reports carry when a report-id is
// reused with other figures: on the report stored later (later true) and
// on each stored before under that key.
func ReusedIDWarning(r *parse.Report, later bool) string {
	var b strings.Builder
	b.WriteString("report-id ")
	b.WriteString(quote(r.ReportID))
	if later {
		b.WriteString(" was used before by another report of ")
	} else {
		b.WriteString(" was used again by another report of ")
	}
	b.WriteString(quote(r.OrganizationName))
	b.WriteString(" with other figures: each is a report of its own, stored and counted (a sender that numbers reports per installation reuses ids)")
	return b.String()
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
