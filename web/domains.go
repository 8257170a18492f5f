package web

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
)

// DomainRow is one policy domain on the domains page: its readiness over
// the window and its daily failure rate.
type DomainRow struct {
	PolicyDomain       string        `json:"policy_domain"`
	Verdict            query.Verdict `json:"verdict"`
	Reasons            []string      `json:"reasons"`
	PolicyMode         string        `json:"policy_mode"`
	SuccessfulSessions int64         `json:"successful_sessions"`
	FailedSessions     int64         `json:"failed_sessions"`
	FailureRate        float64       `json:"failure_rate"`
	Reporters          int           `json:"reporters"`
	DaysCovered        int64         `json:"days_covered"`
	LastDay            string        `json:"last_day"`
	// DailyFailureRate has one rate per day of the window, oldest first,
	// null on a day without sessions.
	DailyFailureRate rates `json:"daily_failure_rate"`
}

// rates are daily failure rates, NaN for a day without sessions (null in
// JSON): four bytes a day, since a view of 10,000 domains over 365 days
// holds 3.65 million of them.
type rates []float32

func (r rates) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(r)*7)
	b = append(b, '[')
	for i, v := range r {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(float64(v)) {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendFloat(b, float64(v), 'f', -1, 32)
		}
	}
	return append(b, ']'), nil
}

// domainsKey selects a domains view: the readiness thresholds (the window
// among them) and the day it is judged on.
type domainsKey struct {
	t    query.Thresholds
	asOf time.Time // a UTC day
}

func (h *Handler) domainsKey(window int, asOf time.Time) domainsKey {
	t := h.o.Thresholds
	t.Window = window
	return domainsKey{t, asOf.UTC().Truncate(24 * time.Hour)}
}

// snapshot is a domains view computed over the store as it was when its
// newest report was newest.
type snapshot struct {
	newest int64 // the newest report's id then
	days   []string
	rows   []DomainRow // by domain name
	made   time.Time
}

// domainCache holds the domains views asked for lately. Computing one over
// a million reports takes about a second (readiness for every domain, and
// every domain's days), too long for a page: a view is computed once and
// answered from memory while no report has arrived since; once one has,
// the view in memory is answered while its successor is computed in the
// background (at most once every minRefresh), so a page is never kept
// waiting twice for the same view, and a later poll sees the new reports.
type domainCache struct {
	st      store.Store
	log     *slog.Logger
	flight  singleflight.Group
	mu      sync.Mutex
	entries map[domainsKey]*snapshot
}

// maxViews bounds the views kept; the oldest made goes first. A view of
// 10,000 domains over 365 days is about 16 MB.
const maxViews = 4

// minRefresh is the least time between two computations of a view while
// reports keep arriving: each reads the whole window.
var minRefresh = 30 * time.Second

func newDomainCache(st store.Store, log *slog.Logger) *domainCache {
	return &domainCache{st: st, log: log, entries: map[domainsKey]*snapshot{}}
}

func (c *domainCache) get(ctx context.Context, k domainsKey) (*snapshot, error) {
	newest, err := c.st.MaxReportID(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	s := c.entries[k]
	c.mu.Unlock()
	if s != nil && s.newest == newest {
		return s, nil
	}
	compute := func() (any, error) {
		// The newest id is read before the reads: a report stored during
		// them makes the view stale, never wrongly fresh.
		newest, err := c.st.MaxReportID(context.Background())
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		s, err := computeSnapshot(ctx, c.st, k)
		if err != nil {
			return nil, err
		}
		s.newest = newest
		c.put(k, s)
		return s, nil
	}
	if s != nil {
		if time.Since(s.made) < minRefresh {
			return s, nil
		}
		// Stale: answer it, and compute its successor once.
		go func() {
			if _, err, _ := c.flight.Do(fmt.Sprint(k), compute); err != nil {
				c.log.Warn("web: refreshing the domains view", "error", err)
			}
		}()
		return s, nil
	}
	ch := c.flight.DoChan(fmt.Sprint(k), compute)
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*snapshot), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *domainCache) put(k domainsKey, s *snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[k] = s
	for len(c.entries) > maxViews {
		var oldest domainsKey
		var at time.Time
		for k, e := range c.entries {
			if at.IsZero() || e.made.Before(at) {
				oldest, at = k, e.made
			}
		}
		delete(c.entries, oldest)
	}
}

func computeSnapshot(ctx context.Context, st store.Store, k domainsKey) (*snapshot, error) {
	first := k.asOf.Add(-time.Duration(k.t.Window-1) * 24 * time.Hour)
	var rs []query.Readiness
	var days []store.DayTotal
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		rs, err = query.Assess(gctx, st, nil, k.asOf, k.t)
		return err
	})
	g.Go(func() (err error) {
		days, err = st.DayTotals(gctx, store.Filter{Since: first, Until: k.asOf})
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	s := &snapshot{made: time.Now(), rows: make([]DomainRow, 0, len(rs))}
	for d := first; !d.After(k.asOf); d = d.Add(24 * time.Hour) {
		s.days = append(s.days, d.Format(time.DateOnly))
	}
	byDomain := map[string][]int{}
	for i, d := range days {
		byDomain[d.Domain] = append(byDomain[d.Domain], i)
	}
	nan := float32(math.NaN())
	for _, r := range rs {
		row := DomainRow{PolicyDomain: r.PolicyDomain, Verdict: r.Verdict, Reasons: r.Reasons, PolicyMode: r.PolicyMode,
			SuccessfulSessions: r.SuccessfulSessions, FailedSessions: r.FailedSessions, FailureRate: r.FailureRate,
			Reporters: r.Reporters, DaysCovered: r.DaysCovered, LastDay: r.LastDay,
			DailyFailureRate: make(rates, len(s.days))}
		for j := range row.DailyFailureRate {
			row.DailyFailureRate[j] = nan
		}
		for _, i := range byDomain[r.PolicyDomain] {
			d := days[i]
			if d.SuccessfulSessions+d.FailedSessions == 0 {
				continue
			}
			if j := int(d.Day.Sub(first) / (24 * time.Hour)); j >= 0 && j < len(s.days) {
				row.DailyFailureRate[j] = float32(query.Rate(d.FailedSessions, d.SuccessfulSessions+d.FailedSessions))
			}
		}
		s.rows = append(s.rows, row)
	}
	slices.SortFunc(s.rows, func(a, b DomainRow) int { return cmp.Compare(a.PolicyDomain, b.PolicyDomain) })
	return s, nil
}

// domainSorts are the columns the domains page sorts by.
var domainSorts = map[string]func(a, b *DomainRow) int{
	"policy_domain": func(a, b *DomainRow) int { return 0 },
	"verdict": func(a, b *DomainRow) int {
		return cmp.Compare(verdictRank(a.Verdict), verdictRank(b.Verdict))
	},
	"failure_rate":        func(a, b *DomainRow) int { return cmp.Compare(a.FailureRate, b.FailureRate) },
	"failed_sessions":     func(a, b *DomainRow) int { return cmp.Compare(a.FailedSessions, b.FailedSessions) },
	"successful_sessions": func(a, b *DomainRow) int { return cmp.Compare(a.SuccessfulSessions, b.SuccessfulSessions) },
	"reporters":           func(a, b *DomainRow) int { return cmp.Compare(a.Reporters, b.Reporters) },
	"last_day":            func(a, b *DomainRow) int { return cmp.Compare(a.LastDay, b.LastDay) },
	"policy_mode":         func(a, b *DomainRow) int { return cmp.Compare(a.PolicyMode, b.PolicyMode) },
}

// verdictRank orders verdicts by how much they need an operator: not
// ready first when sorted descending.
func verdictRank(v query.Verdict) int {
	switch v {
	case query.NotReady:
		return 2
	case query.InsufficientData:
		return 1
	}
	return 0
}

// domainsAnswer is the API's domains page.
type domainsAnswer struct {
	Window         int            `json:"window"`
	AsOf           string         `json:"as_of"`
	Days           []string       `json:"days"`
	NewestReportID int64          `json:"newest_report_id"`
	Total          int            `json:"total"`
	Verdicts       map[string]int `json:"verdicts"`
	Matched        int            `json:"matched"`
	Offset         int            `json:"offset"`
	Limit          int            `json:"limit"`
	Domains        []DomainRow    `json:"domains"`
}

// domainList is the domains page: every policy domain with reports in the
// window, its verdict (readiness with the same window and as_of) and daily
// failure rate; q searches domain names, verdict filters, sort and order
// sort, offset and limit page.
func (h *Handler) domainList(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	t, asOf, err := h.readinessParams(p)
	if err != nil {
		return err
	}
	if t != h.withWindow(t.Window) {
		return apiErrorf(http.StatusBadRequest, "domains takes window and as_of; the other thresholds are the dashboard's (tlsrpt web --min-days ...)")
	}
	limit, err := p.int("limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	offset, err := p.int("offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	sortBy := p.str("sort")
	if sortBy == "" {
		sortBy = "verdict"
	}
	less, ok := domainSorts[sortBy]
	if !ok {
		names := make([]string, 0, len(domainSorts))
		for n := range domainSorts {
			names = append(names, n)
		}
		slices.Sort(names)
		return badParam("sort", fmt.Errorf("%q: want one of %s", sortBy, strings.Join(names, ", ")))
	}
	order := p.str("order")
	switch order {
	case "":
		order = "desc"
		if sortBy == "policy_domain" || sortBy == "policy_mode" {
			order = "asc"
		}
	case "asc", "desc":
	default:
		return badParam("order", fmt.Errorf("%q: want asc or desc", order))
	}
	verdicts := p.list("verdict")
	for _, v := range verdicts {
		if v != string(query.Ready) && v != string(query.NotReady) && v != string(query.InsufficientData) {
			return badParam("verdict", fmt.Errorf("%q: want ready, not-ready or insufficient-data", v))
		}
	}
	search := strings.ToLower(strings.TrimSpace(p.str("q")))
	s, err := h.domains.get(r.Context(), h.domainsKey(t.Window, asOf))
	if err != nil {
		return err
	}
	a := domainsAnswer{Window: t.Window, AsOf: asOf.UTC().Format(time.DateOnly), Days: s.days, NewestReportID: s.newest,
		Total: len(s.rows), Verdicts: map[string]int{}, Offset: offset, Limit: limit, Domains: []DomainRow{}}
	matched := make([]*DomainRow, 0, len(s.rows))
	for i := range s.rows {
		row := &s.rows[i]
		a.Verdicts[string(row.Verdict)]++
		if search != "" && !strings.Contains(row.PolicyDomain, search) {
			continue
		}
		if len(verdicts) > 0 && !slices.Contains(verdicts, string(row.Verdict)) {
			continue
		}
		matched = append(matched, row)
	}
	slices.SortStableFunc(matched, func(x, y *DomainRow) int {
		c := less(x, y)
		if order == "desc" {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(x.PolicyDomain, y.PolicyDomain))
	})
	a.Matched = len(matched)
	for i := offset; i < len(matched) && i < offset+limit; i++ {
		a.Domains = append(a.Domains, *matched[i])
	}
	return writeJSON(w, a)
}

func (h *Handler) withWindow(window int) query.Thresholds {
	t := h.o.Thresholds
	t.Window = window
	return t
}
