package ingest

import (
	"fmt"

	"github.com/tlsrpt/tlsrpt/mailauth"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// DKIM modes (--dkim): what a mailed report's DKIM verification decides.
const (
	DKIMOff     = "off"     // not verified
	DKIMRecord  = "record"  // verified and recorded; every report is stored
	DKIMRequire = "require" // reports in mail not authenticated are not stored
)

// DKIMModes lists the --dkim values.
var DKIMModes = []string{DKIMOff, DKIMRecord, DKIMRequire}

// DKIM is how import, fetch and reprocess treat mailed reports (RFC 8460
// section 5.3). The zero DKIM verifies nothing.
type DKIM struct {
	Mode     string
	Verifier *mailauth.Verifier
	// Reverify verifies again inputs that were verified when they arrived
	// (reprocess --reverify); otherwise their recorded result stands.
	Reverify bool
}

func (d DKIM) on() bool { return d.Verifier != nil && d.Mode != "" && d.Mode != DKIMOff }

// authenticate verifies a prepared mailed input and, under require, refuses
// its reports when it is not authenticated. It returns false when the input
// must not be recorded now: under require, a key could not be looked up
// (temperror), and the mail is to be tried again later. Inputs that are no
// mail (a report file, HTTPS) are left as they are, as are inputs without
// reports.
func (d DKIM) authenticate(in *store.Input) bool {
	if !d.on() || in.Source == "https" || len(in.Reports) == 0 || parse.Sniff(in.Data) != parse.FormatMessage {
		return true
	}
	if in.Auth == nil || d.Reverify {
		r := d.Verifier.Verify(in.Data)
		in.Auth = &store.Auth{DKIM: r.DKIM, Domain: r.Domain, Authenticated: r.Authenticated, Reason: r.Reason}
	}
	if d.Mode != DKIMRequire || in.Auth.Authenticated {
		return true
	}
	if in.Auth.DKIM == mailauth.TempError {
		return false
	}
	in.Unauthenticated = true
	return true
}

// deferredError is the one line for a mail left for later.
func deferredError(in *store.Input) string {
	return fmt.Sprintf("%s: left for a later run: %s", in.Origin, in.Auth.Reason)
}
