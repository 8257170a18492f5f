package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/parse"
)

type fetchOptions struct {
	Server, User, PasswordFile string
	TLS, CAFile                string
	Insecure                   bool
	Mailbox, MoveTo, InvalidTo string
	Delete, Keep, DryRun       bool
	Watch                      bool
	Interval                   time.Duration
	Verbose                    bool
	DKIM                       dkimOptions
}

func (o *fetchOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Server, "server", os.Getenv("TLSRPT_IMAP_SERVER"), "IMAP server host:port (env TLSRPT_IMAP_SERVER)")
	fs.StringVar(&o.User, "user", os.Getenv("TLSRPT_IMAP_USER"), "IMAP user (env TLSRPT_IMAP_USER)")
	fs.StringVar(&o.PasswordFile, "password-file", "", "file holding the password (else env TLSRPT_IMAP_PASSWORD; never a flag)")
	fs.StringVar(&o.TLS, "tls", ingest.TLSImplicit, "implicit (port 993), starttls (port 143), or none (loopback only, or with --insecure)")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM file of the CA that signed the server's certificate (default: the system's)")
	fs.BoolVar(&o.Insecure, "insecure", false, "allow --tls none to a server that is not on loopback")
	fs.StringVar(&o.Mailbox, "mailbox", "INBOX", "mailbox the reports arrive in")
	fs.StringVar(&o.MoveTo, "move-to", "TLSRPT/Processed", "where processed messages go (created when missing)")
	o.DKIM.AddFlags(fs)
	fs.StringVar(&o.InvalidTo, "invalid-to", "TLSRPT/Invalid", "where messages without a valid report go (created when missing)")
	fs.BoolVar(&o.Delete, "delete", false, "delete processed messages instead of moving them")
	fs.BoolVar(&o.Keep, "keep", false, "leave messages in place and remember them, so a re-run skips them")
	fs.BoolVar(&o.DryRun, "dry-run", false, "list what would be done; store and move nothing")
	fs.BoolVar(&o.Watch, "watch", false, "keep running: wait for new mail with IDLE (or poll every --interval) and reconnect after a drop")
	fs.DurationVar(&o.Interval, "interval", time.Minute, "with --watch: poll interval where the server lacks IDLE, and the longest IDLE")
	fs.BoolVarP(&o.Verbose, "verbose", "v", false, "with --watch, print a line after every pass, not only those that found mail")
}

func (o *fetchOptions) check() error {
	switch {
	case o.Server == "":
		return usageErr("--server (or TLSRPT_IMAP_SERVER) is required")
	case o.User == "":
		return usageErr("--user (or TLSRPT_IMAP_USER) is required")
	case o.Delete && o.Keep:
		return usageErr("--delete and --keep exclude each other")
	case !slices.Contains([]string{ingest.TLSImplicit, ingest.TLSStartTLS, ingest.TLSNone}, o.TLS):
		return usageErr("--tls %q: want implicit, starttls or none", o.TLS)
	}
	if _, _, err := net.SplitHostPort(o.Server); err != nil {
		return usageErr("--server %q: want host:port", o.Server)
	}
	return nil
}

// ingestOptions reads the secrets and builds what ingest.Fetch takes.
func (o *fetchOptions) ingestOptions(g *globalOptions) (ingest.FetchOptions, error) {
	password, ok := os.LookupEnv("TLSRPT_IMAP_PASSWORD")
	if o.PasswordFile != "" {
		b, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return ingest.FetchOptions{}, fmt.Errorf("reading the password: %w", err)
		}
		password, ok = strings.TrimRight(string(b), "\r\n"), true
	}
	if !ok {
		return ingest.FetchOptions{}, usageErr("no password: give --password-file or set TLSRPT_IMAP_PASSWORD")
	}
	host, _, _ := net.SplitHostPort(o.Server)
	conf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return ingest.FetchOptions{}, fmt.Errorf("reading --ca-file: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return ingest.FetchOptions{}, fmt.Errorf("--ca-file %s: no PEM certificate in it", o.CAFile)
		}
	}
	dkim, err := o.DKIM.dkim()
	if err != nil {
		return ingest.FetchOptions{}, err
	}
	return ingest.FetchOptions{
		DKIM:   dkim,
		Server: o.Server, User: o.User, Password: password, TLS: o.TLS, TLSConf: conf, Insecure: o.Insecure,
		Mailbox: o.Mailbox, MoveTo: o.MoveTo, InvalidTo: o.InvalidTo, Delete: o.Delete, Keep: o.Keep, DryRun: o.DryRun,
		Logger: g.logger(), Now: g.now,
	}, nil
}

func newFetchCommand(g *globalOptions) *cobra.Command {
	var o fetchOptions
	cmd := &cobra.Command{
		Use:   "fetch",
		Short: "Pull reports from an IMAP mailbox, once (for cron) or as a watcher",
		Long: `Drain the mailbox your rua=mailto: address delivers to. Each message is
fetched without marking it seen, parsed and stored, and only once the store
has committed it is moved to --move-to (or deleted with --delete, or left in
place and remembered with --keep). Messages without a valid report go to
--invalid-to, never deleted and never retried forever. A run killed at any
point and run again stores nothing twice and loses nothing.

Quiet by default: one summary line. Exits 0 on success, 1 with a one-line
reason when the connection, TLS or login fails.

The password comes from --password-file or TLSRPT_IMAP_PASSWORD, never from
a flag (flags show in ps). Certificates are verified; --ca-file for a
private CA.
` + dkimHelp + ` Under require, mail not authenticated goes to --invalid-to;
mail left for later stays where it is.`,
		Example: `  TLSRPT_IMAP_PASSWORD=... tlsrpt fetch --server imap.example.com:993 --user tlsrpt@example.com
  tlsrpt fetch --server imap.example.com:993 --user tlsrpt --password-file /etc/tlsrpt/imap-password --watch
  tlsrpt fetch --server 127.0.0.1:143 --tls none --user tlsrpt --password-file pw --dry-run`,
		Args: usageArgs(cobra.NoArgs),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return o.check()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			fo, err := o.ingestOptions(g)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return g.withStore(cmd.Context(), func(st database) error {
				p := parse.New(parse.Limits{})
				if o.Watch {
					return ingest.Watch(cmd.Context(), st, p, fo, o.Interval, func(s ingest.FetchStats) {
						if s.Messages > 0 || o.Verbose {
							fmt.Fprintln(out, s)
						}
					})
				}
				stats, err := ingest.Fetch(cmd.Context(), st, p, fo)
				for _, line := range stats.Plan {
					fmt.Fprintln(out, line)
				}
				if err != nil {
					return err
				}
				fmt.Fprintln(out, stats)
				if stats.Deferred > 0 {
					return errDeferred
				}
				return nil
			})
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.RegisterFlagCompletionFunc("tls", formatCompletion(ingest.TLSImplicit, ingest.TLSStartTLS, ingest.TLSNone))
	return cmd
}
