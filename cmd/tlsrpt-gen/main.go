// Command tlsrpt-gen writes synthetic TLS reports for benchmarks, load tests
// and demos.
//
//	tlsrpt-gen -n 100000 -domains 10000 -out /tmp/reports
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tlsrpt/tlsrpt/internal/reportgen"
)

func main() {
	n := flag.Int("n", 1000, "number of reports")
	out := flag.String("out", "reports", "directory to write them to (created)")
	domains := flag.Int("domains", 1000, "distinct policy domains")
	days := flag.Int("days", 30, "days the reports spread over")
	seed := flag.Uint64("seed", 1, "random seed: the same seed writes the same reports")
	plain := flag.Bool("json", false, "write plain .json instead of .json.gz")
	flag.Parse()
	if err := run(*n, *out, *domains, *days, *seed, *plain); err != nil {
		fmt.Fprintln(os.Stderr, "tlsrpt-gen:", err)
		os.Exit(1)
	}
}

func run(n int, out string, domains, days int, seed uint64, plain bool) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	g := reportgen.New(reportgen.Options{Domains: domains, Days: days, Seed: seed})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for range n {
		r, name := g.Next()
		data := r.JSON()
		name = strings.ReplaceAll(name, " ", "_")
		if !plain {
			buf.Reset()
			zw.Reset(&buf)
			zw.Write(data)
			if err := zw.Close(); err != nil {
				return err
			}
			data, name = buf.Bytes(), name+".gz"
		}
		if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
