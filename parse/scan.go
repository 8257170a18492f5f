package parse

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// kind is the type of a JSON value, told by its first byte.
type kind uint8

const (
	kindInvalid kind = iota
	kindNull
	kindObject
	kindArray
	kindString
	kindNumber
	kindTrue
	kindFalse
)

var kindNames = [...]string{"invalid", "null", "object", "array", "string", "number", "true", "false"}

func (k kind) String() string { return kindNames[k] }

// kinds maps a value's first byte to its kind.
var kinds = func() (t [256]kind) {
	t['n'], t['{'], t['['], t['"'], t['t'], t['f'] = kindNull, kindObject, kindArray, kindString, kindTrue, kindFalse
	t['-'] = kindNumber
	for c := '0'; c <= '9'; c++ {
		t[c] = kindNumber
	}
	return t
}()

// scanner reads one JSON document (RFC 8259) front to back without building
// a tree: the report decoder pulls the values it wants and skips the rest.
// The grammar is RFC 8259's, with the leniency of the decoder it replaced
// (fastjson) where real senders might depend on it: control characters
// inside strings are taken as they are, and an unknown escape sequence or a
// lone surrogate is kept as written. Numbers are RFC 8259's only (fastjson
// also took NaN, Inf, "+1" and "01"; no sender is known to send them).
//
// After a syntax error or a document nested deeper than the limit, err is
// set, every read returns a zero value and nothing further is read.
type scanner struct {
	data     []byte
	pos      int
	depth    int
	maxDepth int
	err      error
	// scratch holds a string whose escapes were decoded, until the next one.
	scratch []byte
}

// syntax records a syntax error at the current position.
func (s *scanner) syntax(format string, args ...any) {
	if s.err != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if s.pos >= len(s.data) {
		s.err = fieldErr("", "not JSON: %s at the end of the input (offset %d)", msg, s.pos)
	} else {
		s.err = fieldErr("", "not JSON: %s at offset %d (%s)", msg, s.pos, quoteByte(s.data[s.pos]))
	}
	s.pos = len(s.data)
}

func quoteByte(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// ws skips whitespace. Indented reports have a line break and a run of
// spaces between tokens: runs of spaces are measured eight bytes at a
// time, the first byte that is not one found from the lowest set bit.
func (s *scanner) ws() {
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return // compact JSON: usually no whitespace at all
	}
	s.skipWS()
}

// skipWS is ws past its first byte, kept apart so that ws is inlined.
func (s *scanner) skipWS() {
	d, i := s.data, s.pos
	if i < len(d) && d[i] == '\n' { // the usual run: a line break, then spaces
		i++
	}
	for i+8 <= len(d) {
		v := binary.LittleEndian.Uint64(d[i:]) ^ ones*' '
		if v == 0 {
			i += 8
			continue
		}
		i += bits.TrailingZeros64(v) >> 3
		if c := d[i]; c != '\n' && c != '\r' && c != '\t' {
			s.pos = i
			return
		}
		i++
	}
	for i < len(d) {
		switch d[i] {
		case ' ', '\n', '\r', '\t':
			i++
			continue
		}
		break
	}
	s.pos = i
}

// kind skips whitespace and tells the kind of the value that follows,
// kindInvalid (and a syntax error) when none can.
func (s *scanner) kind() kind {
	s.ws()
	if s.err != nil {
		return kindInvalid
	}
	if s.pos >= len(s.data) {
		s.syntax("a value expected")
		return kindInvalid
	}
	k := kinds[s.data[s.pos]]
	if k == kindInvalid {
		s.syntax("a value expected")
	}
	return k
}

// enter consumes the opening bracket of an object or an array, which the
// caller has seen, counting the nesting depth against the limit.
func (s *scanner) enter() bool {
	if s.err != nil {
		return false
	}
	s.depth++
	if s.depth > s.maxDepth {
		// A bad report (400), not a large one: a report needs 5 levels.
		s.err = fieldErr("", "JSON nesting depth exceeds the limit of %d", s.maxDepth)
		s.pos = len(s.data)
		return false
	}
	s.pos++
	return true
}

// more reports whether the object or array being read, whose closing
// bracket is end, has another element, consuming the comma before it or
// the closing bracket after the last one. n counts the elements so far.
func (s *scanner) more(end byte, n int) bool {
	s.ws()
	if s.err != nil {
		return false
	}
	if s.pos < len(s.data) {
		c := s.data[s.pos]
		if c == end {
			s.pos++
			s.depth--
			return false
		}
		if n == 0 {
			return true
		}
		if c == ',' {
			s.pos++
			return true
		}
	}
	if end == '}' {
		s.syntax("',' or '}' expected")
	} else {
		s.syntax("',' or ']' expected")
	}
	return false
}

// key reads an object member's name and the colon after it. The name is
// valid until the next string is read.
func (s *scanner) key() []byte {
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		s.syntax("a member name expected")
		return nil
	}
	k := s.str()
	s.ws()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		s.syntax("':' expected")
		return nil
	}
	s.pos++
	return k
}

// str reads a string whose opening quote the caller has seen and returns
// its contents, escapes decoded. The bytes are valid until the next string
// is read.
func (s *scanner) str() []byte {
	if s.err != nil {
		return nil
	}
	d, start := s.data, s.pos+1
	i := start
	// Eight bytes at a time while none is a quote or a backslash; the
	// lowest set bit of the test marks the first that is (bits above it
	// may be false alarms).
	for i+8 <= len(d) {
		v := binary.LittleEndian.Uint64(d[i:])
		if m := hasZeroByte(v^(ones*'"')) | hasZeroByte(v^(ones*'\\')); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			goto stop
		}
		i += 8
	}
	for i < len(d) && !strStop[d[i]] {
		i++
	}
stop:
	if i < len(d) && d[i] == '"' {
		s.pos = i + 1
		return d[start:i]
	}
	if i >= len(d) {
		s.syntax("unterminated string")
		return nil
	}
	return s.escaped(start)
}

const ones = 0x0101010101010101

// hasZeroByte is non-zero when a byte of v is zero.
func hasZeroByte(v uint64) uint64 { return (v - ones) &^ v & (ones * 0x80) }

// strStop marks the bytes that end a string's plain run: a short loop
// over a table beats searching twice for reports' short strings.
var strStop = [256]bool{'"': true, '\\': true}

// escaped reads a string holding escape sequences from start, just past
// its opening quote, decoding them into scratch.
func (s *scanner) escaped(start int) []byte {
	b := s.scratch[:0]
	i := start
	for {
		j := i
		for j < len(s.data) && s.data[j] != '"' && s.data[j] != '\\' {
			j++
		}
		b = append(b, s.data[i:j]...)
		if j >= len(s.data) {
			s.pos = j
			s.syntax("unterminated string")
			return nil
		}
		if s.data[j] == '"' {
			s.pos = j + 1
			s.scratch = b
			return b
		}
		// A backslash: one escape sequence.
		if j+1 >= len(s.data) {
			s.pos = j + 1
			s.syntax("unterminated string")
			return nil
		}
		c := s.data[j+1]
		i = j + 2
		switch c {
		case '"', '\\', '/':
			b = append(b, c)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s.data[i:])
			if !ok {
				b = append(b, '\\', 'u') // kept as written
				break
			}
			i += 4
			if !utf16.IsSurrogate(r) {
				b = utf8.AppendRune(b, r)
				break
			}
			r2, ok := rune(0), false
			if i+6 <= len(s.data) && s.data[i] == '\\' && s.data[i+1] == 'u' {
				r2, ok = hex4(s.data[i+2:])
			}
			if !ok {
				b = append(b, s.data[i-6:i]...) // a lone surrogate, kept as written
				break
			}
			b = utf8.AppendRune(b, utf16.DecodeRune(r, r2))
			i += 6
		default:
			b = append(b, '\\', c) // an unknown escape, kept as written
		}
	}
}

// hex4 decodes four hexadecimal digits.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a number (RFC 8259 section 6) and returns its text.
func (s *scanner) number() []byte {
	if s.err != nil {
		return nil
	}
	d, start := s.data, s.pos
	i := start
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		i = digits(d, i)
	default:
		s.pos = i
		s.syntax("a digit expected")
		return nil
	}
	if i < len(d) && d[i] == '.' {
		if i+1 >= len(d) || d[i+1] < '0' || d[i+1] > '9' {
			s.pos = i + 1
			s.syntax("a digit expected")
			return nil
		}
		i = digits(d, i+1)
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			s.syntax("a digit expected")
			return nil
		}
		i = digits(d, i)
	}
	s.pos = i
	return d[start:i]
}

func digits(d []byte, i int) int {
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	return i
}

// literal reads true, false or null.
func (s *scanner) literal(word string) {
	if s.err != nil {
		return
	}
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		s.syntax("%q expected", word)
		return
	}
	s.pos += len(word)
}

// skip reads a value of any kind and drops it, checking its syntax and
// depth all the same.
func (s *scanner) skip() {
	switch s.kind() {
	case kindObject:
		if !s.enter() {
			return
		}
		for n := 0; s.more('}', n); n++ {
			s.key()
			s.skip()
		}
	case kindArray:
		if !s.enter() {
			return
		}
		for n := 0; s.more(']', n); n++ {
			s.skip()
		}
	case kindString:
		s.str()
	case kindNumber:
		s.number()
	case kindTrue:
		s.literal("true")
	case kindFalse:
		s.literal("false")
	case kindNull:
		s.literal("null")
	}
}

// end checks that nothing but whitespace follows the document.
func (s *scanner) end() {
	s.ws()
	if s.err == nil && s.pos < len(s.data) {
		s.syntax("end of the document expected")
	}
}
