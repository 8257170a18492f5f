package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/web"
)

// The generated benchmark reports end 2026-11-01; TLSRPT_BENCH_REPORTS=1000000
// selects the million-report, 10,000-domain store of the figures.
var benchNow = func() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) }

func serve(b *testing.B, h http.Handler, path string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
	}
}

// BenchmarkDomainsAPI is the domains page's request: computed (first, the
// view not yet in memory), and answered from the view in memory (what every
// later request and poll gets while no report arrives).
func BenchmarkDomainsAPI(b *testing.B) {
	st, _ := testkit.BenchStore(b)
	defer st.Close()
	const path = "/api/v1/domains?sort=failure_rate&limit=50"
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			h, err := web.New(st, web.Options{Now: benchNow})
			if err != nil {
				b.Fatal(err)
			}
			serve(b, h, path)
		}
	})
	h, err := web.New(st, web.Options{Now: benchNow})
	if err != nil {
		b.Fatal(err)
	}
	serve(b, h, path)
	b.Run("in-memory", func(b *testing.B) {
		for b.Loop() {
			serve(b, h, path)
		}
	})
	b.Run("in-memory-search", func(b *testing.B) {
		for b.Loop() {
			serve(b, h, "/api/v1/domains?q=d0004&sort=policy_domain&verdict=not-ready")
		}
	})
}

// BenchmarkDomainPageAPI is the requests a domain page makes (30 days),
// one after the other; the page makes them at once.
func BenchmarkDomainPageAPI(b *testing.B) {
	st, _ := testkit.BenchStore(b)
	defer st.Close()
	h, err := web.New(st, web.Options{Now: benchNow})
	if err != nil {
		b.Fatal(err)
	}
	const f = "domain=d00042.example&since=2026-10-03&until=2026-11-01"
	paths := []string{
		"/api/v1/summary?by=day&" + f,
		"/api/v1/summary?" + f,
		"/api/v1/readiness?domain=d00042.example&as_of=2026-11-01",
		"/api/v1/readiness?domain=d00042.example&window=30&as_of=2026-11-01",
		"/api/v1/summary?by=sender&" + f,
		"/api/v1/summary?by=sending-ip&" + f,
		"/api/v1/failures?limit=25&" + f,
	}
	for b.Loop() {
		for _, p := range paths {
			serve(b, h, p)
		}
	}
}
