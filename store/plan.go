package store

import (
	"slices"
	"strings"

	"github.com/tlsrpt/tlsrpt/parse"
)

// ReportKey is how a sender names a report: (organization-name,
// report-id). Reports are stored once per key and Fingerprint; a key reused
// with other figures is another report, the key's next variant.
type ReportKey struct{ Org, ID string }

// Variant is a report stored under a key: its fingerprint, variant number
// and store id, and its row in the batch being planned (-1 for one stored
// before it).
type Variant struct {
	Fingerprint [32]byte
	Number, ID  int64
	Row         int
}

// Plan decides what a batch of inputs stores, input by input, the same
// for every backend: which input is new or kept already, which report is
// new, a duplicate, or the next variant of a reused report-id, and the
// warnings they get. The backend looks up what it holds (Existing, Kept),
// hands out ids, and writes the rows the plan names.
type Plan struct {
	// Existing are the variants stored under each key of the batch:
	// stored before, and added to as the plan stores more.
	Existing map[ReportKey][]Variant
	// Kept are the inputs holding each content: kept before, and added to.
	Kept map[[32]byte]int64
	// NextInput and NextReport hand out the ids of new inputs and reports.
	NextInput, NextReport func() int64
	rows                  int // reports planned so far: the next one's row
}

// Planned is one input's part of a batch.
type Planned struct {
	Result Result
	// NewInput: the input is kept (a row of its own); Arrival: its bytes
	// were kept already and this is another arrival of them; Update: its
	// row's outcome and counts change (a reprocessed input, or kept bytes
	// in which a newer parser found reports).
	NewInput, Arrival, Update bool
	// Error is the input's error text, one reason per line.
	Error   string
	Reports []PlannedReport
	// Warn are reports stored before (ID) or planned earlier in this
	// batch (Row >= 0) that get a warning, once.
	Warn []Warning
}

// PlannedReport is a report to store.
type PlannedReport struct {
	Report      *parse.Report
	ID          int64
	Fingerprint [32]byte
	Variant     int64
	Warnings    []string
	Trusted     bool
}

// Warning is a warning for a report already stored or planned.
type Warning struct {
	ID   int64
	Row  int // -1 for a report stored before
	Text string
}

// Input plans one input; sum is the SHA-256 of its bytes (unused for a
// reprocessed input, which has an ID).
func (p *Plan) Input(in *Input, sum [32]byte) Planned {
	pl := Planned{Result: Result{InputID: in.ID}}
	res := &pl.Result
	if in.ID == 0 {
		if id, ok := p.Kept[sum]; ok {
			res.InputID, res.Known = id, true
		} else {
			res.InputID = p.NextInput()
			p.Kept[sum] = res.InputID
		}
	}
	trusted := Trusted(in.Source, in.Auth)
	reports := in.Reports
	if in.Unauthenticated {
		res.Unauthenticated, reports = len(in.Reports), nil
	}
	for _, r := range reports {
		k := ReportKey{r.OrganizationName, r.ReportID}
		fp := Fingerprint(r)
		stored := p.Existing[k]
		if slices.ContainsFunc(stored, func(v Variant) bool { return v.Fingerprint == fp }) {
			res.Duplicates++
			continue
		}
		warnings := r.Warnings
		var number int64
		if len(stored) > 0 {
			res.Reused++
			warnings = append(slices.Clip(warnings), ReusedIDWarning(r, true))
			w := ReusedIDWarning(r, false)
			for _, v := range stored {
				pl.Warn = append(pl.Warn, Warning{ID: v.ID, Row: v.Row, Text: w})
				number = max(number, v.Number+1)
			}
		}
		id := p.NextReport()
		p.Existing[k] = append(stored, Variant{Fingerprint: fp, Number: number, ID: id, Row: p.rows})
		p.rows++
		pl.Reports = append(pl.Reports, PlannedReport{Report: r, ID: id, Fingerprint: fp, Variant: number, Warnings: warnings, Trusted: trusted})
		res.Stored++
		res.ReportIDs = append(res.ReportIDs, id)
	}
	if !in.NoReport {
		res.Invalid = len(in.Errors)
	}
	res.Outcome = OutcomeOf(*res, in.NoReport)
	pl.Error = strings.Join(in.Errors, "\n")
	if in.Unauthenticated && in.Auth != nil {
		pl.Error = strings.TrimPrefix(pl.Error+"\nunauthenticated: "+in.Auth.Reason, "\n")
	}
	switch {
	case in.ID != 0:
		pl.Update = true
	case res.Known:
		pl.Arrival = true
		if res.Stored > 0 {
			// A newer parser found reports in bytes kept before.
			pl.Update = true
		}
	default:
		pl.NewInput = true
	}
	return pl
}

// AddWarning adds w to a report's warnings (one per line) unless it has it.
func AddWarning(warnings, w string) string {
	if slices.Contains(strings.Split(warnings, "\n"), w) {
		return warnings
	}
	return strings.TrimPrefix(warnings+"\n"+w, "\n")
}
