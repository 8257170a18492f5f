package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"
)

// printer writes a command's result as a table, JSON or CSV.
type printer struct {
	w      io.Writer
	format string
}

func newPrinter(w io.Writer, format string) *printer { return &printer{w: w, format: format} }

// rows prints tabular data; json is what the JSON format prints instead.
func (p *printer) print(header []string, rows [][]string, jsonValue any) error {
	switch p.format {
	case "json":
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonValue)
	case "csv":
		cw := csv.NewWriter(p.w)
		if err := cw.Write(header); err != nil {
			return err
		}
		if err := cw.WriteAll(rows); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	default:
		tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.ReplaceAll(strings.Join(header, "\t"), "_", " ")))
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return tw.Flush()
	}
}

// isTerminal reports whether w is a terminal (progress bars go only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
