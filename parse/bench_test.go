package parse_test

import (
	"os"
	"testing"

	"github.com/tlsrpt/tlsrpt/parse"
)

// benchReport is a 1.7 KB report with three failure details (the RFC 8460
// example's shape), gzipped as senders send it.
func benchReport(b *testing.B) []byte {
	raw, err := os.ReadFile("../testdata/bench/report.json")
	if err != nil {
		b.Fatal(err)
	}
	return gz(b, raw)
}

func BenchmarkParseGzip(b *testing.B) {
	data := benchReport(b)
	p := parse.New(parse.Limits{})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.ParseReport(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
}

func BenchmarkParseMessage(b *testing.B) {
	data, err := os.ReadFile("../testdata/mail/base64-tlsrpt-gzip.eml")
	if err != nil {
		b.Fatal(err)
	}
	p := parse.New(parse.Limits{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseJSON is BenchmarkParseGzip without the gunzip: the JSON
// decoder's share.
func BenchmarkParseJSON(b *testing.B) {
	data, err := os.ReadFile("../testdata/bench/report.json")
	if err != nil {
		b.Fatal(err)
	}
	p := parse.New(parse.Limits{})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.ParseReport(data); err != nil {
			b.Fatal(err)
		}
	}
}
