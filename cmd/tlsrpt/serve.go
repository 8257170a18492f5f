package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/time/rate"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/server"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/web"
)

type serveOptions struct {
	Listen         string
	Path           string
	Domains        []string
	CertFile       string
	KeyFile        string
	InsecureHTTP   bool
	TrustedProxies []string
	MaxBody        int64
	Rate           float64
	Burst          int
	MaxConcurrent  int
	MaxPerClient   int
	MinBodyRate    int64
	ACMEDomains    []string
	ACMEDirectory  string
	ACMECache      string
	ACMEEmail      string
	ACMECAFile     string
	ACMEHTTPListen string
	Discard        bool
	Policies       []string
	Spool          string
	SpoolMax       int64
	StoreWait      time.Duration
	Web            webOptions
}

func (o *serveOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Listen, "listen", envOr("TLSRPT_LISTEN", ""), "address to listen on (default :443, or :80 with --insecure-http; env TLSRPT_LISTEN)")
	fs.StringVar(&o.Path, "path", "", "accept POSTs on this path only (default: any path)")
	fs.StringSliceVar(&o.Domains, "domain", nil, "accept reports only for this policy domain and its subdomains (repeatable); others get 403")
	fs.StringVar(&o.CertFile, "tls-cert", envOr("TLSRPT_TLS_CERT", ""), "certificate file (PEM, chain included); re-read when it changes or on SIGHUP")
	fs.StringVar(&o.KeyFile, "tls-key", envOr("TLSRPT_TLS_KEY", ""), "private key file (PEM)")
	fs.BoolVar(&o.InsecureHTTP, "insecure-http", false, "serve plain HTTP, behind a reverse proxy that terminates TLS")
	fs.StringSliceVar(&o.TrustedProxies, "trusted-proxy", nil, "CIDR of a proxy whose X-Forwarded-For gives the client address (repeatable)")
	fs.Int64Var(&o.MaxBody, "max-body", 8<<20, "largest request body in bytes (413 beyond)")
	fs.Float64Var(&o.Rate, "rate", 20, "requests per second allowed per client address once its burst is spent (429 beyond)")
	fs.IntVar(&o.Burst, "burst", 2000, "requests a client address may send at once before --rate applies (a large sender posts a day's reports at once)")
	fs.StringVar(&o.Spool, "spool", envOr("TLSRPT_SPOOL", ""), "directory where each report is synced before it is answered, and stored from (default: the database's path + .spool, or tlsrpt.spool with PostgreSQL; env TLSRPT_SPOOL)")
	fs.Int64Var(&o.SpoolMax, "spool-max-bytes", 1<<30, "most bytes the spool holds while the database cannot take them (503 beyond)")
	fs.DurationVar(&o.StoreWait, "store-wait", 2*time.Second, "how long a request waits for its report's commit before it is answered 202 (kept in the spool)")
	fs.IntVar(&o.MaxConcurrent, "max-concurrent", 64, "requests handled at once (bodies read, parsed and kept)")
	fs.IntVar(&o.MaxPerClient, "max-per-client", 0, "requests of one client address handled at once (default an eighth of --max-concurrent)")
	fs.Int64Var(&o.MinBodyRate, "min-body-rate", 1024, "slowest a body may arrive after 5 s, in bytes a second on average (408 below)")
	fs.StringSliceVar(&o.ACMEDomains, "acme-domain", nil, "obtain and renew the certificate for this name by ACME, tls-alpn-01 on --listen (repeatable)")
	fs.StringVar(&o.ACMEHTTPListen, "acme-http-listen", "", "also answer ACME http-01 challenges on this plain-HTTP address (:80); other requests there are redirected to HTTPS")
	fs.StringVar(&o.ACMEDirectory, "acme-directory", "", "ACME directory URL (default: Let's Encrypt)")
	fs.StringVar(&o.ACMECache, "acme-cache", "tlsrpt-acme", "directory for the ACME account key and certificates")
	fs.StringVar(&o.ACMEEmail, "acme-email", "", "contact address given to the ACME CA")
	fs.StringVar(&o.ACMECAFile, "acme-ca-file", "", "PEM CA of a private ACME directory's HTTPS certificate")
	fs.StringArrayVar(&o.Policies, "mta-sts-policy", nil, "serve DOMAIN=FILE's MTA-STS policy to requests for mta-sts.DOMAIN (repeatable)")
	o.Web.AddFlags(fs, "web-", "")
	fs.BoolVar(&o.Discard, "discard-reports", false, "benchmarks only: parse and answer, store nothing")
	fs.MarkHidden("discard-reports")
}

func (o *serveOptions) serveOptions(g *globalOptions) (server.Options, error) {
	var proxies []netip.Prefix
	for _, c := range o.TrustedProxies {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return server.Options{}, usageErr("--trusted-proxy %q: want a CIDR such as 127.0.0.1/32", c)
		}
		proxies = append(proxies, p)
	}
	policies := map[string]string{}
	for _, kv := range o.Policies {
		domain, file, ok := strings.Cut(kv, "=")
		if !ok || domain == "" || file == "" {
			return server.Options{}, usageErr("--mta-sts-policy %q: want DOMAIN=FILE", kv)
		}
		policies[normalizeDomains([]string{domain})[0]] = file
	}
	acmeOpts := server.ACMEOptions{Domains: normalizeDomains(o.ACMEDomains), Directory: o.ACMEDirectory, Cache: o.ACMECache,
		Email: o.ACMEEmail, HTTPListen: o.ACMEHTTPListen}
	switch {
	case o.InsecureHTTP && (len(o.ACMEDomains) > 0 || o.CertFile != ""):
		return server.Options{}, usageErr("--insecure-http serves plain HTTP: give it without --acme-domain and --tls-cert")
	case o.InsecureHTTP:
	case len(o.ACMEDomains) > 0 && o.CertFile != "":
		return server.Options{}, usageErr("give --tls-cert/--tls-key or --acme-domain, not both")
	case len(o.ACMEDomains) == 0 && o.ACMEHTTPListen != "":
		return server.Options{}, usageErr("--acme-http-listen needs --acme-domain")
	case len(o.ACMEDomains) == 0 && (o.CertFile == "" || o.KeyFile == ""):
		return server.Options{}, usageErr("HTTPS needs --tls-cert and --tls-key, or --acme-domain (or --insecure-http behind a reverse proxy)")
	}
	if o.ACMECAFile != "" {
		pem, err := os.ReadFile(o.ACMECAFile)
		if err != nil {
			return server.Options{}, fmt.Errorf("reading --acme-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return server.Options{}, fmt.Errorf("--acme-ca-file %s: no PEM certificate in it", o.ACMECAFile)
		}
		acmeOpts.HTTPClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	if o.Rate <= 0 || o.Burst <= 0 {
		return server.Options{}, usageErr("--rate and --burst must be positive")
	}
	spool := o.Spool
	dbDir := filepath.Dir(g.DB)
	switch {
	case spool != "" || o.Discard:
	case g.isPostgres():
		// Each receiver of a shared database has its own spool.
		spool, dbDir = "tlsrpt.spool", ""
	default:
		spool = g.DB + ".spool"
	}
	if g.isPostgres() {
		dbDir = ""
	}
	return server.Options{
		Listen: o.Listen, CertFile: o.CertFile, KeyFile: o.KeyFile, InsecureHTTP: o.InsecureHTTP, ACME: acmeOpts, Policies: policies,
		MaxConcurrent: o.MaxConcurrent, Logger: g.logger(),
		Handler: ingest.HandlerOptions{Path: o.Path, Domains: normalizeDomains(o.Domains), MaxBody: o.MaxBody,
			Rate: rate.Limit(o.Rate), Burst: o.Burst, TrustedProxies: proxies, Now: g.now, StoreWait: o.StoreWait,
			MaxPerClient: o.MaxPerClient, MinBodyRate: o.MinBodyRate},
		Spool: ingest.SpoolOptions{Dir: spool, MaxBytes: o.SpoolMax},
		DBDir: dbDir,
	}, nil
}

func newServeCommand(g *globalOptions) *cobra.Command {
	var o serveOptions
	var so server.Options
	var wo web.Options
	var lo web.ListenOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Receive reports POSTed to your rua=https:// endpoint",
		Long: `Serve the HTTPS reporting endpoint of RFC 8460 section 5.4: senders POST a
report (application/tlsrpt+gzip or +json; Content-Encoding: gzip and
mislabelled bodies are sniffed and accepted). Each body is parsed, then written
and synced to the spool (--spool) before it is answered, and stored from there
in the order it came: a report is never acknowledged before it is safe on disk,
and a locked or unavailable database does not lose it.

  201 stored        200 already stored (a retry)   400 invalid, with the reason
  202 kept in the spool, stored as soon as the database can take it (after
      --store-wait without a commit)
  403 domain not served (not stored)     405 not POST     413 over a size limit
  415 not a report  429 far over the per-address rate (Retry-After: the wait)
  503 the report could not be kept (disk full, spool full): retry

Every body read is kept with its outcome. Inputs left in the spool by a crash
are stored at the next start, none twice. GET /healthz answers 200 while the
database does; GET /metrics serves Prometheus metrics. With --mta-sts-policy
DOMAIN=FILE the same process serves the MTA-STS policy to requests for
mta-sts.DOMAIN (GET and HEAD of /.well-known/mta-sts.txt, text/plain, never a
redirect), re-reading FILE when it changes. One log line per
request (log/slog on stderr; --log-level info). SIGTERM or SIGINT stop it
gracefully; SIGHUP re-reads the certificate.

With --web-listen ADDR the same process serves the dashboard and its JSON API
(see tlsrpt web) on its own listener, never on the report endpoint's: on a
loopback address without login, on any other only with --web-basic-auth-file
or --web-trusted-auth-header.`,
		Example: `  tlsrpt serve --tls-cert /etc/tlsrpt/cert.pem --tls-key /etc/tlsrpt/key.pem --domain example.com
  tlsrpt serve --acme-domain reports.example.com --acme-email hostmaster@example.com --acme-cache /var/lib/tlsrpt/acme
  tlsrpt serve --insecure-http --listen 127.0.0.1:8080 --trusted-proxy 127.0.0.1/32 --path /tlsrpt
  tlsrpt serve --tls-cert cert.pem --tls-key key.pem --web-listen 127.0.0.1:8081`,
		Args: usageArgs(cobra.NoArgs),
		PreRunE: func(cmd *cobra.Command, args []string) (err error) {
			if so, err = o.serveOptions(g); err != nil {
				return err
			}
			if o.Web.Listen != "" {
				wo, lo, err = o.Web.options(g)
			} else if o.Web.BasicAuthFile != "" || o.Web.TrustedHeader != "" || o.Web.CertFile != "" {
				return usageErr("the --web-* flags configure the dashboard: give --web-listen too")
			}
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withStore(cmd.Context(), func(db database) error {
				var st store.Store = db
				if o.Discard {
					st = discardStore{db}
				}
				srv, err := server.Listen(st, parse.New(parse.Limits{}), so)
				if err != nil {
					return err
				}
				printServing(cmd.ErrOrStderr(), srv, so)
				ctx, cancel := context.WithCancel(cmd.Context())
				defer cancel()
				webDone := make(chan error, 1)
				if o.Web.Listen != "" {
					dash, err := o.Web.start(ctx, db, wo, lo)
					if err != nil {
						cancel()
						srv.Serve(ctx) // lets go of the spool and the listener
						return err
					}
					printWeb(cmd.ErrOrStderr(), dash, wo.Auth)
					go func() {
						err := dash.Serve(ctx)
						if err != nil {
							cancel() // the endpoint stops with its dashboard
						}
						webDone <- err
					}()
				} else {
					webDone <- nil
				}
				hup := make(chan os.Signal, 1)
				signal.Notify(hup, syscall.SIGHUP)
				defer signal.Stop(hup)
				go func() {
					for range hup {
						if err := srv.Reload(); err != nil {
							so.Logger.Error("reloading the certificate", "error", err)
						}
					}
				}()
				err = srv.Serve(ctx)
				cancel()
				err = errors.Join(err, <-webDone)
				fmt.Fprintf(cmd.ErrOrStderr(), "tlsrpt serve: stopped on %s\n", srv.Addr())
				return err
			})
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// discardStore answers as if every report were new and stores nothing: the
// server's speed without its store, for scripts/bench-serve.sh.
type discardStore struct{ store.Store }

func (discardStore) Ingest(_ context.Context, inputs []store.Input) ([]store.Result, error) {
	out := make([]store.Result, len(inputs))
	for i, in := range inputs {
		out[i] = store.Result{Stored: len(in.Reports), Invalid: len(in.Errors)}
		out[i].Outcome = store.OutcomeOf(out[i], in.NoReport)
	}
	return out, nil
}

// printServing says on stderr, whatever the log level, where serve listens
// and what it takes, and warns when anyone may fill the store.
func printServing(w io.Writer, srv *server.Server, o server.Options) {
	mode := "HTTPS with certificate files"
	switch {
	case o.InsecureHTTP:
		mode = "plain HTTP, for a reverse proxy that terminates TLS"
	case len(o.ACME.Domains) > 0:
		mode = "HTTPS with ACME certificates for " + strings.Join(o.ACME.Domains, ", ")
	}
	domains := "reports for any domain"
	if len(o.Handler.Domains) > 0 {
		domains = "reports for " + strings.Join(o.Handler.Domains, ", ") + " and their subdomains"
	}
	fmt.Fprintf(w, "tlsrpt serve: listening on %s (%s); %s", srv.Addr(), mode, domains)
	if len(o.Policies) > 0 {
		var hosted []string
		for d := range o.Policies {
			hosted = append(hosted, d)
		}
		slices.Sort(hosted)
		fmt.Fprintf(w, "; MTA-STS policies for %s", strings.Join(hosted, ", "))
	}
	if o.Spool.Dir != "" {
		fmt.Fprintf(w, "; spool %s", o.Spool.Dir)
	}
	fmt.Fprintln(w)
	if len(o.Handler.Domains) == 0 {
		fmt.Fprintln(w, "tlsrpt serve: warning: no --domain given: anyone who finds the endpoint can fill the store with reports for any domain")
	}
}
