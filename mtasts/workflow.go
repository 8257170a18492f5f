package mtasts

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// ErrUsage marks a mistake in what was asked (a missing domain, a bad mode,
// a file that exists): the caller's to fix, not a failure of the run.
var ErrUsage = errors.New("mtasts: bad request")

func usage(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, args...)...)
}

// DefaultFile is where a domain's policy file goes unless told otherwise.
func DefaultFile(domain string) string { return domain + ".mta-sts.txt" }

// InitOptions describe a new policy and where to write it.
type InitOptions struct {
	Domain string // the mail domain, normalised by the caller
	Mode   string
	MX     []string
	MaxAge int64
	RUA    []string // where TLS reports go (mailto: or https:)
	File   string   // default DefaultFile(Domain)
	Force  bool     // replace an existing file
	Now    time.Time
}

// Written is what Init or SetMode wrote, and the DNS records to publish
// with it.
type Written struct {
	File    string
	Policy  *Policy
	OldMode string // SetMode: the mode before
	// STSRecord is the _mta-sts record with a new id, empty when SetMode
	// changed nothing; TLSRPTRecord the _smtp._tls record (Init only).
	STSRecord, TLSRPTRecord string
}

// Init writes a new policy file (RFC 8461 section 3.2) and returns the DNS
// records to publish with it (section 3.1, and RFC 8460 section 3).
func Init(o InitOptions) (*Written, error) {
	if o.Domain == "" {
		return nil, usage("--domain is required")
	}
	p := &Policy{Version: "STSv1", Mode: o.Mode, MX: o.MX, MaxAge: o.MaxAge}
	if err := p.Validate(); err != nil {
		return nil, usage("%v", err)
	}
	tlsrpt, err := TLSRPTRecord(o.Domain, o.RUA)
	if err != nil {
		return nil, usage("%v", err)
	}
	file := o.File
	if file == "" {
		file = DefaultFile(o.Domain)
	}
	if _, err := os.Stat(file); err == nil && !o.Force {
		return nil, usage("%s exists: use --force to replace it, or policy set-mode to change its mode", file)
	}
	if err := WriteFile(file, p); err != nil {
		return nil, err
	}
	return &Written{File: file, Policy: p, STSRecord: STSRecord(o.Domain, NewID(o.Now)), TLSRPTRecord: tlsrpt}, nil
}

// SetMode changes the mode of the policy in file (DefaultFile(domain) when
// empty) and returns the _mta-sts record with a new id, which senders need
// to see before they fetch the policy again.
func SetMode(domain, file, mode string, now time.Time) (*Written, error) {
	if domain == "" {
		return nil, usage("--domain is required")
	}
	if !slices.Contains([]string{ModeTesting, ModeEnforce, ModeNone}, mode) {
		return nil, usage("mode %q: want testing, enforce or none", mode)
	}
	if file == "" {
		file = DefaultFile(domain)
	}
	p, err := ReadFile(file)
	if err != nil {
		return nil, err
	}
	w := &Written{File: file, Policy: p, OldMode: p.Mode}
	if p.Mode == mode {
		// Nothing changes: the published id stays, senders need not
		// refetch.
		return w, nil
	}
	p.Mode = mode
	if err := WriteFile(file, p); err != nil {
		return nil, err
	}
	w.STSRecord = STSRecord(domain, NewID(now))
	return w, nil
}
