package query

import (
	"encoding/hex"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

// ReportJSON is a report in a list of reports (tlsrpt reports --format
// json, the API's reports).
type ReportJSON struct {
	ID                 int64     `json:"id"`
	OrganizationName   string    `json:"organization_name"`
	ReportID           string    `json:"report_id"`
	Start              time.Time `json:"start"`
	End                time.Time `json:"end"`
	Domains            []string  `json:"domains"`
	SuccessfulSessions int64     `json:"successful_sessions"`
	FailedSessions     int64     `json:"failed_sessions"`
	Warnings           int       `json:"warnings"`
	// Source is how the report came: import, https, imap.
	Source string `json:"source"`
	// Authenticated is set for a report in mail with a DKIM signature of
	// the reporter (RFC 8460 section 5.3); DKIMDomain is the signing
	// domain ("" when none verified).
	Authenticated bool   `json:"authenticated"`
	DKIMDomain    string `json:"dkim_domain"`
}

// ReportOf converts a report's line for JSON output.
func ReportOf(r store.ReportInfo) ReportJSON {
	j := ReportJSON{ID: r.ID, OrganizationName: r.OrganizationName, ReportID: r.ReportID, Start: r.Start, End: r.End,
		Domains: nonNil(r.Domains), SuccessfulSessions: r.SuccessfulSessions, FailedSessions: r.FailedSessions,
		Warnings: r.Warnings, Source: r.Source}
	if r.Auth != nil && r.Auth.DKIM == "pass" {
		j.Authenticated, j.DKIMDomain = r.Auth.Authenticated, r.Auth.Domain
	}
	return j
}

// AuthJSON is the DKIM verification of a mailed input.
type AuthJSON struct {
	DKIM          string `json:"dkim"` // pass, fail, none, temperror
	Domain        string `json:"domain"`
	Authenticated bool   `json:"authenticated"`
	Reason        string `json:"reason"`
}

// ReportShowJSON is one report in full (reports show --format json, the
// API's reports/{id}): snake_case like every other JSON
// output, digests in hex, lists never null.
type ReportShowJSON struct {
	ID               int64        `json:"id"`
	OrganizationName string       `json:"organization_name"`
	ReportID         string       `json:"report_id"`
	ContactInfo      string       `json:"contact_info"`
	Start            time.Time    `json:"start"`
	End              time.Time    `json:"end"`
	Warnings         []string     `json:"warnings"`
	Input            InputJSON    `json:"input"`
	Policies         []PolicyJSON `json:"policies"`
}

// InputJSON is a recorded input: what arrived, from where, and what became
// of it.
type InputJSON struct {
	ID         int64     `json:"id"`
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
	Source     string    `json:"source"`
	Origin     string    `json:"origin"`
	ReceivedAt time.Time `json:"received_at"`
	Outcome    string    `json:"outcome"`
	Error      string    `json:"error"`
	// Auth is the DKIM verification made when it arrived; its dkim is ""
	// when none was (no mail, HTTPS, --dkim off, or before 2026-12).
	Auth AuthJSON `json:"authentication"`
}

// PolicyJSON is one policy of a report in full.
type PolicyJSON struct {
	PolicyType         string       `json:"policy_type"`
	PolicyDomain       string       `json:"policy_domain"`
	PolicyString       []string     `json:"policy_string"`
	MXHost             []string     `json:"mx_host"`
	SuccessfulSessions int64        `json:"successful_sessions"`
	FailedSessions     int64        `json:"failed_sessions"`
	FailureDetails     []DetailJSON `json:"failure_details"`
}

// DetailJSON is one failure detail as the sender gave it.
type DetailJSON struct {
	ResultType            string `json:"result_type"`
	SendingMTAIP          string `json:"sending_mta_ip"`
	ReceivingMXHostname   string `json:"receiving_mx_hostname"`
	ReceivingMXHelo       string `json:"receiving_mx_helo"`
	ReceivingIP           string `json:"receiving_ip"`
	FailedSessions        int64  `json:"failed_sessions"`
	AdditionalInformation string `json:"additional_information"`
	FailureReasonCode     string `json:"failure_reason_code"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// StoredReportOf converts a stored report for JSON output.
func StoredReportOf(sr *store.StoredReport) ReportShowJSON {
	r := sr.Report
	out := ReportShowJSON{ID: sr.ID, OrganizationName: r.OrganizationName, ReportID: r.ReportID, ContactInfo: r.ContactInfo,
		Start: r.DateRange.Start, End: r.DateRange.End, Warnings: nonNil(r.Warnings),
		Input:    InputOf(sr.Input),
		Policies: []PolicyJSON{}}
	for _, p := range r.Policies {
		pj := PolicyJSON{PolicyType: p.Type, PolicyDomain: p.Domain, PolicyString: nonNil(p.String), MXHost: nonNil(p.MXHosts),
			SuccessfulSessions: p.SuccessfulSessions, FailedSessions: p.FailedSessions, FailureDetails: []DetailJSON{}}
		for _, d := range p.FailureDetails {
			pj.FailureDetails = append(pj.FailureDetails, DetailJSON{d.ResultType, d.SendingMTAIP, d.ReceivingMXHostname,
				d.ReceivingMXHelo, d.ReceivingIP, d.FailedSessions, d.AdditionalInformation, d.FailureReasonCode})
		}
		out.Policies = append(out.Policies, pj)
	}
	return out
}

// InputOf converts a recorded input for JSON output.
func InputOf(in store.InputInfo) InputJSON {
	j := InputJSON{ID: in.ID, SHA256: hex.EncodeToString(in.SHA256), Size: in.Size, Source: in.Source,
		Origin: in.Origin, ReceivedAt: in.ReceivedAt, Outcome: string(in.Outcome), Error: in.Error}
	j.Auth = AuthJSON{Reason: "not verified: no mail, or by HTTPS, --dkim off, or before 2026-12"}
	if a := in.Auth; a != nil {
		j.Auth = AuthJSON{a.DKIM, a.Domain, a.Authenticated, a.Reason}
	}
	return j
}
