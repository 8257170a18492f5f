package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reportgen"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
)

// BenchmarkIngest measures the store's write path alone: generated reports,
// parsed beforehand, committed 512 to a transaction into a growing database.
func BenchmarkIngest(b *testing.B) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	g := reportgen.New(reportgen.Options{Domains: 10_000})
	p := parse.New(parse.Limits{})
	const batchSize = 512
	makeBatch := func() []store.Input {
		batch := make([]store.Input, batchSize)
		for i := range batch {
			r, name := g.Next()
			data := r.JSON()
			rep, err := p.ParseReport(data)
			if err != nil {
				b.Fatal(err)
			}
			batch[i] = store.Input{Data: data, Source: "bench", Origin: name, Reports: []*parse.Report{rep}}
		}
		return batch
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		batch := makeBatch()
		b.StartTimer()
		if _, err := db.Ingest(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "reports/s")
}
