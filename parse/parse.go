package parse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strings"
	"sync"

	"github.com/klauspost/compress/zip"

	"github.com/tlsrpt/tlsrpt/internal/inflate"
)

// Parser decodes inputs within its limits. It is safe for concurrent use.
type Parser struct {
	lim Limits
}

// New returns a Parser; zero fields of lim take their defaults.
func New(lim Limits) *Parser {
	return &Parser{lim: lim.withDefaults()}
}

// Limits returns the limits in force, defaults filled in.
func (p *Parser) Limits() Limits { return p.lim }

// Item is one report found in an input, or why the place that should have
// held one did not.
type Item struct {
	// Name says where in the input the report was: an attachment's file
	// name, a zip member, or empty for a bare report.
	Name   string
	Report *Report
	Err    error
}

// Format is the outer form an input arrived in.
type Format string

// Input formats, as sniffed from the bytes.
const (
	FormatJSON    Format = "json"
	FormatGzip    Format = "gzip"
	FormatZip     Format = "zip"
	FormatMessage Format = "message"
	FormatUnknown Format = "unknown"
)

// Sniff tells the form of data from its first bytes, whatever it is labelled.
func Sniff(data []byte) Format {
	switch {
	case len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b:
		return FormatGzip
	case bytes.HasPrefix(data, []byte("PK\x03\x04")), bytes.HasPrefix(data, []byte("PK\x05\x06")):
		return FormatZip
	}
	sc := scanner{data: bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))}
	if sc.ws(); sc.pos < len(sc.data) && sc.data[sc.pos] == '{' {
		return FormatJSON
	}
	if looksLikeMessage(data) {
		return FormatMessage
	}
	return FormatUnknown
}

// looksLikeMessage reports whether data starts like an RFC 5322 message: a
// header field "Name: value", or an mbox "From " separator line.
func looksLikeMessage(data []byte) bool {
	if bytes.HasPrefix(data, []byte("From ")) {
		return true
	}
	line := data
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	for _, c := range line[:colon] {
		// RFC 5322 section 2.2: printable US-ASCII except the colon.
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// Parse decodes every report in data. The error is non-nil when the input as
// a whole is refused: ErrTooLarge, ErrNotReport, ErrNoReport, or (for a bare
// report) the report's own error. Otherwise each Item carries a report or the
// error of the place that should have held one.
func (p *Parser) Parse(data []byte) ([]Item, error) {
	if int64(len(data)) > p.lim.MaxInput {
		return nil, &LimitError{What: "input", Limit: p.lim.MaxInput}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: input is empty", ErrNotReport)
	}
	switch f := Sniff(data); f {
	case FormatMessage:
		return p.message(data, p.newBudget())
	case FormatUnknown:
		return nil, fmt.Errorf("%w: input is not JSON, gzip, zip or a mail message (starts with %q)", ErrNotReport, head(data))
	default:
		items, err := p.payload(data, "", 0, p.newBudget())
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return nil, fmt.Errorf("%w: %s archive holds no report", ErrNoReport, f)
		}
		if len(items) == 1 && items[0].Err != nil && f != FormatZip {
			return nil, items[0].Err
		}
		return items, nil
	}
}

// ParseReport decodes a single bare report (JSON, or gzip JSON).
func (p *Parser) ParseReport(data []byte) (*Report, error) {
	items, err := p.Parse(data)
	if err != nil {
		return nil, err
	}
	if len(items) != 1 {
		return nil, fmt.Errorf("%w: input holds %d reports, not one", ErrInvalid, len(items))
	}
	return items[0].Report, items[0].Err
}

// budget is what one input may still decompress, across every layer and
// member, and how deep in gzip layers the decoding is: a body nested in
// gzip seven times must not get seven times the limit, nor keep seven
// buffers alive at once.
type budget struct {
	left   int64
	layers int // gzip layers around what is being decoded
}

func (p *Parser) newBudget() *budget { return &budget{left: p.lim.MaxDecompressed} }

// take counts n decompressed bytes against the budget.
func (b *budget) take(n int) { b.left -= int64(n) }

// payload decodes data that should be a report: JSON, gzip or zip, sniffed
// from its bytes. It returns no items when data is none of them.
func (p *Parser) payload(data []byte, name string, nest int, b *budget) ([]Item, error) {
	if nest > p.lim.MaxNesting {
		return nil, &LimitError{What: "nesting of archives and messages", Limit: int64(p.lim.MaxNesting)}
	}
	switch Sniff(data) {
	case FormatJSON:
		if int64(len(data)) > p.lim.MaxReport {
			return []Item{{Name: name, Err: &LimitError{What: "report", Limit: p.lim.MaxReport}}}, nil
		}
		r, err := decodeJSON(data, p.lim)
		return []Item{{Name: name, Report: r, Err: err}}, nil
	case FormatGzip:
		// No sender compresses twice over; more layers are only a way to
		// multiply the work.
		if b.layers >= p.lim.MaxGzipLayers {
			return nil, &LimitError{What: "gzip layers", Limit: int64(p.lim.MaxGzipLayers)}
		}
		buf, err := p.gunzip(data, b)
		if err != nil {
			return []Item{{Name: name, Err: err}}, nil
		}
		defer putBuffer(buf)
		b.layers++
		items, err := p.payload(buf.b, name, nest+1, b)
		b.layers--
		if err == nil && len(items) == 0 {
			items = []Item{{Name: name, Err: fieldErr("", "gzip stream does not hold JSON (starts with %q)", head(buf.b))}}
		}
		return items, err
	case FormatZip:
		return p.unzip(data, name, nest, b)
	}
	return nil, nil
}

var decoders = sync.Pool{New: func() any { return new(inflate.Decoder) }}

// buffer is a pooled output buffer.
type buffer struct{ b []byte }

var buffers = sync.Pool{New: func() any { return new(buffer) }}

func putBuffer(b *buffer) {
	if cap(b.b) <= 1<<20 { // do not keep a bomb's buffer alive
		b.b = b.b[:0]
		buffers.Put(b)
	}
}

// gunzip decompresses at most MaxReport bytes, and no more than the input's
// budget has left; one byte more refuses it.
// The whole stream is in memory, so it is inflated in one go rather than
// through a reader: internal/inflate, a third faster than klauspost's
// reader on a report's few hundred bytes and allocation-free.
func (p *Parser) gunzip(data []byte, b *budget) (*buffer, error) {
	d := decoders.Get().(*inflate.Decoder)
	defer decoders.Put(d)
	buf := buffers.Get().(*buffer)
	limit := min(p.lim.MaxReport, b.left)
	var err error
	buf.b, err = d.Gunzip(buf.b[:0], data, int(min(max(limit, 0), math.MaxInt32)))
	if err == nil {
		b.take(len(buf.b))
		return buf, nil
	}
	putBuffer(buf)
	var bad inflate.CorruptError
	switch {
	case errors.Is(err, inflate.ErrTooLarge) && limit < p.lim.MaxReport:
		return nil, &LimitError{What: "bytes decompressed from one input", Limit: p.lim.MaxDecompressed}
	case errors.Is(err, inflate.ErrTooLarge):
		return nil, &LimitError{What: "decompressed report", Limit: p.lim.MaxReport}
	case errors.Is(err, inflate.ErrTruncated):
		return nil, fieldErr("", "truncated gzip stream")
	case errors.As(err, &bad):
		return nil, fieldErr("", "corrupt gzip stream: %s", string(bad))
	}
	return nil, fieldErr("", "corrupt gzip stream: %v", err)
}

// unzip decodes every member of a zip archive that holds a report.
func (p *Parser) unzip(data []byte, name string, nest int, b *budget) ([]Item, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return []Item{{Name: name, Err: fieldErr("", "corrupt zip archive: %v", err)}}, nil
	}
	var items []Item
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		if len(items) >= p.lim.MaxReports {
			return items, &LimitError{What: "reports in one input", Limit: int64(p.lim.MaxReports)}
		}
		member := path.Join(name, f.Name)
		if f.UncompressedSize64 > uint64(p.lim.MaxReport) {
			items = append(items, Item{Name: member, Err: &LimitError{What: "decompressed report", Limit: p.lim.MaxReport}})
			continue
		}
		body, err := p.readMember(f, b)
		if errors.Is(err, ErrTooLarge) && b.left <= 0 {
			return items, err
		}
		if err != nil {
			items = append(items, Item{Name: member, Err: err})
			continue
		}
		sub, err := p.payload(body, member, nest+1, b)
		if err != nil {
			return items, err
		}
		items = append(items, sub...)
	}
	return items, nil
}

func (p *Parser) readMember(f *zip.File, b *budget) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fieldErr("", "zip member %q: %v", f.Name, err)
	}
	defer rc.Close()
	// The header's sizes are the sender's word; the limits are ours.
	limit := max(min(p.lim.MaxReport, b.left), 0)
	body, err := io.ReadAll(io.LimitReader(rc, limit+1))
	switch {
	case int64(len(body)) > limit && limit < p.lim.MaxReport:
		b.left = 0
		return nil, &LimitError{What: "bytes decompressed from one input", Limit: p.lim.MaxDecompressed}
	case int64(len(body)) > limit:
		return nil, &LimitError{What: "decompressed report", Limit: p.lim.MaxReport}
	}
	b.take(len(body))
	if err != nil {
		return nil, fieldErr("", "zip member %q: %v", f.Name, err)
	}
	return body, nil
}

func head(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
