package web

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/jsonout"
	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
)

//go:embed assets templates
var files embed.FS

// Options configure the dashboard.
type Options struct {
	// Auth says who may see it.
	Auth Auth
	// Thresholds are readiness's, for the verdicts the pages show and the
	// API's defaults (query.DefaultThresholds when zero).
	Thresholds query.Thresholds
	// Poll is how often open pages ask whether reports arrived; default 15 s.
	Poll time.Duration
	// Now is the clock ("today" for windows and as_of); default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Handler serves the pages, their assets and the API.
type Handler struct {
	st      store.Store
	o       Options
	auth    *authenticator
	mux     *http.ServeMux
	pages   *template.Template
	domains *domainCache
}

// New makes the dashboard's handler over st. It reads the password file,
// if any, now.
func New(st store.Store, o Options) (*Handler, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Poll <= 0 {
		o.Poll = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Thresholds == (query.Thresholds{}) {
		o.Thresholds = query.DefaultThresholds
	}
	auth, err := newAuthenticator(o.Auth)
	if err != nil {
		return nil, err
	}
	pages, err := template.New("").Funcs(template.FuncMap{"asset": assetURL}).ParseFS(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	h := &Handler{st: st, o: o, auth: auth, mux: http.NewServeMux(), pages: pages}
	h.domains = newDomainCache(st, o.Logger)
	h.routes()
	return h, nil
}

// Warm computes the domains page's default view (the readiness window, as
// of today), so that the first visitor does not wait for it.
func (h *Handler) Warm(ctx context.Context) {
	if _, err := h.domains.get(ctx, h.domainsKey(h.o.Thresholds.Window, h.today())); err != nil && ctx.Err() == nil {
		h.o.Logger.Warn("web: computing the domains view", "error", err)
	}
}

func (h *Handler) today() time.Time { return h.o.Now().UTC().Truncate(24 * time.Hour) }

func (h *Handler) routes() {
	assets, _ := fs.Sub(files, "assets")
	h.mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheAssets(http.FileServerFS(assets))))
	h.mux.HandleFunc("GET /{$}", h.page("domains", nil))
	h.mux.HandleFunc("GET /domains/{domain}", h.page("domain", func(r *http.Request) map[string]string {
		return map[string]string{"domain": r.PathValue("domain")}
	}))
	h.mux.HandleFunc("GET /reports/{id}", h.page("report", func(r *http.Request) map[string]string {
		return map[string]string{"id": r.PathValue("id")}
	}))
	h.mux.HandleFunc("GET /inputs", h.page("inputs", nil))
	h.mux.HandleFunc("GET /api/v1/status", h.api(h.status))
	h.mux.HandleFunc("GET /api/v1/domains", h.api(h.domainList))
	h.mux.HandleFunc("GET /api/v1/summary", h.api(h.summary))
	h.mux.HandleFunc("GET /api/v1/readiness", h.api(h.readiness))
	h.mux.HandleFunc("GET /api/v1/reports", h.api(h.reports))
	h.mux.HandleFunc("GET /api/v1/reports/{id}", h.api(h.report))
	h.mux.HandleFunc("GET /api/v1/reports/{id}/raw", h.api(h.reportRaw))
	h.mux.HandleFunc("GET /api/v1/failures", h.api(h.failures))
	h.mux.HandleFunc("GET /api/v1/inputs", h.api(h.inputs))
	h.mux.HandleFunc("GET /api/v1/inputs/{id}/raw", h.api(h.inputRaw))
	h.mux.HandleFunc("/api/", h.api(func(w http.ResponseWriter, r *http.Request) error {
		return apiErrorf(http.StatusNotFound, "no API endpoint %s", r.URL.Path)
	}))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
}

// ServeHTTP answers GET and HEAD requests of authenticated users; anything
// else is refused before it reaches a route: the dashboard changes nothing.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	isAPI := strings.HasPrefix(r.URL.Path, "/api/")
	if _, ok := h.auth.user(r); !ok {
		h.auth.challenge(w)
		if isAPI {
			writeError(w, apiErrorf(http.StatusUnauthorized, "authentication required"))
		} else {
			http.Error(w, "authentication required", http.StatusUnauthorized)
		}
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		if isAPI {
			writeError(w, apiErrorf(http.StatusMethodNotAllowed, "%s: the dashboard is read-only, GET only", r.Method))
		} else {
			http.Error(w, "the dashboard is read-only: GET only", http.StatusMethodNotAllowed)
		}
		return
	}
	h.mux.ServeHTTP(w, r)
}

// assetURL is an asset's path; assets are named by version in their
// query string so that a new binary's are fetched again.
func assetURL(name string) string { return "/assets/" + name + "?v=" + assetVersion() }

// cacheAssets lets browsers keep assets for a day.
func cacheAssets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		next.ServeHTTP(w, r)
	})
}

type pageData struct {
	Page   string
	Title  string
	Poll   int // seconds
	Params map[string]string
}

func (h *Handler) page(name string, params func(*http.Request) map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := pageData{Page: name, Poll: int(h.o.Poll / time.Second), Params: map[string]string{}}
		if params != nil {
			d.Params = params(r)
		}
		switch name {
		case "domains":
			d.Title = "Domains"
		case "domain":
			d.Title = d.Params["domain"]
		case "report":
			d.Title = "Report " + d.Params["id"]
		case "inputs":
			d.Title = "Refused inputs"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		bw := bufio.NewWriter(w)
		if err := h.pages.ExecuteTemplate(bw, "page.html", d); err != nil {
			h.o.Logger.Error("web: rendering a page", "page", name, "error", err)
			return
		}
		bw.Flush()
	}
}

// apiError is an API answer other than 200: its status and message.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func apiErrorf(status int, format string, args ...any) error {
	return &apiError{status, fmt.Sprintf(format, args...)}
}

func badParam(name string, err error) error {
	return apiErrorf(http.StatusBadRequest, "%s: %v", name, err)
}

// api wraps an API endpoint: an error it returns is answered as JSON,
// {"error": "..."}, with its status (500 for the store's own, logged).
func (h *Handler) api(fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		var ae *apiError
		switch {
		case errors.As(err, &ae):
		case errors.Is(err, store.ErrNotFound):
			err = apiErrorf(http.StatusNotFound, "%v", err)
		case errors.Is(err, store.ErrUnavailable):
			w.Header().Set("Retry-After", "5")
			err = apiErrorf(http.StatusServiceUnavailable, "the store is unavailable for now: %v", err)
		case r.Context().Err() != nil:
			return // the client went away
		default:
			h.o.Logger.Error("web: answering", "path", r.URL.Path, "error", err)
			err = apiErrorf(http.StatusInternalServerError, "%v", err)
		}
		writeError(w, err)
	}
}

func writeError(w http.ResponseWriter, err error) {
	ae := err.(*apiError)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(ae.status)
	json.NewEncoder(w).Encode(map[string]string{"error": ae.msg})
}

// writeJSON answers 200 with v, a jsonout.List or any other value, as the
// command line writes it.
func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriterSize(w, 32<<10)
	var err error
	if l, ok := v.(jsonout.List); ok {
		err = l.Encode(bw)
	} else {
		err = jsonout.Value(bw, v)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// params reads an API request's query parameters.
type params struct{ q map[string][]string }

func paramsOf(r *http.Request) params { return params{r.URL.Query()} }

func (p params) str(name string) string {
	if v := p.q[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// list is a repeatable parameter; each value may hold several, comma
// separated, as the command line's repeatable flags do.
func (p params) list(name string) []string {
	var out []string
	for _, v := range p.q[name] {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// int reads a whole number in [lo, hi], def when absent.
func (p params) int(name string, def, lo, hi int) (int, error) {
	s := p.str(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badParam(name, fmt.Errorf("%q: want a whole number from %d to %d", s, lo, hi))
	}
	return n, nil
}

func (p params) id(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, apiErrorf(http.StatusBadRequest, "id %q: want a positive whole number", s)
	}
	return id, nil
}

// filter reads domain, since and until as the command line's flags.
func (h *Handler) filter(p params) (store.Filter, error) {
	f, err := query.NewFilter(p.list("domain"), p.str("since"), p.str("until"), h.o.Now())
	if err != nil {
		var be *query.BoundError
		if errors.As(err, &be) {
			return f, badParam(be.Param, be.Err)
		}
		return f, apiErrorf(http.StatusBadRequest, "%v", err)
	}
	return f, nil
}
