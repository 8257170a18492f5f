package store

import (
	"context"
	"errors"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
)

// ErrNotFound is returned for an id that is not in the store.
var ErrNotFound = errors.New("store: not found")

// Store keeps inputs and reports. Every method is safe for concurrent use.
type Store interface {
	// Ingest records each input with its raw bytes and outcome, and stores
	// its new reports. Each input is atomic: its raw bytes, outcome and
	// reports are all committed or none are. When Ingest returns without
	// error every input is durably committed.
	Ingest(ctx context.Context, inputs []Input) ([]Result, error)
	// Inputs lists recorded inputs, oldest first.
	Inputs(ctx context.Context, f InputFilter) ([]InputInfo, error)
	// Raw returns an input's bytes as they arrived.
	Raw(ctx context.Context, inputID int64) ([]byte, error)
	// Reports lists stored reports, newest first.
	Reports(ctx context.Context, f Filter) ([]ReportInfo, error)
	// Report returns one stored report in full.
	Report(ctx context.Context, id int64) (*StoredReport, error)
	// DomainTotals sums sessions per policy domain, each session once.
	DomainTotals(ctx context.Context, f Filter) ([]DomainTotal, error)
	// MXTotals sums failed sessions per policy domain, MX host and result type.
	MXTotals(ctx context.Context, f Filter) ([]MXTotal, error)
	// Ping checks that the store can be reached.
	Ping(ctx context.Context) error
	Close() error
}

// Outcome is what became of an input.
type Outcome string

// Outcomes, as recorded per input.
const (
	// OutcomeStored: at least one new report was stored.
	OutcomeStored Outcome = "stored"
	// OutcomeDuplicate: every report in it was stored before.
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeInvalid: it holds a report, but none could be stored.
	OutcomeInvalid Outcome = "invalid"
	// OutcomeNoReport: it holds no report at all.
	OutcomeNoReport Outcome = "no-report"
)

// Input is one thing that arrived, and what the parser made of it.
type Input struct {
	// ID is zero for a new input. Non-zero re-records an input already kept
	// (reprocessing): its raw bytes stay, its outcome is replaced.
	ID         int64
	Data       []byte
	Source     string // "import", "https", "imap", ...
	Origin     string // a path, a client address, a mailbox and UID
	ReceivedAt time.Time
	Reports    []*parse.Report
	// Errors are the one-line reasons of reports refused by the parser, or
	// of the input as a whole.
	Errors []string
	// NoReport is set when the input holds no report at all.
	NoReport bool
}

// Result is the outcome of one Input.
type Result struct {
	InputID    int64
	Outcome    Outcome
	Stored     int // new reports stored
	Duplicates int // reports already in the store
	Invalid    int // reports or inputs refused
	// ReportIDs are the store ids of the reports stored now.
	ReportIDs []int64
}

// OutcomeOf derives an input's outcome from its counts.
func OutcomeOf(r Result, noReport bool) Outcome {
	switch {
	case noReport:
		return OutcomeNoReport
	case r.Stored > 0:
		return OutcomeStored
	case r.Invalid > 0:
		return OutcomeInvalid
	case r.Duplicates > 0:
		return OutcomeDuplicate
	}
	return OutcomeNoReport
}

// InputFilter selects inputs.
type InputFilter struct {
	Outcomes []Outcome // empty: all
	AfterID  int64     // only inputs with a larger id, for paging
	Limit    int       // 0: no limit
}

// InputInfo describes a recorded input.
type InputInfo struct {
	ID         int64
	SHA256     []byte
	Size       int64
	Source     string
	Origin     string
	ReceivedAt time.Time
	Outcome    Outcome
	Error      string
}

// Filter selects reports by policy domain and by the UTC day their date
// range starts on. Zero values do not filter.
type Filter struct {
	Domains []string
	// Since and Until are UTC days, both included.
	Since, Until time.Time
	Limit        int
}

// ReportInfo is a line in a list of reports.
type ReportInfo struct {
	ID                 int64
	OrganizationName   string
	ReportID           string
	Start, End         time.Time
	Domains            []string
	SuccessfulSessions int64
	FailedSessions     int64
	Warnings           int
}

// StoredReport is a report as kept, with where it came from.
type StoredReport struct {
	ID     int64
	Input  InputInfo
	Report parse.Report
}

// DomainTotal is the sessions of one policy domain.
type DomainTotal struct {
	Domain             string
	Reports            int64
	SuccessfulSessions int64
	FailedSessions     int64
}

// MXTotal is the failed sessions of one domain's MX host under one result
// type. MX is empty for failure details that named no host.
type MXTotal struct {
	Domain         string
	MX             string
	ResultType     string
	FailedSessions int64
}
