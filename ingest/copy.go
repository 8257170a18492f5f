package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// MarkStore is a store with named positions (query.MarkStore's methods).
type MarkStore interface {
	store.Store
	Mark(ctx context.Context, name string) (int64, error)
	SetMark(ctx context.Context, name string, value int64) error
}

// CopySource is a store a copy reads from.
type CopySource interface {
	MarkStore
	store.Exporter
}

// CopyOptions configure Copy.
type CopyOptions struct {
	// Batch is the inputs copied per transaction; default 1,000.
	Batch int
	// ReportMarks are marks whose value is a report id of the source (the
	// last report check-new looked at): they are set in the destination to
	// the id the same report got there.
	ReportMarks []string
	// Progress is called after each batch with the inputs copied so far.
	Progress func(inputs int)
}

// CopyStats count what a copy did.
type CopyStats struct {
	Inputs, Arrivals, Reports int
	Resumed                   bool // it went on from an earlier copy's mark
}

// markCopied is the destination's mark of the last source input copied:
// a copy stopped at any point goes on from there.
const markCopied = "copy-source-input"

// Copy copies a store into another, input by input in the source's order:
// each input's bytes with its outcome, DKIM verification and later
// arrivals, the reports stored from it as they were stored (the
// destination gives them its own ids, the same variants and warnings),
// and the report marks, translated. Inputs whose reports were duplicates,
// or refused for want of authentication, are parsed again to be recorded
// so. It can be stopped and run again: it resumes after the last input it
// committed.
func Copy(ctx context.Context, src CopySource, dst MarkStore, p *parse.Parser, o CopyOptions) (CopyStats, error) {
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	var stats CopyStats
	after, err := dst.Mark(ctx, markCopied)
	if err != nil {
		return stats, err
	}
	stats.Resumed = after > 0
	// The report marks: each source value, and the destination's so far.
	marks := map[string][2]int64{}
	for _, name := range o.ReportMarks {
		v, err := src.Mark(ctx, name)
		if err != nil {
			return stats, err
		}
		d, err := dst.Mark(ctx, name)
		if err != nil {
			return stats, err
		}
		if v > 0 {
			marks[name] = [2]int64{v, d}
		}
	}
	first := stats.Resumed
	for {
		batch, err := src.Export(ctx, after, o.Batch)
		if err != nil {
			return stats, fmt.Errorf("reading the source: %w", err)
		}
		if len(batch) == 0 {
			return stats, nil
		}
		var inputs []store.Input
		var from []int // the batch's exported input behind each input, -1 for an arrival
		for i, e := range batch {
			if first {
				// Resuming: an input the stopped copy committed without
				// moving its mark is there already.
				kept, err := dst.Inputs(ctx, store.InputFilter{SHA256: e.Input.SHA256, Limit: 1})
				if err != nil {
					return stats, err
				}
				if len(kept) > 0 {
					continue
				}
			}
			in, err := copied(e, p)
			if err != nil {
				return stats, fmt.Errorf("input %d: %w", e.Input.ID, err)
			}
			inputs, from = append(inputs, in), append(from, i)
			for _, a := range e.Arrivals {
				inputs = append(inputs, store.Input{Data: e.Data, Source: a.Source, Origin: a.Origin, ReceivedAt: a.ReceivedAt})
				from = append(from, -1)
			}
		}
		first = false
		results, err := dst.Ingest(ctx, inputs)
		if err != nil {
			return stats, fmt.Errorf("writing the destination: %w", err)
		}
		for k, r := range results {
			if from[k] < 0 {
				stats.Arrivals++
				continue
			}
			stats.Inputs++
			stats.Reports += r.Stored
			e := batch[from[k]]
			if e.Input.Outcome == store.OutcomeStored && len(r.ReportIDs) == len(e.Reports) {
				for j, sr := range e.Reports {
					for name, m := range marks {
						if sr.ID <= m[0] && r.ReportIDs[j] > m[1] {
							marks[name] = [2]int64{m[0], r.ReportIDs[j]}
						}
					}
				}
			}
		}
		for name, m := range marks {
			if err := dst.SetMark(ctx, name, m[1]); err != nil {
				return stats, err
			}
		}
		after = batch[len(batch)-1].Input.ID
		if err := dst.SetMark(ctx, markCopied, after); err != nil {
			return stats, err
		}
		if o.Progress != nil {
			o.Progress(stats.Inputs)
		}
	}
}

// copied is the input that records e again.
func copied(e store.Exported, p *parse.Parser) (store.Input, error) {
	in := store.Input{Data: e.Data, Source: e.Input.Source, Origin: e.Input.Origin, ReceivedAt: e.Input.ReceivedAt, Auth: e.Input.Auth}
	var errs []string
	for line := range strings.SplitSeq(e.Input.Error, "\n") {
		if line != "" && !strings.HasPrefix(line, "unauthenticated: ") {
			errs = append(errs, line)
		}
	}
	reparsed := func() []*parse.Report {
		items, _ := p.Parse(e.Data)
		var out []*parse.Report
		for _, it := range items {
			if it.Err == nil {
				out = append(out, it.Report)
			}
		}
		return out
	}
	switch e.Input.Outcome {
	case store.OutcomeStored:
		for _, sr := range e.Reports {
			r := sr.Report
			// The warnings the store itself added come again.
			r.Warnings = slices.DeleteFunc(slices.Clone(r.Warnings), func(w string) bool {
				return w == store.ReusedIDWarning(&r, true) || w == store.ReusedIDWarning(&r, false)
			})
			in.Reports = append(in.Reports, &r)
		}
		in.Errors = errs
	case store.OutcomeDuplicate:
		in.Reports = reparsed()
	case store.OutcomeInvalid:
		in.Errors = errs
		if len(in.Errors) == 0 {
			in.Errors = []string{"invalid"}
		}
	case store.OutcomeNoReport:
		in.NoReport, in.Errors = true, errs
	case store.OutcomeUnauthenticated:
		in.Unauthenticated, in.Reports, in.Errors = true, reparsed(), errs
		if in.Auth == nil {
			return in, errors.New("refused for want of authentication, but no DKIM verification recorded")
		}
	default:
		return in, fmt.Errorf("unknown outcome %q", e.Input.Outcome)
	}
	return in, nil
}
