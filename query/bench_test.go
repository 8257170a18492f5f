package query_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/reportgen"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
)

// benchStore returns a store holding TLSRPT_BENCH_REPORTS generated reports
// (default 100,000) over 10,000 domains and 30 days. It is built once and
// kept in the temporary directory, since building 1,000,000 takes a minute.
func benchStore(b *testing.B) (*sqlite.DB, int) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("TLSRPT_BENCH_REPORTS")); err == nil && v > 0 {
		n = v
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("tlsrpt-bench-%d.db", n))
	ctx := context.Background()
	_, statErr := os.Stat(path)
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	if statErr == nil {
		return db, n
	}
	g := reportgen.New(reportgen.Options{Domains: 10_000, Days: 30})
	p := parse.New(parse.Limits{})
	for done := 0; done < n; {
		batch := make([]store.Input, 0, 2000)
		for ; len(batch) < cap(batch) && done < n; done++ {
			r, name := g.Next()
			data := r.JSON()
			rep, err := p.ParseReport(data)
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, store.Input{Data: data, Source: "bench", Origin: name, Reports: []*parse.Report{rep}})
		}
		if _, err := db.Ingest(ctx, batch); err != nil {
			os.Remove(path)
			b.Fatal(err)
		}
	}
	return db, n
}

func BenchmarkSummary(b *testing.B) {
	db, n := benchStore(b)
	defer db.Close()
	b.ResetTimer()
	for b.Loop() {
		s, err := query.Summarize(context.Background(), db, store.Filter{})
		if err != nil || len(s.Domains) == 0 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "reports")
}

func BenchmarkSummaryOneDomain(b *testing.B) {
	db, _ := benchStore(b)
	defer db.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, err := query.Summarize(context.Background(), db, store.Filter{Domains: []string{"d00042.example"}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadiness(b *testing.B) {
	db, n := benchStore(b)
	defer db.Close()
	// The generated reports end 2026-11-01.
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for b.Loop() {
		rs, err := query.Assess(context.Background(), db, nil, now, query.DefaultThresholds)
		if err != nil || len(rs) == 0 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "reports")
}

func BenchmarkSummaryBy(b *testing.B) {
	db, _ := benchStore(b)
	defer db.Close()
	for _, by := range []string{query.ByDay, query.ByResult, query.BySender, query.BySendingIP} {
		b.Run(by, func(b *testing.B) {
			for b.Loop() {
				v, err := query.SummarizeBy(context.Background(), db, by, store.Filter{})
				if err != nil || len(v.Rows) == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}
