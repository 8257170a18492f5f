package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// HandlerOptions configure the HTTPS reporting endpoint (RFC 8460 section
// 5.4). Zero fields take the defaults beside them.
type HandlerOptions struct {
	// Path restricts POSTs to one path; empty accepts any path.
	Path string
	// Domains, when set, are the only policy domains (and their subdomains)
	// reports are accepted for; others get 403 and are not stored.
	Domains []string
	// MaxBody bounds a request body; default 8 MiB (413 beyond).
	MaxBody int64
	// Rate and Burst limit requests per client address; default 20/s and
	// 2,000: a large sender posts a day's reports at once, and a sender
	// told 429 may never retry (the Postfix reporter takes any answer as
	// delivered), so the limit only stops a client far beyond that.
	Rate  rate.Limit
	Burst int
	// MaxConcurrent bounds the requests handled at once (their bodies read,
	// parsed and kept); default 64. MaxPerClient bounds those of one
	// client address, default an eighth of MaxConcurrent (at least 2), so
	// that a few addresses cannot hold every slot. The others wait for a
	// slot as long as their client does. Only requests past the rate limit
	// take a slot.
	MaxConcurrent, MaxPerClient int
	// MinBodyRate is the slowest a body may arrive, in bytes a second on
	// average, once BodyGrace (default 5 s) has passed; default 1 KiB/s. A
	// slower body is cut off (408). BodyTimeout bounds a body's read
	// whatever its rate; default 30 s.
	MinBodyRate            int64
	BodyGrace, BodyTimeout time.Duration
	// StoreWait is how long a request waits for its report's commit
	// before it is answered 202 (kept in the spool, stored later); default
	// 2 s. Only with a Sink that spools.
	StoreWait time.Duration
	// TrustedProxies are the addresses whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	Now            func() time.Time
	// Registry receives the endpoint's Prometheus metrics; nil: none.
	Registry prometheus.Registerer
}

// Handler receives reports POSTed by senders. Every request's input is kept
// by the Sink (committed to the store, or synced to the spool) before the
// response is written.
type Handler struct {
	o       HandlerOptions
	parser  *parse.Parser
	commit  Sink
	limiter *clientLimiter
	slots   *slots
	// parsing bounds the bodies decompressed and parsed at once to the
	// cores: parsing is CPU work, and each may take up to the parser's
	// MaxDecompressed in memory.
	parsing chan struct{}
	m       *metrics
}

// NewHandler returns the endpoint; commit keeps what it accepts.
func NewHandler(p *parse.Parser, commit Sink, o HandlerOptions) *Handler {
	if o.MaxBody <= 0 {
		o.MaxBody = 8 << 20
	}
	if o.Rate <= 0 {
		o.Rate = 20
	}
	if o.Burst <= 0 {
		o.Burst = 2000
	}
	if o.StoreWait <= 0 {
		o.StoreWait = 2 * time.Second
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 64
	}
	if o.MaxPerClient <= 0 {
		o.MaxPerClient = max(2, o.MaxConcurrent/8)
	}
	if o.MinBodyRate <= 0 {
		o.MinBodyRate = 1 << 10
	}
	if o.BodyGrace <= 0 {
		o.BodyGrace = 5 * time.Second
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for i, d := range o.Domains {
		o.Domains[i] = strings.TrimSuffix(strings.ToLower(d), ".")
	}
	return &Handler{o: o, parser: p, commit: commit, limiter: newClientLimiter(o.Rate, o.Burst),
		slots: newSlots(o.MaxConcurrent, o.MaxPerClient), parsing: make(chan struct{}, runtime.GOMAXPROCS(0)),
		m: newMetrics(o.Registry)}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	client := h.clientAddr(r)
	status, outcome, detail := h.serve(w, r, client)
	h.m.requests.WithLabelValues(outcome).Inc()
	h.m.duration.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	h.o.Logger.Info("request", "client", client, "method", r.Method, "path", r.URL.Path, "status", status,
		"outcome", outcome, "detail", detail, "bytes", r.ContentLength, "duration", time.Since(start))
}

// Guard puts next behind the endpoint's own limits: the per-address rate
// limit (429 with the wait) and a slot of the client's share, with one log
// line per request, as for report posts. For what else the public
// listener serves (the MTA-STS policy).
func (h *Handler) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		client := h.clientAddr(r)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		outcome := "served"
		if !h.withinRate(rec, client) {
			outcome = "rate-limited"
		} else if err := h.slots.acquire(r.Context(), client); err != nil {
			outcome = "gone"
		} else {
			next.ServeHTTP(rec, r)
			h.slots.release(client)
		}
		h.o.Logger.Info("request", "client", client, "method", r.Method, "host", r.Host, "path", r.URL.Path,
			"status", rec.status, "outcome", outcome, "duration", time.Since(start))
	})
}

// withinRate takes a token of client's rate limit; without one it answers
// 429 with the limiter's actual wait as Retry-After, and says so.
func (h *Handler) withinRate(w http.ResponseWriter, client string) bool {
	wait, ok := h.limiter.allow(client)
	if !ok {
		retry := strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10)
		w.Header().Set("Retry-After", retry)
		reply(w, http.StatusTooManyRequests, "too many requests from "+client+"; retry after "+retry+" s")
	}
	return ok
}

// statusRecorder remembers the status a handler wrote, for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// reply writes a status with a one-line text body.
func reply(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, client string) (int, string, string) {
	if h.o.Path != "" && r.URL.Path != h.o.Path {
		reply(w, http.StatusNotFound, "not found")
		return http.StatusNotFound, "not-found", ""
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, "only POST: RFC 8460 section 5.4")
		return http.StatusMethodNotAllowed, "method", r.Method
	}
	if !h.withinRate(w, client) {
		return http.StatusTooManyRequests, "rate-limited", ""
	}
	if r.ContentLength > h.o.MaxBody {
		reply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes exceeds the limit of %d", r.ContentLength, h.o.MaxBody))
		return http.StatusRequestEntityTooLarge, "too-large", ""
	}
	if err := h.slots.acquire(r.Context(), client); err != nil {
		return 0, "gone", "the client left while waiting for a slot"
	}
	defer h.slots.release(client)
	body, err := h.readBody(w, r)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		reply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds the limit of %d bytes", h.o.MaxBody))
		return http.StatusRequestEntityTooLarge, "too-large", ""
	case errors.Is(err, errTooSlow):
		w.Header().Set("Connection", "close")
		reply(w, http.StatusRequestTimeout, err.Error())
		return http.StatusRequestTimeout, "too-slow", ""
	case err != nil:
		reply(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return http.StatusBadRequest, "read-error", err.Error()
	}
	// Content-Type and Content-Encoding are hints: the bytes are sniffed, so
	// application/tlsrpt+gzip, +json, Content-Encoding: gzip and mislabelled
	// bodies all parse (a gzip body inside Content-Encoding: gzip too).
	h.parsing <- struct{}{}
	in, parseErr := prepare(h.parser, body, "https", client, h.o.Now())
	<-h.parsing
	if dom, ok := h.allowed(in.Reports); !ok {
		reply(w, http.StatusForbidden, "reports for "+dom+" are not accepted here")
		return http.StatusForbidden, "forbidden", dom
	}
	// Whatever was read is kept, refused or not, before anything is said.
	// A refusal's answer does not depend on the store: it is not waited
	// for.
	wait := h.o.StoreWait
	if len(in.Reports) == 0 {
		wait = 0
	}
	// The commit goes on without the request: a client that half-closes
	// its connection after the body must not cancel it.
	res, err := h.commit.Submit(context.WithoutCancel(r.Context()), in, wait)
	ids := reportIDs(in.Reports)
	switch {
	case errors.Is(err, ErrSpooled) && len(in.Reports) > 0:
		h.m.record(in.Reports, "spooled", h.domainLabel)
		reply(w, http.StatusAccepted, "accepted "+ids+": kept, to be stored as soon as the database can take it")
		return http.StatusAccepted, "spooled", ids
	case errors.Is(err, ErrSpooled):
		res.Outcome = store.OutcomeOf(store.Result{Invalid: len(in.Errors)}, in.NoReport)
	case err != nil:
		h.o.Logger.Error("keeping a report", "client", client, "error", err)
		w.Header().Set("Retry-After", "60")
		reply(w, http.StatusServiceUnavailable, "the report could not be kept; try again later")
		return http.StatusServiceUnavailable, "store-error", err.Error()
	}
	if res.Reused > 0 {
		h.o.Logger.Warn("report-id reused with other figures: stored as another report", "client", client, "reports", ids)
	}
	switch res.Outcome {
	case store.OutcomeStored:
		h.m.record(in.Reports, "stored", h.domainLabel)
		reply(w, http.StatusCreated, "stored "+ids)
		return http.StatusCreated, "stored", ids
	case store.OutcomeDuplicate:
		h.m.record(nil, "duplicate", nil)
		reply(w, http.StatusOK, "already stored "+ids)
		return http.StatusOK, "duplicate", ids
	case store.OutcomeNoReport:
		h.m.record(nil, "no-report", nil)
		reply(w, http.StatusUnsupportedMediaType, "the body holds no TLS report")
		return http.StatusUnsupportedMediaType, "no-report", ""
	}
	h.m.record(nil, "invalid", nil)
	msg := strings.Join(in.Errors, "; ")
	if st, ok := refusalStatus(parseErr); ok {
		reply(w, st, msg)
		return st, "refused", msg
	}
	reply(w, http.StatusBadRequest, msg)
	return http.StatusBadRequest, "invalid", msg
}

// errTooSlow is a body that arrived slower than MinBodyRate.
var errTooSlow = errors.New("the body arrives too slowly")

// readBody reads the request's body, up to MaxBody, at MinBodyRate at
// least: the connection's read deadline is moved as the bytes arrive, to
// the start plus BodyGrace plus the time the bytes so far allow, and never
// past BodyTimeout. A slow-loris body is cut off within seconds, not held
// for the whole timeout.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rc := http.NewResponseController(w)
	start := time.Now()
	last := start.Add(h.o.BodyTimeout)
	deadline := func(n int) time.Time {
		allowed := h.o.BodyGrace + time.Duration(float64(n)/float64(h.o.MinBodyRate)*float64(time.Second))
		if t := start.Add(allowed); t.Before(last) {
			return t
		}
		return last
	}
	// A connection that cannot take a deadline (an HTTP/2 stream without
	// it, a test's recorder) is read with the server's timeouts alone.
	paced := rc.SetReadDeadline(deadline(0)) == nil
	defer func() {
		if paced {
			rc.SetReadDeadline(time.Time{})
		}
	}()
	size := int64(512)
	if r.ContentLength > 0 {
		size = r.ContentLength
	}
	buf := make([]byte, 0, min(size, h.o.MaxBody)+1)
	body := http.MaxBytesReader(w, r.Body, h.o.MaxBody)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			rate := float64(len(buf)) / time.Since(start).Seconds()
			return nil, fmt.Errorf("%w: %d bytes in %.0f s (%.0f bytes/s), fewer than %d bytes/s", errTooSlow,
				len(buf), time.Since(start).Seconds(), rate, h.o.MinBodyRate)
		}
		if err != nil {
			return nil, err
		}
		if paced && n > 0 {
			rc.SetReadDeadline(deadline(len(buf)))
		}
	}
}

// slots are the requests handled at once, in all and per client address.
type slots struct {
	total     chan struct{}
	perClient int
	mu        sync.Mutex
	clients   map[string]int // only clients with a slot: bounded by total
	freed     chan struct{}  // closed when a client's slot is released
}

func newSlots(total, perClient int) *slots {
	return &slots{total: make(chan struct{}, total), perClient: perClient, clients: map[string]int{}, freed: make(chan struct{})}
}

// acquire waits for a slot of client's share and one of the total, as long
// as ctx lasts.
func (s *slots) acquire(ctx context.Context, client string) error {
	for {
		s.mu.Lock()
		if s.clients[client] < s.perClient {
			s.clients[client]++
			s.mu.Unlock()
			break
		}
		freed := s.freed
		s.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case s.total <- struct{}{}:
		return nil
	case <-ctx.Done():
		s.releaseClient(client)
		return ctx.Err()
	}
}

func (s *slots) release(client string) {
	<-s.total
	s.releaseClient(client)
}

func (s *slots) releaseClient(client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[client]--; s.clients[client] <= 0 {
		delete(s.clients, client)
	}
	close(s.freed)
	s.freed = make(chan struct{})
}

// refusalStatus maps a refusal to its status: over a size limit once
// decompressed (413) or not a report at all (415).
func refusalStatus(err error) (int, bool) {
	switch {
	case errors.Is(err, parse.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, true
	case errors.Is(err, parse.ErrNotReport):
		return http.StatusUnsupportedMediaType, true
	}
	return 0, false
}

func reportIDs(reports []*parse.Report) string {
	var ids []string
	for _, r := range reports {
		ids = append(ids, fmt.Sprintf("%s %q", r.OrganizationName, r.ReportID))
	}
	return strings.Join(ids, ", ")
}

// allowed reports whether every policy of the reports is for an accepted
// domain; it returns the first that is not.
func (h *Handler) allowed(reports []*parse.Report) (string, bool) {
	if len(h.o.Domains) == 0 {
		return "", true
	}
	for _, r := range reports {
		for _, p := range r.Policies {
			ok := false
			for _, d := range h.o.Domains {
				if p.Domain == d || strings.HasSuffix(p.Domain, "."+d) {
					ok = true
					break
				}
			}
			if !ok {
				return p.Domain, false
			}
		}
	}
	return "", true
}

// clientAddr is the peer's address, or the nearest untrusted address in
// X-Forwarded-For when the peer is a trusted proxy.
func (h *Handler) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !h.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return host
		}
		if !h.trusted(a) {
			return a.String()
		}
	}
	return host
}

func (h *Handler) trusted(a netip.Addr) bool {
	for _, p := range h.o.TrustedProxies {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// clientLimiter is a token bucket per client address. The table is
// bounded: past maxClients it starts afresh, which at worst gives a
// flooding client a new bucket, never a legitimate one a full one.
type clientLimiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	clients map[string]*rate.Limiter
}

const maxClients = 100_000

func newClientLimiter(r rate.Limit, burst int) *clientLimiter {
	return &clientLimiter{rate: r, burst: burst, clients: map[string]*rate.Limiter{}}
}

// allow takes a token of client's bucket; when there is none it says how
// long until there is.
func (l *clientLimiter) allow(client string) (time.Duration, bool) {
	l.mu.Lock()
	lim, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= maxClients {
			clear(l.clients)
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.clients[client] = lim
	}
	l.mu.Unlock()
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now)
		return wait, false
	}
	return 0, true
}

// metrics are the endpoint's Prometheus series.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	reports  *prometheus.CounterVec
	failed   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tlsrpt_http_requests_total",
			Help: "Requests to the reporting endpoint by outcome."}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tlsrpt_http_request_duration_seconds",
			Help: "Time to answer a request, commit included.", Buckets: prometheus.DefBuckets}, []string{"outcome"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tlsrpt_reports_total",
			Help: "Reports received, by source and outcome."}, []string{"source", "outcome"}),
		// Labels a stranger cannot multiply: the --domain entry that
		// accepted the report ("any" without --domain) and the result type,
		// registered ones only ("other" for the rest). Per policy domain and
		// MX host, the store answers (tlsrpt summary).
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tlsrpt_failed_sessions_total",
			Help: "Failed sessions in accepted reports, by accepted domain (--domain) and result type."},
			[]string{"domain", "result_type"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.reports, m.failed)
	}
	return m
}

// record counts a request's reports; domain maps a policy domain to its
// label.
func (m *metrics) record(reports []*parse.Report, outcome string, domain func(string) string) {
	m.reports.WithLabelValues("https", outcome).Inc()
	for _, r := range reports {
		for _, x := range store.Rollup(r).MX {
			rt := x.ResultType
			if parse.GroupOf(rt) == parse.GroupUnknown {
				rt = "other"
			}
			m.failed.WithLabelValues(domain(x.Domain), rt).Add(float64(x.FailedSessions))
		}
	}
}

// domainLabel is the --domain entry that covers a policy domain, "any"
// without --domain: a label value from the operator's configuration,
// never from the report.
func (h *Handler) domainLabel(policyDomain string) string {
	if len(h.o.Domains) == 0 {
		return "any"
	}
	for _, d := range h.o.Domains {
		if policyDomain == d || strings.HasSuffix(policyDomain, "."+d) {
			return d
		}
	}
	return "other"
}
