package query_test

import (
	"context"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
)

func benchStore(b *testing.B) (*sqlite.DB, int) { return testkit.BenchStore(b) }

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
