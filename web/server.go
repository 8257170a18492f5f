package web

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tlsrpt/tlsrpt/server"
)

// ListenOptions configure the dashboard's listener.
type ListenOptions struct {
	Addr string // host:port
	// CertFile and KeyFile serve HTTPS, re-read when they change.
	CertFile, KeyFile string
	Logger            *slog.Logger
}

// Server is a running dashboard.
type Server struct {
	ln    net.Listener
	http  *http.Server
	certs *server.CertReloader
	log   *slog.Logger
}

// ErrOpen is returned by Listen for an address other than loopback while
// the handler lets anyone in.
var ErrOpen = errors.New("the dashboard shows your mail infrastructure: on an address other than loopback it needs authentication (--basic-auth-file, or --trusted-auth-header with --trusted-proxy)")

// Listen opens the dashboard's socket. It refuses to serve h to anyone but
// this machine (a loopback address) unless h authenticates.
func Listen(h *Handler, o ListenOptions) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: o.Logger}
	var tlsConf *tls.Config
	if o.CertFile != "" || o.KeyFile != "" {
		if o.CertFile == "" || o.KeyFile == "" {
			return nil, errors.New("HTTPS needs both a certificate and a key file")
		}
		var err error
		if s.certs, err = server.NewCertReloader(o.CertFile, o.KeyFile, o.Logger); err != nil {
			return nil, err
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certs.GetCertificate}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", o.Addr, err)
	}
	// Judge the address bound, not the one written: ":8080" and a host
	// name that resolves elsewhere are not loopback.
	if a, ok := ln.Addr().(*net.TCPAddr); !h.auth.Configured() && (!ok || !a.IP.IsLoopback()) {
		ln.Close()
		return nil, fmt.Errorf("web: %s: %w", o.Addr, ErrOpen)
	}
	s.ln = ln
	s.http = &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Addr is the address the dashboard listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// TLS reports whether it serves HTTPS.
func (s *Server) TLS() bool { return s.certs != nil }

// Reload reads the certificate files again.
func (s *Server) Reload() error {
	if s.certs == nil {
		return nil
	}
	return s.certs.Reload()
}

// Serve answers until ctx ends, then lets the requests in flight finish
// (up to 10 s).
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		if s.certs != nil {
			errc <- s.http.ServeTLS(s.ln, "", "")
		} else {
			errc <- s.http.Serve(s.ln)
		}
	}()
	s.log.Info("web: serving the dashboard", "address", s.ln.Addr().String(), "tls", s.certs != nil)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.http.Shutdown(shutdown)
}

// assetVersion names the embedded assets' contents, for their URLs;
// computed when a page is first served, not when any command starts.
var assetVersion = sync.OnceValue(func() string {
	h := sha256.New()
	fs.WalkDir(files, "assets", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(files, path)
			h.Write([]byte(path))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
})
