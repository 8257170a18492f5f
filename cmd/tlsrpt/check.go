package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/mtasts"
)

// errCheckFailed ends check after it printed a failed step.
var errCheckFailed = errors.New("the check failed")

// checkOptions are check's flags: mtasts's options and the command's own.
type checkOptions struct {
	mtasts.CheckOptions
	Format, CAFile string
}

func newCheckCommand(g *globalOptions) *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check DOMAIN",
		Short: "Check a domain's MTA-STS and TLS-RPT setup the way a sender sees it",
		Long: `Do what a careful sender does before delivering to DOMAIN, step by step,
each pass, warn or fail with the reason:

  DNS      the MX records; exactly one v=STSv1 TXT record at _mta-sts with a valid
           id; a valid v=TLSRPTv1 TXT record at _smtp._tls with mailto:/https: rua
  policy   fetched as RFC 8461 requires: HTTPS to mta-sts.DOMAIN, a certificate
           valid for it, TLS 1.2+, status 200 only, no redirect followed,
           text/plain, at most 64 KiB; then parsed and validated
  MX       every MX host matched against the policy's mx patterns
  SMTP     every MX on port 25: banner, EHLO, STARTTLS offered, a verified
           handshake for the MX name, TLS version, days to certificate expiry

Exits 0 when every step passes or warns, 5 when any fails. --resolver,
--ca-file, --smtp-port and --https-port point it at private setups.`,
		Example: `  tlsrpt check example.com
  tlsrpt check example.com --format json
  tlsrpt check example.test --resolver 127.0.0.1:5353 --ca-file test-ca.pem --smtp-port 2525 --https-port 8443`,
		Args: usageArgs(cobra.ExactArgs(1)),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(o.Format, "table", "json"); err != nil {
				return err
			}
			if o.CAFile != "" {
				pem, err := os.ReadFile(o.CAFile)
				if err != nil {
					return fmt.Errorf("reading --ca-file: %w", err)
				}
				o.RootCAs = x509.NewCertPool()
				if !o.RootCAs.AppendCertsFromPEM(pem) {
					return fmt.Errorf("--ca-file %s: no PEM certificate in it", o.CAFile)
				}
			}
			o.Now = g.now
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := mtasts.Check(cmd.Context(), args[0], o.CheckOptions)
			if err != nil {
				return err // the resolver did not answer: no verdict to print
			}
			if o.Format == "json" {
				if err := newPrinter(cmd.OutOrStdout(), "json").print(nil, nil, r); err != nil {
					return err
				}
			} else {
				printCheck(cmd.OutOrStdout(), r)
			}
			if r.Verdict == mtasts.Fail {
				return errCheckFailed
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Format, "format", "table", "output format: table, json")
	f.StringVar(&o.Resolver, "resolver", "", "DNS server host:port to ask (default: the system's)")
	f.StringVar(&o.CAFile, "ca-file", "", "PEM CA to trust instead of the system's (for private setups)")
	f.IntVar(&o.SMTPPort, "smtp-port", 25, "port the MX hosts are checked on")
	f.IntVar(&o.HTTPSPort, "https-port", 443, "port the policy is fetched from")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Second, "limit for each network step")
	cmd.RegisterFlagCompletionFunc("format", formatCompletion("table", "json"))
	return cmd
}

func printCheck(w io.Writer, r *mtasts.CheckReport) {
	for _, s := range r.Steps {
		fmt.Fprintf(w, "%-4s  %-26s %s\n", strings.ToUpper(string(s.Status)), s.Name, s.Detail)
	}
	fmt.Fprintf(w, "%s: %s\n", r.Domain, strings.ToUpper(string(r.Verdict)))
}
