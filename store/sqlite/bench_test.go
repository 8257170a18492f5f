package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

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
	const batchSize = 512
	next := sqlite.GeneratedBatches(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		batch := next(batchSize)
		b.StartTimer()
		if _, err := db.Ingest(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "reports/s")
}
