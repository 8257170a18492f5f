package main

import (
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/mailauth"
)

// dkimOptions are the flags of the commands that take mailed reports.
type dkimOptions struct {
	Mode     string
	Resolver string
	Timeout  time.Duration
}

func (o *dkimOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Mode, "dkim", envOr("TLSRPT_DKIM", ingest.DKIMRecord),
		"DKIM of mailed reports: off, record (verify and record; store all), require (store only authenticated mail) (env TLSRPT_DKIM)")
	fs.StringVar(&o.Resolver, "resolver", envOr("TLSRPT_RESOLVER", ""), "DNS server for DKIM keys, host:port (default: the system's; env TLSRPT_RESOLVER)")
	fs.DurationVar(&o.Timeout, "dkim-timeout", 5*time.Second, "longest wait for a DKIM key lookup")
}

// dkim checks the flags and makes the verifier.
func (o *dkimOptions) dkim() (ingest.DKIM, error) {
	if !slices.Contains(ingest.DKIMModes, o.Mode) {
		return ingest.DKIM{}, usageErr("--dkim %q: want one of %s", o.Mode, strings.Join(ingest.DKIMModes, ", "))
	}
	if o.Mode == ingest.DKIMOff {
		return ingest.DKIM{Mode: o.Mode}, nil
	}
	if o.Timeout <= 0 {
		return ingest.DKIM{}, usageErr("--dkim-timeout %s: want a positive duration", o.Timeout)
	}
	v, err := mailauth.New(mailauth.Options{Resolver: o.Resolver, Timeout: o.Timeout})
	if err != nil {
		return ingest.DKIM{}, usageErr("--resolver: %v", err)
	}
	return ingest.DKIM{Mode: o.Mode, Verifier: v}, nil
}

const dkimHelp = `
Mailed reports are checked for a DKIM signature of the reporter (RFC 8460
section 5.3): one that verifies, by the organisational domain of the
TLS-Report-Submitter header or the From address. --dkim record (the
default) records the result with each input and stores every report;
--dkim require stores only authenticated mail: the rest is kept raw with
the outcome unauthenticated (tlsrpt reprocess takes it again), and mail
whose keys cannot be looked up for now is left for a later run (exit 75).
Report files and HTTPS reports carry no DKIM and are not affected.`
