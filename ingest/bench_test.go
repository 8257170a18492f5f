package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/internal/reportgen"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
)

// BenchmarkImport imports 5,000 generated .json.gz files into a new
// database per iteration. scripts/bench-import.sh measures 100,000 files and
// memory with the real binary.
func BenchmarkImport(b *testing.B) {
	const n = 5000
	dir := b.TempDir()
	g := reportgen.New(reportgen.Options{Domains: 1000})
	for range n {
		r, name := g.Next()
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(r.JSON())
		zw.Close()
		if err := os.WriteFile(filepath.Join(dir, name+".gz"), buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	p := parse.New(parse.Limits{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), fmt.Sprintf("%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		stats, err := ingest.Import(context.Background(), db, p, ingest.ImportOptions{Paths: []string{dir}})
		if err != nil || stats.Stored != n {
			b.Fatalf("stats %+v, %v", stats, err)
		}
		db.Close()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "reports/s")
}
