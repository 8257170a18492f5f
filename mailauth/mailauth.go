// Package mailauth decides whether a mailed TLS report is authenticated:
// RFC 8460 section 5.3 says a report sent by mail "MUST contain a valid
// DKIM signature by the reporting domain", and that reports without one
// "MUST be ignored".
//
// A message is authenticated when one of its DKIM signatures verifies
// (RSA-SHA256 or Ed25519-SHA256, without l=, not expired, with a key whose
// s= allows email or tlsrpt) and its d= domain has the same organisational
// domain (the Public Suffix List's) as the TLS-Report-Submitter header or the
// From address: Mail.ru signs d=corp.mail.ru for submitter mail.ru, which
// counts; a valid signature of an unrelated domain does not.
//
// Signatures are checked by github.com/emersion/go-msgauth/dkim. Its keys
// are looked up through a cache that keeps each record for its TTL, so that
// a day of reports from one sender costs one lookup, not one per message.
package mailauth

import (
	"bufio"
	"bytes"
	"fmt"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/net/publicsuffix"
)

// Results of the DKIM verification of a message, as recorded per input.
const (
	Pass      = "pass"      // a signature verified
	Fail      = "fail"      // signatures, none of which verified
	None      = "none"      // no signature
	TempError = "temperror" // no signature verified, and a key could not be looked up for now
)

// Result is what the verification of one message found.
type Result struct {
	// DKIM is Pass, Fail, None or TempError.
	DKIM string
	// Domain is the d= of the signature that authenticated the message,
	// else of the first that verified, else of the first signature; "" for
	// none.
	Domain string
	// Authenticated is set when a signature verified and its domain belongs
	// to the reporter.
	Authenticated bool
	// Reason says, in one line, why the message is not authenticated.
	Reason string
}

// Options configure a Verifier.
type Options struct {
	// Resolver is the DNS server asked for keys, host:port; empty: the
	// system's (/etc/resolv.conf).
	Resolver string
	// Timeout bounds each key lookup; default 5 s.
	Timeout time.Duration
	// MaxSignatures bounds the signatures checked per message; default 5.
	MaxSignatures int
}

// Verifier checks messages' DKIM signatures. It is safe for concurrent use.
type Verifier struct {
	keys *keyCache
	max  int
}

// New makes a Verifier.
func New(o Options) (*Verifier, error) {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxSignatures <= 0 {
		o.MaxSignatures = 5
	}
	keys, err := newKeyCache(o.Resolver, o.Timeout)
	if err != nil {
		return nil, err
	}
	return &Verifier{keys: keys, max: o.MaxSignatures}, nil
}

// Lookups is the number of DNS queries made so far (the cache's misses).
func (v *Verifier) Lookups() int64 { return v.keys.lookups.Load() }

// Verify checks a message, as it arrived.
func (v *Verifier) Verify(msg []byte) Result {
	// An mbox's messages keep their "From " line: it is no header field.
	if bytes.HasPrefix(msg, []byte("From ")) {
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT:        v.keys.lookupTXT,
		MaxVerifications: v.max,
	})
	if err != nil && len(verifs) == 0 {
		return Result{DKIM: Fail, Reason: "DKIM: the message could not be read: " + oneLine(err.Error())}
	}
	if len(verifs) == 0 {
		return Result{DKIM: None, Reason: "no DKIM signature"}
	}
	reporters := reporterDomains(msg)
	var res Result
	var firstFail, tempFail string
	for _, vf := range verifs {
		d := strings.ToLower(strings.TrimSuffix(vf.Domain, "."))
		switch {
		case vf.Err == nil:
			if res.DKIM != Pass {
				res.DKIM, res.Domain = Pass, d
			}
			if sameOrganisation(d, reporters) {
				return Result{DKIM: Pass, Domain: d, Authenticated: true}
			}
		case dkim.IsTempFail(vf.Err):
			if tempFail == "" {
				tempFail = fmt.Sprintf("DKIM signature of %s: %v", orNone(d), vf.Err)
			}
		default:
			if firstFail == "" {
				firstFail = fmt.Sprintf("DKIM signature of %s: %v", orNone(d), vf.Err)
			}
		}
		if res.Domain == "" {
			res.Domain = d
		}
	}
	switch {
	case res.DKIM == Pass:
		res.Reason = fmt.Sprintf("the DKIM signature of %s verifies, but %s is not the reporter's (%s)", res.Domain, res.Domain, strings.Join(orNoneList(reporters), ", "))
	case tempFail != "":
		res.DKIM, res.Reason = TempError, oneLine(tempFail)
	default:
		res.DKIM, res.Reason = Fail, oneLine(firstFail)
	}
	return res
}

// reporterDomains are the domains a report's message names its reporter
// by: the TLS-Report-Submitter header (RFC 8460 section 5.3) and the From
// address's domain.
func reporterDomains(msg []byte) []string {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return nil
	}
	var out []string
	if s := strings.TrimSpace(h.Get("Tls-Report-Submitter")); s != "" {
		out = append(out, strings.ToLower(strings.TrimSuffix(s, ".")))
	}
	if from := h.Get("From"); from != "" {
		addr := from
		if a, err := mail.ParseAddress(from); err == nil {
			addr = a.Address
		}
		if i := strings.LastIndexByte(addr, '@'); i >= 0 {
			d := strings.Trim(addr[i+1:], "<> \t")
			out = append(out, strings.ToLower(strings.TrimSuffix(d, ".")))
		}
	}
	return out
}

// sameOrganisation reports whether d has the organisational domain of one
// of the reporter's domains.
func sameOrganisation(d string, reporters []string) bool {
	org := orgDomain(d)
	if org == "" {
		return false
	}
	for _, r := range reporters {
		if orgDomain(r) == org {
			return true
		}
	}
	return false
}

// orgDomain is a domain's organisational domain: its public suffix and one
// label more; "" for a public suffix itself or a name that is none.
func orgDomain(d string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return ""
	}
	return org
}

func orNone(s string) string {
	if s == "" {
		return "no domain"
	}
	return s
}

func orNoneList(l []string) []string {
	if len(l) == 0 {
		return []string{"none named"}
	}
	return l
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
