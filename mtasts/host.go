package mtasts

import (
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// WellKnownPath is where senders fetch the policy (RFC 8461 section 3.3).
const WellKnownPath = "/.well-known/mta-sts.txt"

// Host serves policies to senders on the mta-sts.<domain> hosts. Each file
// is validated when read, and read again when it changes; a file that
// becomes invalid leaves the last valid policy in service.
type Host struct {
	logger   *slog.Logger
	mu       sync.Mutex
	policies map[string]*served // by host name, mta-sts.<domain>
}

type served struct {
	domain, file string
	body         []byte
	mod          time.Time
	checked      time.Time
}

// NewHost serves policy files by domain (domain → file).
func NewHost(files map[string]string, logger *slog.Logger) (*Host, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Host{logger: logger, policies: map[string]*served{}}
	for domain, file := range files {
		domain = strings.TrimSuffix(strings.ToLower(domain), ".")
		p, err := ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("policy for %s: %w", domain, err)
		}
		fi, _ := os.Stat(file)
		h.policies["mta-sts."+domain] = &served{domain: domain, file: file, body: []byte(p.String()), mod: fi.ModTime(), checked: time.Now()}
	}
	return h, nil
}

// Hosts lists the host names served, for certificates.
func (h *Host) Hosts() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for name := range h.policies {
		out = append(out, name)
	}
	return out
}

func hostOf(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// Handles reports whether the request is for a policy host.
func (h *Host) Handles(r *http.Request) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.policies[hostOf(r)]
	return ok
}

// current returns the policy body, re-reading the file at most once a
// second when its modification time changed.
func (h *Host) current(name string) (*served, []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.policies[name]
	if s == nil {
		return nil, nil
	}
	if time.Since(s.checked) > time.Second {
		s.checked = time.Now()
		if fi, err := os.Stat(s.file); err == nil && !fi.ModTime().Equal(s.mod) {
			if p, err := ReadFile(s.file); err != nil {
				h.logger.Error("policy file changed but is not valid; still serving the previous one", "file", s.file, "error", err)
			} else {
				s.body, s.mod = []byte(p.String()), fi.ModTime()
				h.logger.Info("policy reloaded", "domain", s.domain, "file", s.file)
			}
		}
	}
	return s, s.body
}

func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Strict-Transport-Security", "max-age=31536000")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	s, body := h.current(hostOf(r))
	if s == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case WellKnownPath:
		// RFC 8461 section 3.3: 200, text/plain, no redirect; caching is
		// the sender's business (max_age), so none is promised here.
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		hd.Set("Cache-Control", "no-cache")
		hd.Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	case "/":
		hd.Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MTA-STS for %[1]s</title></head>
<body><p>This host publishes the MTA-STS policy (RFC 8461) of %[1]s at <a href="%[2]s">%[2]s</a>: it tells mail
servers sending to %[1]s to require TLS and which MX hosts to expect. There is nothing else here.</p></body></html>
`, html.EscapeString(s.domain), WellKnownPath)
	default:
		http.NotFound(w, r)
	}
}
