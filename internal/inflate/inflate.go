// Package inflate decompresses whole gzip members held in memory (RFC 1952
// around RFC 1951 DEFLATE) into memory, within a size limit.
//
// It exists for speed on small inputs: a TLS-RPT report is a gzip stream of
// a few hundred bytes to a few kilobytes, where a streaming decompressor's
// fixed costs (its window, its reader interface, building Huffman tables)
// are much of the work. Here the input is a byte slice read 8 bytes at a
// time, back references copy from the output itself, the output is sized
// once from the gzip trailer, and tables are built into fixed arrays of a
// reusable Decoder: on the benchmark report 3.25-3.35 us against 5.0-5.3 for
// klauspost/compress's reader (BenchmarkGunzip).
// Zip members still go through klauspost/compress.
//
// What it accepts is what Go's compress/gzip and compress/flate accept,
// byte for byte, headers included (a header checksum is checked; a name or
// comment over 511 bytes is refused, as compress/gzip's 512-byte buffer
// refuses it): FuzzGunzip and FuzzInflate compare the two on any input,
// seeded with such headers, FuzzRoundTrip decodes what compress/gzip
// writes, and TestGunzipHeaderFields checks the header cases one by one.
package inflate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"slices"
)

// Errors. A corrupt stream's error is a CorruptError, which matches
// ErrCorrupt.
var (
	ErrCorrupt   = errors.New("inflate: corrupt stream")
	ErrTruncated = errors.New("inflate: truncated stream")
	ErrTooLarge  = errors.New("inflate: output over the limit")
)

// A CorruptError says what is wrong with a stream.
type CorruptError string

func (e CorruptError) Error() string        { return "inflate: corrupt stream: " + string(e) }
func (e CorruptError) Is(target error) bool { return target == ErrCorrupt }

var errInvalidCode error = CorruptError("invalid Huffman code")

func corrupt(format string, args ...any) error {
	return CorruptError(fmt.Sprintf(format, args...))
}

// Table entries are uint32. The low six bits are how many bits the entry
// consumes (its code's length; a link's, the root's width), bits 6 to 9
// and 14 are flags, bits 10 to 13 a link's subtable width or a length's or
// distance's number of extra bits, and the high half is the value: a
// literal's byte, a length's or distance's base, a link's subtable start,
// a code-length symbol. Lengths and distances are decoded into their base
// and extra bits when the table is built (libdeflate's way), so the
// decoding loop looks up nothing else.
const (
	entBits    = 63      // mask of the bits consumed: six bits, which a 64-bit shift masks itself
	entLiteral = 1 << 14 // a literal byte
	entEnd     = 1 << 6  // the end-of-block symbol
	entBadSym  = 1 << 7  // a symbol the code may hold but never send; the symbol is the value
	entLink    = 1 << 8  // the entry points at a subtable
	entInvalid = 1 << 9  // no code has these bits
	subShift   = 10      // a link's subtable width or an extra-bit count, 4 bits from here
	litBits    = 9       // root table bits of the literal/length code
	distBits   = 7       // root table bits of the distance code
	lenBits    = 7       // the code-length code needs no subtables (RFC 1951 section 3.2.7)
	maxCodeLen = 15
	// fastRoom is the output room the fast loop needs for one step: the
	// longest match copied eight bytes at a time.
	fastRoom = 258 + 8
)

// A table decodes one canonical Huffman code. Sizes: zlib's enough tool
// bounds the root plus subtables of a 286-symbol code with a 9-bit root at
// 852 entries; the arrays leave room, and building checks anyway.
type table struct {
	ent  []uint32
	root uint
}

// Decoder holds the tables of one decompression at a time; keep one per
// goroutine (a sync.Pool of them) to avoid allocating them per stream.
type Decoder struct {
	lit, dist, clen table
	litArr          [2048]uint32
	distArr         [1024]uint32
	clenArr         [1 << lenBits]uint32
	lens            [286 + 30]uint8

	src   []byte
	pos   int    // next byte of src to load; may pass len(src) by zero padding
	bits  uint64 // loaded bits, least significant first
	nbits uint
}

// Gunzip decompresses src, one gzip member or several concatenated, and
// appends the result to dst. It refuses to produce more than max bytes,
// stopping as soon as the limit is passed.
func (d *Decoder) Gunzip(dst, src []byte, max int) ([]byte, error) {
	if len(src) == 0 {
		return dst, ErrTruncated
	}
	base := len(dst)
	for len(src) > 0 {
		start := len(dst)
		body, err := gzipHeader(src)
		if err != nil {
			return dst, err
		}
		// The trailer's size, if the stream is one member, lets the
		// output be allocated once, with the fast loop's room after it;
		// a stream may lie about it, so no more than DEFLATE's greatest
		// ratio (1032:1) and the limit allow.
		if len(src) >= 18 {
			want := min(int64(binary.LittleEndian.Uint32(src[len(src)-4:])), 1032*int64(len(src)), int64(base+max-len(dst)))
			if want >= 0 {
				dst = slices.Grow(dst, int(want)+fastRoom)
			}
		}
		var used int
		dst, used, err = d.Inflate(dst, src[body:], base+max)
		if err != nil {
			return dst, err
		}
		rest := src[body+used:]
		if len(rest) < 8 {
			return dst, ErrTruncated
		}
		if crc := binary.LittleEndian.Uint32(rest); crc != crc32.ChecksumIEEE(dst[start:]) {
			return dst, corrupt("gzip checksum mismatch")
		}
		if size := binary.LittleEndian.Uint32(rest[4:]); size != uint32(len(dst)-start) {
			return dst, corrupt("gzip size mismatch")
		}
		src = rest[8:]
	}
	return dst, nil
}

// gzipHeader returns the length of the member header at the start of src
// (RFC 1952 section 2.3).
func gzipHeader(src []byte) (int, error) {
	if len(src) < 10 {
		if len(src) >= 2 && (src[0] != 0x1f || src[1] != 0x8b) {
			return 0, corrupt("not a gzip header")
		}
		return 0, ErrTruncated
	}
	if src[0] != 0x1f || src[1] != 0x8b {
		return 0, corrupt("not a gzip header")
	}
	if src[2] != 8 {
		return 0, corrupt("gzip compression method %d, not deflate", src[2])
	}
	// Reserved flags are ignored, as Go's compress/gzip (and so the
	// reader this replaces) ignores them.
	flg := src[3]
	n := 10
	if flg&0x04 != 0 { // FEXTRA
		if len(src) < n+2 {
			return 0, ErrTruncated
		}
		n += 2 + int(binary.LittleEndian.Uint16(src[n:]))
	}
	for _, f := range []byte{0x08, 0x10} { // FNAME, FCOMMENT: zero-terminated
		if flg&f != 0 {
			if n > len(src) {
				return 0, ErrTruncated
			}
			i := 0
			for ; n+i < len(src) && src[n+i] != 0; i++ {
				// compress/gzip reads these into a 512-byte buffer and
				// refuses a longer one, terminator included.
				if i == maxHeaderString {
					return 0, corrupt("gzip header name or comment longer than %d bytes", maxHeaderString)
				}
			}
			n += i + 1
		}
	}
	if flg&0x02 != 0 { // FHCRC: the low 16 bits of the CRC-32 of the header before it
		if n+2 > len(src) {
			return 0, ErrTruncated
		}
		if uint16(crc32.ChecksumIEEE(src[:n])) != binary.LittleEndian.Uint16(src[n:]) {
			return 0, corrupt("gzip header checksum mismatch")
		}
		n += 2
	}
	if n > len(src) {
		return 0, ErrTruncated
	}
	return n, nil
}

// maxHeaderString is the longest name or comment compress/gzip accepts in
// a header, without its terminating zero.
const maxHeaderString = 511

// Inflate decompresses a raw DEFLATE stream (RFC 1951) from src, appending
// to dst, and returns how many bytes of src it used. dst's length may not
// pass max.
func (d *Decoder) Inflate(dst, src []byte, max int) ([]byte, int, error) {
	d.src, d.pos, d.bits, d.nbits = src, 0, 0, 0
	defer func() { d.src = nil }()
	start := len(dst) // back references may not reach before the stream
	for {
		if err := d.need(3); err != nil {
			return dst, 0, err
		}
		final := d.bits&1 != 0
		kind := (d.bits >> 1) & 3
		d.drop(3)
		var err error
		switch kind {
		case 0:
			dst, err = d.stored(dst, max)
		case 1:
			dst, err = d.huffman(dst, start, max, &fixedLit, &fixedDist)
		case 2:
			if err = d.dynamicTables(); err == nil {
				dst, err = d.huffman(dst, start, max, &d.lit, &d.dist)
			}
		default:
			err = corrupt("reserved block type")
		}
		if err != nil {
			return dst, 0, err
		}
		if final {
			break
		}
	}
	// Bytes loaded but not consumed go back; a partly used byte counts.
	used := d.pos - int(d.nbits/8)
	if used > len(src) {
		return dst, 0, ErrTruncated
	}
	return dst, used, nil
}

// refill loads bytes until at least 56 bits are held. Past the end of src
// it loads zero bytes; need and the end-of-stream check catch a stream
// that relies on them.
func (d *Decoder) refill() {
	d.pos, d.bits, d.nbits = load(d.src, d.pos, d.bits, d.nbits)
}

// load is refill on a bit buffer held in locals: 8 bytes at a time while
// src has them, then a byte at a time. nbits is always below 64; shifts by
// it are masked to say so, and the compiler then shifts with one
// instruction instead of testing for a shift of 64 or more. The same goes
// for entries' bit counts (entBits).
func load(src []byte, pos int, bitbuf uint64, nbits uint) (int, uint64, uint) {
	if pos+8 <= len(src) {
		bitbuf |= binary.LittleEndian.Uint64(src[pos:]) << (nbits & 63)
		return pos + int(63-nbits)>>3, bitbuf, nbits | 56
	}
	for nbits <= 56 {
		if pos < len(src) {
			bitbuf |= uint64(src[pos]) << (nbits & 63)
		}
		pos++
		nbits += 8
	}
	return pos, bitbuf, nbits
}

// need makes sure n bits are held and that they are real input, not the
// zero padding past the end.
func (d *Decoder) need(n uint) error {
	if d.nbits < n {
		d.refill()
	}
	if d.pos-int(d.nbits/8) > len(d.src) {
		return ErrTruncated
	}
	return nil
}

func (d *Decoder) drop(n uint) {
	d.bits >>= n
	d.nbits -= n
}

// overrun reports whether more bits were consumed than src holds.
func (d *Decoder) overrun() bool {
	return d.pos*8-int(d.nbits) > len(d.src)*8
}

// stored copies an uncompressed block (RFC 1951 section 3.2.4).
func (d *Decoder) stored(dst []byte, max int) ([]byte, error) {
	d.drop(d.nbits % 8)
	// Hand the whole bytes held back to src.
	d.pos -= int(d.nbits / 8)
	d.bits, d.nbits = 0, 0
	if d.pos+4 > len(d.src) {
		return dst, ErrTruncated
	}
	n := int(binary.LittleEndian.Uint16(d.src[d.pos:]))
	if nn := binary.LittleEndian.Uint16(d.src[d.pos+2:]); uint16(n) != ^nn {
		return dst, corrupt("stored block length does not match its complement")
	}
	d.pos += 4
	if d.pos+n > len(d.src) {
		return dst, ErrTruncated
	}
	if len(dst)+n > max {
		return dst, ErrTooLarge
	}
	dst = append(dst, d.src[d.pos:d.pos+n]...)
	d.pos += n
	return dst, nil
}

// The length and distance symbols' bases and extra bits (RFC 1951
// section 3.2.5).
var (
	lenBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase = [30]uint32{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
		4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// The table entries of each code's symbols, less the bits consumed.
var litVals, distVals, clenVals = func() (lit [288]uint32, dist [32]uint32, clen [19]uint32) {
	for sym := range lit {
		switch {
		case sym < 256:
			lit[sym] = uint32(sym)<<16 | entLiteral
		case sym == 256:
			lit[sym] = entEnd
		case sym-257 < len(lenBase):
			lit[sym] = uint32(lenBase[sym-257])<<16 | uint32(lenExtra[sym-257])<<subShift
		default:
			lit[sym] = uint32(sym)<<16 | entBadSym
		}
	}
	for sym := range dist {
		if sym < len(distBase) {
			dist[sym] = distBase[sym]<<16 | uint32(distExtra[sym])<<subShift
		} else {
			dist[sym] = uint32(sym)<<16 | entBadSym
		}
	}
	for sym := range clen {
		clen[sym] = uint32(sym) << 16
	}
	return
}()

// huffman decodes a compressed block with the literal/length code lit and
// distance code dist (RFC 1951 section 3.2.5). The bit buffer is kept in
// locals for the loop, where the compiler holds it in registers.
//
// While the output has room for the longest match and the input holds 16
// more bytes, a step takes the fast way: refills read eight real bytes
// without checks, up to two literals are decoded per refill, and matches
// are copied eight bytes at a time, writing past their end into the room.
// Otherwise a step takes the careful way, growing the output by append
// and checking every limit.
func (d *Decoder) huffman(dst []byte, start, max int, lit, dist *table) ([]byte, error) {
	src, pos, bitbuf, nbits := d.src, d.pos, d.bits, d.nbits
	litEnt, distEnt := lit.ent, dist.ent
	litMask, distMask := uint64(1)<<lit.root-1, uint64(1)<<dist.root-1
	o := len(dst)
	out := dst[:outLen(dst, max)]
	var err error
	for {
		if o+fastRoom <= len(out) && pos+16 <= len(src) {
			// 15 bits of code and 5 extra for a length, 15 and 13 for a
			// distance: 48 of the 56 a refill leaves. (A constant-length
			// slice spares the compiler's handling of an empty one.)
			bitbuf |= binary.LittleEndian.Uint64(src[pos:pos+8]) << (nbits & 63)
			pos += int(63-nbits) >> 3
			nbits |= 56
			var e uint32
			e, bitbuf, nbits = lookup(litEnt, litMask, bitbuf, nbits)
			if e&entLiteral != 0 {
				out[o] = byte(e >> 16)
				o++
				// 41 bits left: enough for another code, not for a match.
				e, bitbuf, nbits = lookup(litEnt, litMask, bitbuf, nbits)
				if e&entLiteral != 0 {
					out[o] = byte(e >> 16)
					o++
					continue
				}
				bitbuf |= binary.LittleEndian.Uint64(src[pos:pos+8]) << (nbits & 63)
				pos += int(63-nbits) >> 3
				nbits |= 56
			}
			if e&(entEnd|entBadSym|entInvalid) != 0 {
				err = litStop(e)
				break
			}
			var n, back int
			n, bitbuf, nbits = value(e, bitbuf, nbits)
			e, bitbuf, nbits = lookup(distEnt, distMask, bitbuf, nbits)
			if e&(entBadSym|entInvalid) != 0 {
				err = distStop(e)
				break
			}
			back, bitbuf, nbits = value(e, bitbuf, nbits)
			if back > o-start {
				err = corrupt("distance %d reaches before the start", back)
				break
			}
			from := o - back
			switch {
			case back >= 8:
				// Each word read lies before the word written.
				for i := 0; i < n; i += 8 {
					binary.LittleEndian.PutUint64(out[o+i:], binary.LittleEndian.Uint64(out[from+i:]))
				}
			case back == 1:
				w := uint64(out[from]) * 0x0101010101010101
				for i := 0; i < n; i += 8 {
					binary.LittleEndian.PutUint64(out[o+i:], w)
				}
			default: // overlapping by less than a word: the last back bytes repeat
				for i := range n {
					out[o+i] = out[from+i]
				}
			}
			o += n
			continue
		}

		// The careful way, one symbol.
		dst = out[:o]
		if nbits < 48 {
			if pos, bitbuf, nbits = load(src, pos, bitbuf, nbits); pos > len(src)+16 {
				err = ErrTruncated
				break
			}
		}
		var e uint32
		e, bitbuf, nbits = lookup(litEnt, litMask, bitbuf, nbits)
		if e&entLiteral != 0 {
			if len(dst) >= max {
				err = ErrTooLarge
				break
			}
			dst = append(dst, byte(e>>16))
		} else {
			if e&(entEnd|entBadSym|entInvalid) != 0 {
				err = litStop(e)
				break
			}
			var n, back int
			n, bitbuf, nbits = value(e, bitbuf, nbits)
			e, bitbuf, nbits = lookup(distEnt, distMask, bitbuf, nbits)
			if e&(entBadSym|entInvalid) != 0 {
				err = distStop(e)
				break
			}
			back, bitbuf, nbits = value(e, bitbuf, nbits)
			if back > len(dst)-start {
				err = corrupt("distance %d reaches before the start", back)
				break
			}
			if len(dst)+n > max {
				err = ErrTooLarge
				break
			}
			from := len(dst) - back
			if back >= n {
				dst = append(dst, dst[from:from+n]...)
			} else {
				for i := range n {
					dst = append(dst, dst[from+i])
				}
			}
		}
		o = len(dst)
		out = dst[:outLen(dst, max)]
	}
	d.pos, d.bits, d.nbits = pos, bitbuf, nbits
	if err == nil && d.overrun() {
		err = ErrTruncated
	}
	return out[:o], err
}

// outLen is how far the output may be written without growing it: its
// capacity, but not past limit.
func outLen(dst []byte, limit int) int {
	return min(cap(dst), max(limit, len(dst)))
}

// lookup decodes the entry of the next code of the table ent, whose root is
// mask+1 entries wide, from a bit buffer held in locals, which must hold
// 15 bits, and consumes the code. Entries without a code consume nothing.
// Small enough to be inlined into the loops that call it.
func lookup(ent []uint32, mask uint64, bitbuf uint64, nbits uint) (uint32, uint64, uint) {
	e := ent[bitbuf&mask]
	if e&entLink != 0 {
		bitbuf >>= e & entBits
		nbits -= uint(e & entBits)
		e = ent[e>>16+uint32(bitbuf&(1<<(e>>subShift&15)-1))]
	}
	return e, bitbuf >> (e & entBits), nbits - uint(e&entBits)
}

// value is a length's or distance's entry's base plus its extra bits,
// which it consumes.
func value(e uint32, bitbuf uint64, nbits uint) (int, uint64, uint) {
	extra := e >> subShift & 15
	return int(e>>16) + int(bitbuf&(1<<extra-1)), bitbuf >> extra, nbits - uint(extra)
}

// litStop is what a literal/length entry that is neither a literal nor a
// length means: the end of the block (nil) or an error.
func litStop(e uint32) error {
	switch {
	case e&entEnd != 0:
		return nil
	case e&entBadSym != 0:
		return corrupt("invalid length symbol %d", e>>16)
	}
	return errInvalidCode
}

// distStop is the error a distance entry that is not a distance means.
func distStop(e uint32) error {
	if e&entBadSym != 0 {
		return corrupt("invalid distance symbol %d", e>>16)
	}
	return errInvalidCode
}

// clenOrder is the order code-length code lengths are sent in (RFC 1951
// section 3.2.7).
var clenOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamicTables reads a dynamic block's code definitions and builds its
// tables (RFC 1951 section 3.2.7).
func (d *Decoder) dynamicTables() error {
	if err := d.need(14); err != nil {
		return err
	}
	nlit := int(d.bits&31) + 257
	ndist := int(d.bits>>5&31) + 1
	nclen := int(d.bits>>10&15) + 4
	d.drop(14)
	if nlit > 286 || ndist > 30 {
		return corrupt("%d literal/length or %d distance codes", nlit, ndist)
	}
	var clens [19]uint8
	for i := range nclen {
		if err := d.need(3); err != nil {
			return err
		}
		clens[clenOrder[i]] = uint8(d.bits & 7)
		d.drop(3)
	}
	d.clen.ent = d.clenArr[:]
	if err := d.clen.build(clens[:], lenBits, clenVals[:], false); err != nil {
		return err
	}
	lens := d.lens[:nlit+ndist]
	if err := d.codeLengths(lens); err != nil {
		return err
	}
	if lens[256] == 0 {
		return corrupt("no end-of-block code")
	}
	d.lit.ent = d.litArr[:]
	if err := d.lit.build(lens[:nlit], litBits, litVals[:], false); err != nil {
		return err
	}
	d.dist.ent = d.distArr[:]
	return d.dist.build(lens[nlit:], distBits, distVals[:], true)
}

// codeLengths reads the literal/length and distance code lengths with the
// code-length code, its bit buffer in locals as in huffman.
func (d *Decoder) codeLengths(lens []uint8) error {
	src, pos, bitbuf, nbits := d.src, d.pos, d.bits, d.nbits
	ent := d.clenArr[:]
	var err error
	for i := 0; i < len(lens); {
		if nbits < 14 { // a 7-bit code and 7 extra bits
			if pos, bitbuf, nbits = load(src, pos, bitbuf, nbits); pos > len(src)+16 {
				err = ErrTruncated
				break
			}
		}
		var e uint32
		e, bitbuf, nbits = lookup(ent, 1<<lenBits-1, bitbuf, nbits)
		if e&entInvalid != 0 {
			err = errInvalidCode
			break
		}
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				err = corrupt("repeat of no previous code length")
			}
			val, rep = lens[max(i-1, 0)], 3+int(bitbuf&3)
			bitbuf >>= 2
			nbits -= 2
		case 17:
			rep = 3 + int(bitbuf&7)
			bitbuf >>= 3
			nbits -= 3
		default:
			rep = 11 + int(bitbuf&127)
			bitbuf >>= 7
			nbits -= 7
		}
		if err == nil && i+rep > len(lens) {
			err = corrupt("code lengths repeat past their count")
		}
		if err != nil {
			break
		}
		if fill := lens[i : i+rep]; val == 0 {
			clear(fill)
		} else {
			for j := range fill {
				fill[j] = val
			}
		}
		i += rep
	}
	d.pos, d.bits, d.nbits = pos, bitbuf, nbits
	if err == nil && d.overrun() {
		err = ErrTruncated
	}
	return err
}

// build fills t for the canonical Huffman code with the given code lengths
// (RFC 1951 section 3.2.2), vals giving each symbol's entry, a root table
// of root bits and, for longer
// codes, subtables as wide as the codes under each root entry need. An
// over-subscribed code is refused; so is an incomplete one, except a code
// of a single symbol of length 1 and, for distances, no code at all, which
// zlib's encoder writes.
func (t *table) build(lens []uint8, root uint, vals []uint32, distances bool) error {
	// Lengths are 0 to 15 by construction. Most of a literal code's
	// symbols are unused (length 0) in runs, skipped eight at a time; two
	// tallies, added up after, halve the chain of increments that depend
	// on each other.
	var count, count2 [16]int
	for i := 0; i < len(lens); i += 8 {
		if i+8 <= len(lens) {
			if binary.LittleEndian.Uint64(lens[i:]) == 0 {
				continue
			}
			c := lens[i : i+8 : i+8]
			count[c[0]&15]++
			count2[c[1]&15]++
			count[c[2]&15]++
			count2[c[3]&15]++
			count[c[4]&15]++
			count2[c[5]&15]++
			count[c[6]&15]++
			count2[c[7]&15]++
			continue
		}
		for _, l := range lens[i:] {
			count[l&15]++
		}
	}
	for l := range count {
		count[l] += count2[l]
	}
	count[0] = 0
	maxLen := maxCodeLen
	for maxLen > 0 && count[maxLen] == 0 {
		maxLen--
	}
	t.root = root
	rootEnt := t.ent[: 1<<root : 1<<root]
	if maxLen == 0 {
		if !distances {
			return corrupt("a Huffman code with no symbols")
		}
		for i := range rootEnt {
			rootEnt[i] = entInvalid
		}
		return nil
	}
	left := 1
	for l := 1; l <= maxCodeLen; l++ {
		left = left<<1 - count[l]
		if left < 0 {
			return corrupt("over-subscribed Huffman code")
		}
	}
	if left > 0 && !(count[1] == 1 && maxLen == 1) {
		return corrupt("incomplete Huffman code")
	}
	// Symbols sorted by code length then value: canonical order.
	var offs [17]int
	for l := 1; l <= maxCodeLen; l++ {
		offs[l+1] = offs[l] + count[l]
	}
	var sorted [288]uint16
	for sym := 0; sym < len(lens); sym++ {
		if sym&7 == 0 && sym+8 <= len(lens) && binary.LittleEndian.Uint64(lens[sym:]) == 0 {
			sym += 7
			continue
		}
		if l := lens[sym] & 15; l != 0 {
			sorted[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	// Walk the codes in canonical order: within a length they count up,
	// and the first code of the next length is the last one plus one,
	// shifted left. DEFLATE sends codes most significant bit first, so
	// table indexes are the codes bit reversed. The root table is built
	// as wide as the current length, each code one entry, and doubled by
	// a copy before the next length (libdeflate's way): the bits above a
	// shorter code are don't-cares. Entries start invalid, which is what
	// the sibling of a single code of length 1 stays.
	rootEnt[0], rootEnt[1] = entInvalid, entInvalid
	size := 2
	var (
		code     uint32
		i        int
		next     = 1 << root // where the next subtable goes
		subStart int
		subBits  uint
		prefix   = ^uint32(0)
	)
	for l := 1; l <= maxLen; l++ {
		if l > 1 && uint(l) <= root {
			size += copy(rootEnt[size:], rootEnt[:size])
		}
		for k := count[l]; k > 0; k-- {
			sym := uint32(sorted[i])
			i++
			rev := (uint32(rev8[code&0xff])<<8 | uint32(rev8[code>>8&0xff])) >> (16 - l)
			code++
			if uint(l) <= root {
				rootEnt[rev] = vals[sym] | uint32(l)
				continue
			}
			if low := rev & (1<<root - 1); low != prefix {
				// A new subtable, as wide as the codes still to come
				// under this root entry need.
				prefix = low
				subBits = subtableBits(&count, l, k, root, maxLen)
				subStart = next
				next += 1 << subBits
				if next > len(t.ent) {
					return corrupt("Huffman code needs too large a table")
				}
				rootEnt[low] = uint32(subStart)<<16 | uint32(subBits)<<subShift | entLink | uint32(root)
			}
			e := vals[sym] | uint32(l-int(root))
			sub := t.ent[subStart : subStart+1<<subBits]
			for j := rev >> root; j < uint32(len(sub)); j += 1 << (l - int(root)) {
				sub[j] = e
			}
		}
		code <<= 1
	}
	for size < len(rootEnt) { // the longest code is shorter than the root
		size += copy(rootEnt[size:], rootEnt[:size])
	}
	return nil
}

// rev8 holds each byte bit reversed: two lookups reverse a code, cheaper
// than bits.Reverse32, which amd64 has no instruction for.
var rev8 = func() (t [256]uint8) {
	for i := range t {
		t[i] = bits.Reverse8(uint8(i))
	}
	return t
}()

// subtableBits returns the width of a subtable whose first code has length
// l, k codes of that length (this one included) still to be placed:
// starting from the code's own width, it grows while the codes still to
// come would not fill it (zlib's rule, inftrees.c).
func subtableBits(count *[16]int, l, k int, root uint, maxLen int) uint {
	cur := uint(l) - root
	space := 1<<cur - k
	for int(cur+root) < maxLen && space > 0 {
		cur++
		space = space<<1 - count[int(cur+root)]
	}
	return cur
}

// The fixed codes (RFC 1951 section 3.2.6), built once.
var fixedLit, fixedDist = func() (table, table) {
	var lens [288]uint8
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	lit := table{ent: make([]uint32, 2048)}
	if err := lit.build(lens[:], litBits, litVals[:], false); err != nil {
		panic(err)
	}
	// 32 codes of 5 bits: RFC 1951 defines 30 distance symbols, and the
	// decoder refuses 30 and 31.
	var dl [32]uint8
	for i := range dl {
		dl[i] = 5
	}
	dist := table{ent: make([]uint32, 1024)}
	if err := dist.build(dl[:], distBits, distVals[:], true); err != nil {
		panic(err)
	}
	return lit, dist
}()
