package inflate

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func gz(t testing.TB, data []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// payloads covers the shapes that make an encoder choose each block type
// and code length: nothing, one byte, text, JSON reports, random bytes,
// long runs, and skewed byte frequencies that need codes up to 15 bits.
func payloads(t testing.TB) map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 70000)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	skewed := make([]byte, 200000)
	for i := range skewed {
		// Geometric frequencies: byte k about twice as rare as k-1.
		k := 0
		for r.Uint32()&1 == 0 && k < 40 {
			k++
		}
		skewed[i] = byte(k * 5)
	}
	fib := []byte{}
	a, b := 1, 1
	for s := 0; s < 24; s++ { // Fibonacci frequencies: the deepest trees
		fib = append(fib, bytes.Repeat([]byte{byte('a' + s)}, a)...)
		a, b = b, a+b
	}
	r.Shuffle(len(fib), func(i, j int) { fib[i], fib[j] = fib[j], fib[i] })
	p := map[string][]byte{
		"empty":  {},
		"byte":   {'x'},
		"text":   bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 300),
		"random": random,
		"skewed": skewed,
		"fib":    fib,
		"run":    bytes.Repeat([]byte{0}, 100000),
		"period": bytes.Repeat([]byte("ab"), 40000),
	}
	// Matches overlapping their source by each distance up to a word and
	// past it: each copied its own way.
	for period := 1; period <= 9; period++ {
		p[fmt.Sprintf("period %d", period)] = bytes.Repeat([]byte("abcdefghi")[:period], 3000/period)
	}
	files, _ := filepath.Glob("../../testdata/*/*.json")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p[filepath.Base(f)] = data
	}
	return p
}

func TestGunzipMatchesTheStandardLibrary(t *testing.T) {
	var d Decoder
	for name, data := range payloads(t) {
		for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, 5, flate.BestCompression} {
			z := gz(t, data, level)
			got, err := d.Gunzip(nil, z, len(data))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s at level %d: %d bytes, %v; want %d bytes", name, level, len(got), err, len(data))
			}
		}
	}
}

// Inflate decodes into whatever room dst has: none (grown as it goes, the
// careful way until there is room for the fast one), exactly the output's
// (the last steps careful), or plenty. The bytes after the output in dst's
// room may be overwritten, those before it never.
func TestInflateIntoAnyRoom(t *testing.T) {
	var d Decoder
	for name, data := range payloads(t) {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, 6)
		w.Write(data)
		w.Close()
		for _, room := range []int{0, len(data), len(data) + 4096} {
			dst := append(make([]byte, 0, 3+room), "pre"...)
			got, used, err := d.Inflate(dst, b.Bytes(), 3+len(data))
			if err != nil || used != b.Len() || string(got[:3]) != "pre" || !bytes.Equal(got[3:], data) {
				t.Errorf("%s with room for %d: %d bytes, %d of %d used, %v", name, room, len(got)-3, used, b.Len(), err)
			}
		}
	}
}

// Short inputs are sent with the fixed codes, whose table has a symbol for
// every byte value: each one, alone and in a short text.
func TestGunzipEveryByteValue(t *testing.T) {
	var d Decoder
	for b := range 256 {
		for _, data := range [][]byte{{byte(b)}, bytes.Repeat([]byte{byte(b), 'a', byte(255 - b)}, 5)} {
			for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.BestCompression} {
				got, err := d.Gunzip(nil, gz(t, data, level), len(data))
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%x at level %d: %x, %v", data, level, got, err)
				}
			}
		}
	}
}

func TestGunzipHeaderFieldsAndMembers(t *testing.T) {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Name, w.Comment, w.Extra = "report.json", "a comment", []byte("extra")
	w.Write([]byte(`{"a":1}`))
	w.Close()
	w = gzip.NewWriter(&b)
	w.Write([]byte(`{"b":2}`))
	w.Close()
	var d Decoder
	got, err := d.Gunzip([]byte("kept:"), b.Bytes(), 14)
	if err != nil || string(got) != `kept:{"a":1}{"b":2}` {
		t.Fatalf("got %q, %v", got, err)
	}
	// FHCRC: a header checksum, checked as compress/gzip checks it (a
	// wrong one is among headerCases).
	h := gz(t, []byte("x"), 6)
	withCRC := bytes.Clone(h[:10])
	withCRC[3] |= 0x02
	withCRC = binary.LittleEndian.AppendUint16(withCRC, uint16(crc32.ChecksumIEEE(withCRC)))
	withCRC = append(withCRC, h[10:]...)
	if got, err := d.Gunzip(nil, withCRC, 1); err != nil || string(got) != "x" {
		t.Errorf("with FHCRC: %q, %v", got, err)
	}
	// Reserved flags: RFC 1952 section 2.3.1 says refuse, Go's
	// compress/gzip ignores them, and so does this.
	reserved := bytes.Clone(h)
	reserved[3] |= 0xe0
	if got, err := d.Gunzip(nil, reserved, 1); err != nil || string(got) != "x" {
		t.Errorf("with reserved flags: %q, %v", got, err)
	}
}

func TestGunzipLimit(t *testing.T) {
	var d Decoder
	for _, level := range []int{flate.NoCompression, flate.BestSpeed, flate.HuffmanOnly} {
		data := bytes.Repeat([]byte("0123456789"), 1000)
		z := gz(t, data, level)
		if _, err := d.Gunzip(nil, z, len(data)); err != nil {
			t.Errorf("level %d: exactly the limit: %v", level, err)
		}
		if got, err := d.Gunzip(nil, z, len(data)-1); !errors.Is(err, ErrTooLarge) || len(got) > len(data)-1 {
			t.Errorf("level %d: one byte over: %d bytes, %v", level, len(got), err)
		}
		// Room past the limit changes nothing.
		roomy := make([]byte, 0, 2*len(data))
		if got, err := d.Gunzip(roomy, z, len(data)-1); !errors.Is(err, ErrTooLarge) || len(got) > len(data)-1 {
			t.Errorf("level %d: one byte over, with room: %d bytes, %v", level, len(got), err)
		}
	}
	// A bomb: 1 GB of zeros would be about 1 MB of stream; 64 KiB of
	// stream already expands past the limit, and stops there.
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for range 64 {
		w.Write(zeros)
	}
	w.Close()
	got, err := d.Gunzip(nil, b.Bytes(), 1<<20)
	if !errors.Is(err, ErrTooLarge) || len(got) > 1<<20 {
		t.Errorf("bomb: %d bytes, %v", len(got), err)
	}
}

func TestGunzipRefusesBrokenStreams(t *testing.T) {
	var d Decoder
	z := gz(t, payloads(t)["text"], 6)
	for n := range len(z) {
		if _, err := d.Gunzip(nil, z[:n], 1<<20); err == nil {
			t.Fatalf("prefix of %d bytes of %d accepted", n, len(z))
		}
	}
	flip := func(i int, mask byte) []byte {
		c := bytes.Clone(z)
		c[i] ^= mask
		return c
	}
	for name, c := range map[string][]byte{
		"magic":     flip(0, 1),
		"method":    flip(2, 1),
		"crc":       flip(len(z)-8, 1),
		"size":      flip(len(z)-4, 1),
		"trailing":  append(bytes.Clone(z), 'x'),
		"blocktype": append(append(bytes.Clone(z[:10]), 0x07), z[11:]...), // BTYPE 11
	} {
		_, err := d.Gunzip(nil, c, 1<<20)
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// agree fails t unless a decoder's result (got, gotErr) agrees with the
// standard library's (want, err, read up to limit+1 bytes): the same bytes
// when it accepts, an error when it refuses, ErrTooLarge over the limit.
func agree(t *testing.T, want []byte, err error, got []byte, gotErr error, limit int) {
	t.Helper()
	switch {
	case err != nil && gotErr == nil:
		t.Fatalf("accepted what the standard library refuses (%v): %d bytes", err, len(got))
	case err == nil && len(want) > limit:
		if !errors.Is(gotErr, ErrTooLarge) {
			t.Fatalf("over the limit: %v", gotErr)
		}
	case err == nil && (gotErr != nil || !bytes.Equal(got, want)):
		t.Fatalf("standard library: %d bytes; here %d bytes, %v", len(want), len(got), gotErr)
	}
}

func FuzzGunzip(f *testing.F) {
	for _, data := range payloads(f) {
		if len(data) < 5000 {
			for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.BestCompression} {
				f.Add(gz(f, data, level))
			}
		}
	}
	for _, data := range headerCases(f) {
		f.Add(data)
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		zr, err := gzip.NewReader(bytes.NewReader(data))
		var want []byte
		if err == nil {
			want, err = io.ReadAll(io.LimitReader(zr, limit+1))
		}
		got, gotErr := d.Gunzip(nil, data, limit)
		agree(t, want, err, got, gotErr, limit)
	})
}

// FuzzRoundTrip compresses what the fuzzer makes up, so that valid streams
// of every shape are decoded, not only the broken ones FuzzGunzip mostly
// makes.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello, hello, hello"), 6)
	f.Add([]byte{}, 0)
	var d Decoder
	f.Fuzz(func(t *testing.T, data []byte, level int) {
		level = (level%11+11)%11 - 2 // HuffmanOnly (-2) to BestCompression (9)
		z := gz(t, data, level)
		got, err := d.Gunzip(nil, z, len(data))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("level %d: %d bytes, %v; want %d", level, len(got), err, len(data))
		}
	})
}

// FuzzInflate compares raw DEFLATE decoding with compress/flate. Without
// gzip's checksum, most changes the fuzzer makes to a valid stream leave a
// valid stream with other contents, so the two decoders' outputs are
// compared on streams of every shape, bit for bit.
func FuzzInflate(f *testing.F) {
	for _, data := range payloads(f) {
		if len(data) < 5000 {
			for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.BestCompression} {
				var b bytes.Buffer
				w, _ := flate.NewWriter(&b, level)
				w.Write(data)
				w.Close()
				f.Add(b.Bytes())
			}
		}
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		want, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(data)), limit+1))
		got, used, gotErr := d.Inflate(nil, data, limit)
		agree(t, want, err, got, gotErr, limit)
		if gotErr == nil && used > len(data) {
			t.Fatalf("used %d bytes of %d", used, len(data))
		}
	})
}

// headerCases are gzip members with optional header fields, valid or not,
// as compress/gzip takes them: a header checksum, names and comments at
// and past its 511-byte limit.
func headerCases(tb testing.TB) map[string][]byte {
	body := gz(tb, []byte(`{"report":"x"}`), flate.BestSpeed)
	member := func(flg byte, fields []byte, withCRC, badCRC bool) []byte {
		h := append([]byte{0x1f, 0x8b, 8, flg, 0, 0, 0, 0, 0, 255}, fields...)
		if withCRC {
			crc := uint16(crc32.ChecksumIEEE(h))
			if badCRC {
				crc++
			}
			h = binary.LittleEndian.AppendUint16(h, crc)
		}
		return append(h, body[10:]...)
	}
	name := func(n int) []byte { return append(bytes.Repeat([]byte("n"), n), 0) }
	return map[string][]byte{
		"header crc":           member(0x02, nil, true, false),
		"wrong header crc":     member(0x02, nil, true, true),
		"name and crc":         member(0x0a, name(20), true, false),
		"511-byte name":        member(0x08, name(511), false, false),
		"512-byte name":        member(0x08, name(512), false, false),
		"600-byte name":        member(0x08, name(600), false, false),
		"100 KB comment":       member(0x10, name(100<<10), false, false),
		"511-byte comment":     member(0x10, name(511), false, false),
		"truncated header crc": member(0x02, nil, false, false)[:10],
	}
}

// The header fields gzip -t and compress/gzip refuse are refused here too.
func TestGunzipHeaderFields(t *testing.T) {
	var d Decoder
	for name, data := range headerCases(t) {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		var want []byte
		if err == nil {
			want, err = io.ReadAll(zr)
		}
		got, gotErr := d.Gunzip(nil, data, 1<<16)
		if (err == nil) != (gotErr == nil) || !bytes.Equal(got, want) && err == nil {
			t.Errorf("%s: compress/gzip %q, %v; here %q, %v", name, want, err, got, gotErr)
		}
	}
}
