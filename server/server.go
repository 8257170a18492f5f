package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/mtasts"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// Options configure `tlsrpt serve`. Zero durations and sizes take the
// defaults beside them.
type Options struct {
	Listen string // address, default ":443" (":80" with InsecureHTTP)
	// CertFile and KeyFile hold the certificate; they are read again when
	// they change on disk and when Reload is called.
	CertFile, KeyFile string
	// InsecureHTTP serves plain HTTP, for a reverse proxy that terminates TLS.
	InsecureHTTP bool
	// ACME obtains and renews certificates for these names instead
	// (tls-alpn-01 on this listener, http-01 on ACME.HTTPListen if set).
	ACME ACMEOptions
	// Policies are MTA-STS policy files by domain, served to requests for
	// mta-sts.<domain> (and given ACME certificates with the rest).
	Policies map[string]string
	Handler  ingest.HandlerOptions
	// Spool keeps every accepted input on disk before it is answered and
	// stores it from there (Spool), so that a locked or unavailable
	// database does not turn into lost reports. With no Spool.Dir, each
	// request waits for its commit instead.
	Spool ingest.SpoolOptions
	// DBDir is the directory of the database's files: /healthz fails while
	// its disk has less than 1 MiB free. Empty: not checked.
	DBDir string
	// MaxConcurrent bounds requests handled at once; default 64.
	MaxConcurrent int
	// ReadHeaderTimeout (default 10 s) and ReadTimeout (default 30 s) cut
	// off slow clients; IdleTimeout (default 120 s) closes idle keep-alives.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests; default 30 s.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// ACMEOptions configure certificates from an ACME CA (RFC 8555).
type ACMEOptions struct {
	Domains []string
	// Directory is the CA's directory URL; empty means Let's Encrypt.
	Directory string
	// Cache is the directory certificates and the account key are kept in.
	Cache string
	Email string
	// HTTPClient talks to the CA; nil means http.DefaultClient. A private CA
	// (a test's pebble, say) needs one that trusts its certificate.
	HTTPClient *http.Client
	// HTTPListen, when set (":80"), also answers http-01 challenges on
	// this plain-HTTP address, for when the CA cannot reach the TLS port;
	// its other GET and HEAD requests are redirected to HTTPS.
	HTTPListen string
}

// Server is a running reporting endpoint.
type Server struct {
	o    Options
	ln   net.Listener
	http *http.Server
	sink ingest.Sink
	// closeSink stores what the sink holds, or keeps it for the next start.
	closeSink func(context.Context) error
	certs     *CertReloader
	acme      bool
	// challenges answers ACME http-01 challenges on challengeLn.
	challenges  *http.Server
	challengeLn net.Listener
}

// Listen opens the endpoint's socket and prepares the server; Serve runs it.
func Listen(st store.Store, p *parse.Parser, o Options) (*Server, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, 10*time.Second)
	def(&o.ReadTimeout, 30*time.Second)
	def(&o.IdleTimeout, 120*time.Second)
	def(&o.ShutdownTimeout, 30*time.Second)
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Listen == "" {
		o.Listen = ":443"
		if o.InsecureHTTP {
			o.Listen = ":80"
		}
	}
	s := &Server{o: o}
	useACME := len(o.ACME.Domains) > 0
	var policyHost *mtasts.Host
	if len(o.Policies) > 0 {
		var err error
		if policyHost, err = mtasts.NewHost(o.Policies, o.Logger); err != nil {
			return nil, err
		}
		// With ACME, the mta-sts hosts get certificates too.
		o.ACME.Domains = append(slices.Clip(o.ACME.Domains), policyHost.Hosts()...)
	}
	var tlsConf *tls.Config
	switch {
	case o.InsecureHTTP:
	case useACME:
		if o.CertFile != "" {
			return nil, errors.New("ingest: give certificate files or ACME domains, not both")
		}
		if o.ACME.Cache == "" {
			return nil, errors.New("ingest: ACME needs a cache directory for its keys and certificates")
		}
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(o.ACME.Cache),
			HostPolicy: autocert.HostWhitelist(o.ACME.Domains...),
			Email:      o.ACME.Email,
		}
		if o.ACME.Directory != "" || o.ACME.HTTPClient != nil {
			m.Client = &acme.Client{DirectoryURL: o.ACME.Directory, HTTPClient: o.ACME.HTTPClient}
		}
		tlsConf = m.TLSConfig()
		tlsConf.MinVersion = tls.VersionTLS12
		s.acme = true
		if o.ACME.HTTPListen != "" {
			challenges := m.HTTPHandler(nil)
			// The host policy is by name: a Host with a port (a listener
			// not on 80, or a CA told to validate on another) is still the
			// name.
			byName := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if host, _, err := net.SplitHostPort(r.Host); err == nil {
					r.Host = host
				}
				challenges.ServeHTTP(w, r)
			})
			s.challenges = &http.Server{Handler: byName, ReadHeaderTimeout: o.ReadHeaderTimeout,
				ReadTimeout: o.ReadTimeout, IdleTimeout: o.IdleTimeout, MaxHeaderBytes: 64 << 10,
				ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)}
		}
	default:
		if o.CertFile == "" || o.KeyFile == "" {
			return nil, errors.New("ingest: serving HTTPS needs a certificate and key (or plain HTTP behind a proxy)")
		}
		var err error
		if s.certs, err = NewCertReloader(o.CertFile, o.KeyFile, o.Logger); err != nil {
			return nil, err
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certs.GetCertificate}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newAuthCollector(st, o.Logger))
	o.Handler.Registry = reg
	if o.Handler.Logger == nil {
		o.Handler.Logger = o.Logger
	}
	if o.Spool.Dir != "" {
		o.Spool.Registry = reg
		if o.Spool.Logger == nil {
			o.Spool.Logger = o.Logger
		}
		sp, err := ingest.OpenSpool(context.Background(), st, p, o.Spool)
		if err != nil {
			return nil, err
		}
		s.sink, s.closeSink = sp, sp.Close
	} else {
		c := ingest.NewCommitter(st, 0)
		s.sink, s.closeSink = c, func(context.Context) error { c.Close(); return nil }
	}
	mux := http.NewServeMux()
	var checks []func() error
	if sp, ok := s.sink.(*ingest.Spool); ok {
		checks = append(checks, sp.Check, DiskCheck(o.Spool.Dir, 1<<20))
	}
	if o.DBDir != "" {
		checks = append(checks, DiskCheck(o.DBDir, 1<<20))
	}
	mux.Handle("GET /healthz", Healthz(st, checks...))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	o.Handler.MaxConcurrent = o.MaxConcurrent
	reports := ingest.NewHandler(p, s.sink, o.Handler)
	mux.Handle("/", reports)
	var root http.Handler = mux
	if policyHost != nil {
		// The policy's requests pass the reports' limits and are logged
		// like them.
		policy := reports.Guard(policyHost)
		root = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if policyHost.Handles(r) {
				policy.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
	s.http = &http.Server{
		Handler:           root,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.ReadTimeout + 30*time.Second, // the commit happens after the read
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		s.closeSink(context.Background())
		return nil, fmt.Errorf("listening on %s: %w", o.Listen, err)
	}
	s.ln = ln
	if s.challenges != nil {
		if s.challengeLn, err = net.Listen("tcp", o.ACME.HTTPListen); err != nil {
			ln.Close()
			s.closeSink(context.Background())
			return nil, fmt.Errorf("listening for ACME http-01 challenges on %s: %w", o.ACME.HTTPListen, err)
		}
	}
	return s, nil
}

// ChallengeAddr is the address http-01 challenges are answered on, nil
// without ACME.HTTPListen.
func (s *Server) ChallengeAddr() net.Addr {
	if s.challengeLn == nil {
		return nil
	}
	return s.challengeLn.Addr()
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Reload reads the certificate files again (on SIGHUP, say).
func (s *Server) Reload() error {
	if s.certs == nil {
		return nil
	}
	return s.certs.Reload()
}

// Serve answers requests until ctx ends, then stops accepting, lets the
// requests in flight finish (up to ShutdownTimeout) and commits what they
// queued. The store is the caller's to close afterwards.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() {
		if s.certs != nil || s.acme {
			errc <- s.http.ServeTLS(s.ln, "", "")
		} else {
			errc <- s.http.Serve(s.ln)
		}
	}()
	if s.challenges != nil {
		go func() { errc <- s.challenges.Serve(s.challengeLn) }()
		s.o.Logger.Info("answering ACME http-01 challenges", "address", s.challengeLn.Addr().String())
	}
	s.o.Logger.Info("serving", "address", s.ln.Addr().String(), "tls", s.certs != nil || s.acme, "acme", s.o.ACME.Domains)
	var failed error
	select {
	case failed = <-errc:
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), s.o.ShutdownTimeout)
	defer cancel()
	err := s.http.Shutdown(shutdown)
	if s.challenges != nil {
		err = errors.Join(err, s.challenges.Shutdown(shutdown))
	}
	err = errors.Join(err, s.closeSink(shutdown))
	if failed != nil {
		return failed
	}
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// CertReloader serves a certificate from files, read again when their
// modification time changes (checked at most once a second) or on Reload.
type CertReloader struct {
	certFile, keyFile string
	logger            *slog.Logger
	mu                sync.Mutex
	cert              *tls.Certificate
	certMod, keyMod   time.Time
	checked           time.Time
}

// NewCertReloader reads the certificate and key files.
func NewCertReloader(certFile, keyFile string, logger *slog.Logger) (*CertReloader, error) {
	c := &CertReloader{certFile: certFile, keyFile: keyFile, logger: logger}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files; on error the certificate in use stays.
func (c *CertReloader) Reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("loading the certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	cm, km := modTime(c.certFile), modTime(c.keyFile)
	c.mu.Lock()
	c.cert, c.certMod, c.keyMod = &cert, cm, km
	c.mu.Unlock()
	return nil
}

func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	stale := time.Since(c.checked) > time.Second
	if stale {
		c.checked = time.Now()
	}
	changed := stale && (!modTime(c.certFile).Equal(c.certMod) || !modTime(c.keyFile).Equal(c.keyMod))
	c.mu.Unlock()
	if changed {
		if err := c.Reload(); err != nil {
			// A half-written pair: keep serving the old one, try again later.
			c.logger.Warn("certificate not reloaded", "error", err)
		} else {
			c.logger.Info("certificate reloaded", "file", c.certFile)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert, nil
}
