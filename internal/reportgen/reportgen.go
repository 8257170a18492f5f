// Package reportgen makes synthetic TLS reports with a realistic mix, for
// benchmarks, load tests and demos: 1-2 policies (sometimes sts and tlsa for
// the same domain, as Microsoft sends), 0-5 failure details, many domains,
// MX hosts, sending organisations and IPs.
package reportgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// Options shape what is generated. Zero fields take the defaults beside them.
type Options struct {
	Domains int       // distinct policy domains, default 1,000
	Days    int       // days the reports spread over, default 30
	End     time.Time // the last day, default 2026-11-01
	Seed    uint64
}

var resultTypes = []string{"starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
	"certificate-not-trusted", "validation-failure", "sts-policy-fetch-error", "sts-webpki-invalid", "tlsa-invalid"}

var orgs = []struct{ name, contact string }{
	{"Google Inc.", "smtp-tls-reporting@google.com"},
	{"Microsoft Corporation", "tlsrpt-noreply@microsoft.com"},
	{"Mail.ru", "tls_support@corp.mail.ru"},
	{"Yahoo", "tlsrpt@yahoo.example"},
	{"Comcast", "tlsrpt@comcast.example"},
	{"Reporter Example", "tlsrpt@reporter.example"},
}

// Generator makes reports; it is not safe for concurrent use.
type Generator struct {
	o   Options
	rnd *rand.Rand
	n   int
}

// New returns a generator.
func New(o Options) *Generator {
	if o.Domains <= 0 {
		o.Domains = 1000
	}
	if o.Days <= 0 {
		o.Days = 30
	}
	if o.End.IsZero() {
		o.End = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	}
	return &Generator{o: o, rnd: rand.New(rand.NewPCG(o.Seed, 8460))}
}

// Report is a generated report in its wire form (RFC 8460 section 4.4).
type Report struct {
	OrganizationName string    `json:"organization-name"`
	DateRange        DateRange `json:"date-range"`
	ContactInfo      string    `json:"contact-info"`
	ReportID         string    `json:"report-id"`
	Policies         []Policy  `json:"policies"`
}

type DateRange struct {
	Start string `json:"start-datetime"`
	End   string `json:"end-datetime"`
}

type Policy struct {
	Policy struct {
		Type   string   `json:"policy-type"`
		String []string `json:"policy-string"`
		Domain string   `json:"policy-domain"`
		MXHost []string `json:"mx-host"`
	} `json:"policy"`
	Summary struct {
		Successful int64 `json:"total-successful-session-count"`
		Failed     int64 `json:"total-failure-session-count"`
	} `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

type FailureDetail struct {
	ResultType          string `json:"result-type"`
	SendingMTAIP        string `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname string `json:"receiving-mx-hostname,omitempty"`
	ReceivingIP         string `json:"receiving-ip,omitempty"`
	FailedSessions      int64  `json:"failed-session-count"`
	FailureReasonCode   string `json:"failure-reason-code,omitempty"`
}

// Next returns the next report and its conventional file name
// (submitter!domain!begin!end!id.json).
func (g *Generator) Next() (*Report, string) {
	g.n++
	r := g.rnd
	org := orgs[r.IntN(len(orgs))]
	dom := fmt.Sprintf("d%05d.example", r.IntN(g.o.Domains))
	day := g.o.End.AddDate(0, 0, -r.IntN(g.o.Days))
	mx := []string{"mx1." + dom, "mx2." + dom}
	rep := &Report{
		OrganizationName: org.name,
		DateRange:        DateRange{day.Format(time.RFC3339), day.Add(24*time.Hour - time.Second).Format(time.RFC3339)},
		ContactInfo:      org.contact,
		ReportID:         fmt.Sprintf("%s_%s_%d", day.Format("2006-01-02"), dom, g.n),
	}
	var p Policy
	p.Policy.Type = "sts"
	mode := []string{"testing", "enforce"}[r.IntN(2)]
	p.Policy.String = []string{"version: STSv1", "mode: " + mode, "mx: " + mx[0], "mx: " + mx[1], "max_age: 86400"}
	p.Policy.Domain = dom
	p.Policy.MXHost = mx
	p.Summary.Successful = int64(r.IntN(5000))
	// Most reports have no failures; some have up to five details.
	if r.IntN(10) < 4 {
		for range 1 + r.IntN(5) {
			n := int64(1 + r.IntN(50))
			p.FailureDetails = append(p.FailureDetails, FailureDetail{
				ResultType:          resultTypes[r.IntN(len(resultTypes))],
				SendingMTAIP:        fmt.Sprintf("192.0.2.%d", 1+r.IntN(254)),
				ReceivingMXHostname: mx[r.IntN(2)],
				ReceivingIP:         fmt.Sprintf("198.51.100.%d", 1+r.IntN(254)),
				FailedSessions:      n,
			})
			p.Summary.Failed += n
		}
	}
	rep.Policies = []Policy{p}
	if r.IntN(5) == 0 {
		// Microsoft's shape: a tlsa policy over the same sessions.
		t := p
		t.Policy.Type = "tlsa"
		t.Policy.String = []string{`["3 1 1 0123456789ABCDEF"]`}
		t.Policy.MXHost = nil
		rep.Policies = append(rep.Policies, t)
	}
	name := fmt.Sprintf("%s!%s!%d!%d!%d.json", org.name, dom, day.Unix(), day.Unix()+86399, g.n)
	return rep, name
}

// JSON returns the report encoded as a sender would.
func (r *Report) JSON() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // only plain strings and numbers: cannot fail
	}
	return b
}
