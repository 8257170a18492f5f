package parse

import (
	"strings"
	"time"
)

// Report is one TLS report (RFC 8460 section 4) after normalisation: names
// lower-cased without a trailing dot, times in UTC, IP addresses in canonical
// form, counts as int64.
type Report struct {
	OrganizationName string
	DateRange        DateRange
	// ContactInfo is empty when the sender left it out or sent null.
	ContactInfo string
	ReportID    string
	Policies    []Policy
	// Warnings describe what was odd but not fatal: a missing optional field,
	// an unknown result type, failure details that do not add up to the
	// summary. The report is kept as the sender sent it.
	Warnings []string
}

// DateRange is the period a report covers (RFC 8460 section 4.4).
type DateRange struct {
	Start time.Time
	End   time.Time
}

// Policy is one entry of a report's "policies" array: the policy a sender
// applied to a domain and what happened to the sessions under it.
type Policy struct {
	// Type is "sts", "tlsa" or "no-policy-found"; another value is kept verbatim.
	Type string
	// String holds the lines of the applied policy (policy-string), empty when
	// the sender left them out.
	String []string
	// Domain is the policy-domain, normalised.
	Domain string
	// MXHosts are the mx-host patterns, normalised.
	MXHosts            []string
	SuccessfulSessions int64
	FailedSessions     int64
	FailureDetails     []FailureDetail
}

// FailureDetail is one entry of a policy's "failure-details" array
// (RFC 8460 section 4.3). Optional fields the sender left out are empty.
type FailureDetail struct {
	// ResultType is kept verbatim when it is not one of the registered types.
	ResultType            string
	SendingMTAIP          string
	ReceivingMXHostname   string
	ReceivingMXHelo       string
	ReceivingIP           string
	FailedSessions        int64
	AdditionalInformation string
	FailureReasonCode     string
}

// Policy types (RFC 8460 section 4.3).
const (
	PolicyTypeSTS           = "sts"
	PolicyTypeTLSA          = "tlsa"
	PolicyTypeNoPolicyFound = "no-policy-found"
)

// ResultTypes are the registered STARTTLS validation result types (IANA
// "STARTTLS Validation Result Types", RFC 8460 section 4.3), by group. The
// registry can grow: an unknown type is kept as it came, never dropped.
var ResultTypes = map[string]ResultGroup{
	"starttls-not-supported":    GroupNegotiation,
	"certificate-host-mismatch": GroupNegotiation,
	"certificate-expired":       GroupNegotiation,
	"certificate-not-trusted":   GroupNegotiation,
	"validation-failure":        GroupNegotiation,
	"tlsa-invalid":              GroupDANE,
	"dnssec-invalid":            GroupDANE,
	"dane-required":             GroupDANE,
	"sts-policy-fetch-error":    GroupMTASTS,
	"sts-policy-invalid":        GroupMTASTS,
	"sts-webpki-invalid":        GroupMTASTS,
}

// canonicalResultType maps each registered type to one shared string, so
// decoding many reports does not keep a copy of it per failure detail.
var canonicalResultType = func() map[string]string {
	m := make(map[string]string, len(ResultTypes))
	for t := range ResultTypes {
		m[t] = t
	}
	return m
}()

// ResultGroup is the family a result type belongs to.
type ResultGroup string

// Result type groups.
const (
	GroupNegotiation ResultGroup = "negotiation"
	GroupDANE        ResultGroup = "dane"
	GroupMTASTS      ResultGroup = "mta-sts"
	GroupUnknown     ResultGroup = "unknown"
)

// GroupOf returns the group of a result type, GroupUnknown for one not
// registered.
func GroupOf(resultType string) ResultGroup {
	if g, ok := ResultTypes[resultType]; ok {
		return g
	}
	return GroupUnknown
}

// Mode is the "mode:" of an sts policy's lines (RFC 8461 section 3.2),
// lower-cased: "enforce", "testing" or "none"; empty when the lines hold
// none (Microsoft and Mail.ru send no lines) or the policy is not sts.
func (p *Policy) Mode() string {
	if p.Type != PolicyTypeSTS {
		return ""
	}
	for _, l := range p.String {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), "mode") {
			return strings.ToLower(strings.TrimSpace(v))
		}
	}
	return ""
}
