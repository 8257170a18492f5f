package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/web"
)

// webOptions are the dashboard's flags: tlsrpt web's, and serve's with a
// "web-" prefix.
type webOptions struct {
	prefix         string
	Listen         string
	BasicAuthFile  string
	TrustedHeader  string
	TrustedProxies []string
	CertFile       string
	KeyFile        string
	Poll           time.Duration
	query.Thresholds
}

func (o *webOptions) AddFlags(fs *pflag.FlagSet, prefix, defaultListen string) {
	o.prefix = prefix
	listenHelp := "address of the dashboard; one other than loopback needs authentication"
	if prefix == "" {
		listenHelp += " (env TLSRPT_WEB_LISTEN)"
	}
	fs.StringVar(&o.Listen, prefix+"listen", defaultListen, listenHelp)
	fs.StringVar(&o.BasicAuthFile, prefix+"basic-auth-file", envOr("TLSRPT_WEB_BASIC_AUTH_FILE", ""), "htpasswd file of bcrypt hashes for HTTP basic authentication (tlsrpt web passwd writes it; env TLSRPT_WEB_BASIC_AUTH_FILE)")
	fs.StringVar(&o.TrustedHeader, prefix+"trusted-auth-header", "", "header in which an authenticating reverse proxy gives the user (X-Forwarded-User), believed from --"+prefix+"trusted-proxy only")
	fs.StringSliceVar(&o.TrustedProxies, prefix+"trusted-proxy", nil, "CIDR of the reverse proxy whose --"+prefix+"trusted-auth-header is believed (repeatable)")
	if prefix == "" {
		fs.StringVar(&o.CertFile, "tls-cert", envOr("TLSRPT_WEB_TLS_CERT", ""), "certificate file (PEM) to serve HTTPS; re-read when it changes")
		fs.StringVar(&o.KeyFile, "tls-key", envOr("TLSRPT_WEB_TLS_KEY", ""), "private key file (PEM)")
	} else {
		fs.StringVar(&o.CertFile, prefix+"tls-cert", envOr("TLSRPT_WEB_TLS_CERT", ""), "the dashboard's certificate file (PEM) to serve it over HTTPS")
		fs.StringVar(&o.KeyFile, prefix+"tls-key", envOr("TLSRPT_WEB_TLS_KEY", ""), "the dashboard's private key file (PEM)")
	}
	fs.DurationVar(&o.Poll, prefix+"poll", 15*time.Second, "how often open pages look for new reports")
	d := query.DefaultThresholds
	o.Thresholds = d
	if prefix == "" {
		fs.IntVar(&o.MinDays, "min-days", d.MinDays, "verdicts: ready needs reports on at least this many days (as readiness)")
		fs.IntVar(&o.MinReporters, "min-reporters", d.MinReporters, "verdicts: ready needs reports from at least this many organisations")
		fs.Int64Var(&o.MinSessions, "min-sessions", d.MinSessions, "verdicts: ready needs at least this many reported sessions")
		fs.IntVar(&o.QuietDays, "quiet-days", d.QuietDays, "verdicts: ready needs no failure enforce would bounce in this many last days")
		fs.IntVar(&o.TrendDays, "trend-days", d.TrendDays, "verdicts: compare the failure rate of this many last days with as many before")
	}
}

// options checks the flags and makes the handler's and listener's options.
func (o *webOptions) options(g *globalOptions) (web.Options, web.ListenOptions, error) {
	flag := func(name string) string { return "--" + o.prefix + name }
	var proxies []netip.Prefix
	for _, c := range o.TrustedProxies {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return web.Options{}, web.ListenOptions{}, usageErr("%s %q: want a CIDR such as 10.0.0.0/8", flag("trusted-proxy"), c)
		}
		proxies = append(proxies, p)
	}
	if o.TrustedHeader != "" && len(proxies) == 0 {
		return web.Options{}, web.ListenOptions{}, usageErr("%s needs %s: the header is believed only from the proxy", flag("trusted-auth-header"), flag("trusted-proxy"))
	}
	if len(proxies) > 0 && o.TrustedHeader == "" {
		return web.Options{}, web.ListenOptions{}, usageErr("%s is for %s: give the header too", flag("trusted-proxy"), flag("trusted-auth-header"))
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return web.Options{}, web.ListenOptions{}, usageErr("HTTPS needs both %s and %s", flag("tls-cert"), flag("tls-key"))
	}
	if o.Poll < time.Second {
		return web.Options{}, web.ListenOptions{}, usageErr("%s %s: at least 1s", flag("poll"), o.Poll)
	}
	if o.QuietDays < 1 || o.TrendDays < 1 || o.MinDays < 0 || o.MinReporters < 0 || o.MinSessions < 0 {
		return web.Options{}, web.ListenOptions{}, usageErr("--quiet-days and --trend-days must be at least 1, the --min-* flags at least 0")
	}
	wo := web.Options{
		Auth:       web.Auth{BasicFile: o.BasicAuthFile, TrustedHeader: o.TrustedHeader, TrustedProxies: proxies},
		Thresholds: o.Thresholds, Poll: o.Poll, Now: g.now, Logger: g.logger(),
	}
	return wo, web.ListenOptions{Addr: o.Listen, CertFile: o.CertFile, KeyFile: o.KeyFile, Logger: g.logger()}, nil
}

// start makes the dashboard over st and opens its listener.
func (o *webOptions) start(ctx context.Context, st database, wo web.Options, lo web.ListenOptions) (*web.Server, error) {
	h, err := web.New(st, wo)
	if err != nil {
		return nil, err
	}
	srv, err := web.Listen(h, lo)
	if errors.Is(err, web.ErrOpen) {
		return nil, usageErr("%s %s is not a loopback address, and %v", "--"+o.prefix+"listen", lo.Addr, web.ErrOpen)
	}
	if err != nil {
		return nil, err
	}
	go h.Warm(ctx)
	return srv, nil
}

func printWeb(w io.Writer, srv *web.Server, auth web.Auth) {
	scheme := "http"
	if srv.TLS() {
		scheme = "https"
	}
	who := "anyone who can reach it (loopback)"
	switch {
	case auth.BasicFile != "" && auth.TrustedHeader != "":
		who = "users of " + auth.BasicFile + " and of the trusted proxy's " + auth.TrustedHeader
	case auth.BasicFile != "":
		who = "users of " + auth.BasicFile
	case auth.TrustedHeader != "":
		who = "users the trusted proxy names in " + auth.TrustedHeader
	}
	fmt.Fprintf(w, "tlsrpt web: dashboard on %s://%s/ for %s; read-only\n", scheme, srv.Addr(), who)
}

func newWebCommand(g *globalOptions) *cobra.Command {
	var o webOptions
	var wo web.Options
	var lo web.ListenOptions
	cmd := &cobra.Command{
		Use:   "web",
		Short: "Serve the dashboard and its JSON API",
		Long: `Serve a read-only dashboard over the database, and the JSON API its pages use:

  /                    every policy domain with its readiness verdict, sessions,
                       failure rate and a daily sparkline; sortable, searchable
  /domains/DOMAIN      the daily sessions as a chart, the verdict with every
                       reason, failures per MX host, policy type, reporter,
                       sending IP, and the newest failure details
  /reports/ID          one report in full, and its input as it arrived
  /inputs              what was refused (invalid, no report), with the reason
  /api/v1/...          summary, readiness, reports, failures, inputs as JSON
                       (the same bytes as the commands' --format json)

Pages follow their filters in the URL and update themselves as reports arrive.
On a loopback address (the default, 127.0.0.1:8080) it needs no login; on any
other it refuses to start without --basic-auth-file (make it with tlsrpt web
passwd) or --trusted-auth-header behind a reverse proxy that authenticates.
Every asset is in the binary; nothing is loaded from elsewhere. To run it in
the same process as the report endpoint, give serve --web-listen.`,
		Example: `  tlsrpt web                                   # http://127.0.0.1:8080/
  tlsrpt web passwd alice --basic-auth-file /etc/tlsrpt/web.htpasswd
  tlsrpt web --listen :8443 --basic-auth-file /etc/tlsrpt/web.htpasswd --tls-cert cert.pem --tls-key key.pem
  tlsrpt web --listen 127.0.0.1:8080 --trusted-auth-header X-Forwarded-User --trusted-proxy 127.0.0.1/32
  curl -s 'http://127.0.0.1:8080/api/v1/readiness?domain=example.com'`,
		Args: usageArgs(cobra.NoArgs),
		PreRunE: func(cmd *cobra.Command, args []string) (err error) {
			wo, lo, err = o.options(g)
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withExistingStore(cmd.Context(), func(st database) error {
				srv, err := o.start(cmd.Context(), st, wo, lo)
				if err != nil {
					return err
				}
				printWeb(cmd.ErrOrStderr(), srv, wo.Auth)
				err = srv.Serve(cmd.Context())
				fmt.Fprintf(cmd.ErrOrStderr(), "tlsrpt web: stopped on %s\n", srv.Addr())
				return err
			})
		},
	}
	o.AddFlags(cmd.Flags(), "", envOr("TLSRPT_WEB_LISTEN", "127.0.0.1:8080"))
	cmd.AddCommand(newWebPasswdCommand())
	return cmd
}

func newWebPasswdCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "passwd USER",
		Short: "Add a dashboard user, or change their password",
		Long: `Add USER to the htpasswd file with a bcrypt hash of a password, or replace
their line. The password is read from the terminal (asked twice, not shown),
or from the first line of standard input when it is not a terminal; never
from the command line.`,
		Example: `  tlsrpt web passwd alice --basic-auth-file /etc/tlsrpt/web.htpasswd
  printf '%s\n' "$PASSWORD" | tlsrpt web passwd ci --basic-auth-file web.htpasswd`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usageErr("--basic-auth-file: which file to write")
			}
			password, err := readNewPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			replaced, err := web.SetPassword(file, args[0], password)
			if err != nil {
				return err
			}
			what := "added to"
			if replaced {
				what = "changed in"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s %s %s\n", args[0], what, file)
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "basic-auth-file", envOr("TLSRPT_WEB_BASIC_AUTH_FILE", ""), "htpasswd file to write, created (mode 0600) when missing (env TLSRPT_WEB_BASIC_AUTH_FILE)")
	return cmd
}

// readNewPassword asks twice on a terminal, or reads a line from in.
func readNewPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "New password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
