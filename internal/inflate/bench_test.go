package inflate

import (
	"bytes"
	"io"
	"os"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// BenchmarkGunzip inflates the 1.7 KB benchmark report (650 bytes
// gzipped) here and with klauspost/compress's reader, reused.
func BenchmarkGunzip(b *testing.B) {
	raw, err := os.ReadFile("../../testdata/bench/report.json")
	if err != nil {
		b.Fatal(err)
	}
	z := gz(b, raw, 6)
	b.Run("inflate", func(b *testing.B) {
		var d Decoder
		var out []byte
		for b.Loop() {
			if out, err = d.Gunzip(out[:0], z, 1<<20); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("klauspost", func(b *testing.B) {
		var zr kgzip.Reader
		var out bytes.Buffer
		for b.Loop() {
			zr.Reset(bytes.NewReader(z))
			out.Reset()
			if _, err := io.Copy(&out, &zr); err != nil {
				b.Fatal(err)
			}
		}
	})
}
