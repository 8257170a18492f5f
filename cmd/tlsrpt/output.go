package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/tlsrpt/tlsrpt/internal/jsonout"
)

// printer writes a command's result as a table, JSON or CSV.
type printer struct {
	w      io.Writer
	format string
}

func newPrinter(w io.Writer, format string) *printer { return &printer{w: w, format: format} }

// print prints tabular data; jsonValue is what the JSON format prints
// instead. Output is buffered: views run to hundreds of thousands of lines.
func (p *printer) print(header []string, rows [][]string, jsonValue any) error {
	bw := bufio.NewWriterSize(p.w, 64<<10)
	if err := p.write(bw, header, rows, jsonValue); err != nil {
		return err
	}
	return bw.Flush()
}

func (p *printer) write(w *bufio.Writer, header []string, rows [][]string, jsonValue any) error {
	switch p.format {
	case "json":
		if l, ok := jsonValue.(jsonout.List); ok {
			return l.Encode(w)
		}
		return jsonout.Value(w, jsonValue)
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(header); err != nil {
			return err
		}
		if err := cw.WriteAll(rows); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	default:
		for _, r := range rows {
			escRow(r)
		}
		writeTable(w, tableHeader(header), rows)
		return nil
	}
}

// writeTable writes rows in columns two spaces apart, the last column
// unpadded: what text/tabwriter does, without holding the text twice. It
// returns the table, to write more rows with the same widths.
func writeTable(bw *bufio.Writer, header []string, rows [][]string) *table {
	t := newTable(bw, header, rows)
	t.line(header)
	for _, r := range rows {
		t.line(r)
	}
	return t
}

// table writes aligned lines with the column widths it was made with.
type table struct {
	bw     *bufio.Writer
	widths []int
}

// newTable measures the header and rows; the last column is not padded.
func newTable(bw *bufio.Writer, header []string, rows [][]string) *table {
	t := &table{bw: bw, widths: make([]int, len(header))}
	measure := func(r []string) {
		for i := 0; i < len(r)-1 && i < len(t.widths); i++ {
			t.widths[i] = max(t.widths[i], utf8.RuneCountInString(r[i]))
		}
	}
	measure(header)
	for _, r := range rows {
		measure(r)
	}
	return t
}

// line writes one row. Empty cells at the end of a row are left out,
// padding too: no line ends in spaces. A cell wider than its column (a
// row after the widths were set) keeps two spaces before the next one.
func (t *table) line(r []string) {
	for len(r) > 1 && r[len(r)-1] == "" {
		r = r[:len(r)-1]
	}
	for i, cell := range r {
		t.bw.WriteString(cell)
		if i < len(r)-1 {
			pad := 2
			if i < len(t.widths) {
				pad = max(t.widths[i]-utf8.RuneCountInString(cell)+2, 2)
			}
			for ; pad > 0; pad-- {
				t.bw.WriteByte(' ')
			}
		}
	}
	t.bw.WriteByte('\n')
}

// tableHeader is how a header's names are shown in a table.
func tableHeader(header []string) []string {
	names := make([]string, len(header))
	for i, h := range header {
		names[i] = strings.ToUpper(strings.ReplaceAll(h, "_", " "))
	}
	return names
}

// listing writes a list a row at a time: CSV and JSON as the rows come, so
// a listing as long as the store (--limit 0) is never held whole. A table
// holds up to tableHold rows to align its columns to their widest cells;
// past that, it writes what it holds and then each row as it comes, with
// the widths of the rows held (a wider cell pushes the rest of its line
// only). The JSON is byte for byte what the printer writes for a jsonList
// of the same items (jsonout.List).
type listing struct {
	p      *printer
	bw     *bufio.Writer
	header []string
	key    string // the JSON list's member name; "" for a bare array
	empty  string // the table's line when there are no rows
	n      int
	cw     *csv.Writer
	buf    bytes.Buffer
	enc    *json.Encoder
	rows   [][]string // the table's, until it is started
	table  *table     // the table once started
	hold   int        // rows held before a table is started
}

// tableHold is how many rows a table holds to align its columns.
const tableHold = 10000

// eachOf yields the items of a slice the way a store's Each method yields
// rows, for the printers that take one.
func eachOf[T any](items []T) func(fn func(T) error) error {
	return func(fn func(T) error) error {
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
		return nil
	}
}

// list starts a listing with the CSV and table header, the JSON list's
// key, and the table's line for no rows.
func (p *printer) list(header []string, key, empty string) *listing {
	l := &listing{p: p, bw: bufio.NewWriterSize(p.w, 64<<10), header: header, key: key, empty: empty, hold: tableHold}
	switch p.format {
	case "csv":
		l.cw = csv.NewWriter(l.bw)
		l.cw.Write(header) // errors stay in the csv.Writer, seen at the end
	case "json":
		l.enc = json.NewEncoder(&l.buf)
		l.enc.SetIndent(l.prefix(), "  ")
	}
	return l
}

func (l *listing) prefix() string {
	if l.key != "" {
		return "    "
	}
	return "  "
}

// add writes one row: cells for CSV and the table, item for JSON.
func (l *listing) add(cells func() []string, item func() any) error {
	l.n++
	switch l.p.format {
	case "csv":
		l.cw.Write(cells())
		return l.cw.Error()
	case "json":
		if l.n == 1 {
			if l.key != "" {
				name, _ := json.Marshal(l.key)
				fmt.Fprintf(l.bw, "{\n  %s: [\n", name)
			} else {
				l.bw.WriteString("[\n")
			}
		} else {
			l.bw.WriteString(",\n")
		}
		l.buf.Reset()
		if err := l.enc.Encode(item()); err != nil {
			return err
		}
		l.bw.WriteString(l.prefix())
		_, err := l.bw.Write(bytes.TrimSuffix(l.buf.Bytes(), []byte("\n")))
		return err
	default:
		if l.table != nil {
			l.table.line(escRow(cells()))
			return nil
		}
		l.rows = append(l.rows, escRow(cells()))
		if len(l.rows) >= l.hold {
			l.startTable()
		}
		return nil
	}
}

// startTable writes the header and the rows held, aligned, and lets the
// rows after them be written as they come.
func (l *listing) startTable() {
	l.table = writeTable(l.bw, tableHeader(l.header), l.rows)
	l.rows = nil
}

// close ends the listing and flushes it.
func (l *listing) close() error {
	switch l.p.format {
	case "csv":
		l.cw.Flush()
		if err := l.cw.Error(); err != nil {
			return err
		}
	case "json":
		switch {
		case l.n > 0 && l.key != "":
			l.bw.WriteString("\n  ]\n}\n")
		case l.n > 0:
			l.bw.WriteString("\n]\n")
		case l.key != "":
			name, _ := json.Marshal(l.key)
			fmt.Fprintf(l.bw, "{\n  %s: []\n}\n", name)
		default:
			l.bw.WriteString("[]\n")
		}
	default:
		switch {
		case l.table != nil:
		case len(l.rows) == 0 && l.empty != "":
			l.bw.WriteString(l.empty + "\n")
		default:
			l.startTable()
		}
	}
	return l.bw.Flush()
}

// isTerminal reports whether w is a terminal (progress bars go only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// esc makes text from a report safe to print on a terminal: control
// characters (C0, DEL, C1), bidirectional overrides and invalid UTF-8 are
// shown escaped (\x1b, \n, \u202e), so a sender's organization-name cannot
// move the cursor, clear the screen, set the window title or break a
// table's lines. Tables and plain output use it; JSON and CSV carry text
// exactly.
func esc(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// escRow is esc for every cell of a row, in place.
func escRow(r []string) []string {
	for i := range r {
		r[i] = esc(r[i])
	}
	return r
}

// sayCut tells on stderr, when a listing stopped at its --limit, how many
// rows match in all and how to see them: a listing is never cut silently.
func sayCut(w io.Writer, shown int, many string, count func() (int64, error)) error {
	n, err := count()
	if err != nil {
		return err
	}
	if n > int64(shown) {
		fmt.Fprintf(w, "%d of %d %s shown, the newest: --limit N for more, --limit 0 for all\n", shown, n, many)
	}
	return nil
}
