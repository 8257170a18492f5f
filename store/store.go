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
// What other packages keep beside them (the IMAP messages fetch has seen,
// check-new's position) is theirs to ask for, with interfaces of their own
// (ingest.SeenStore, query.MarkStore) that a backend implements too.
type Store interface {
	// Ingest records each input with its raw bytes and outcome, and stores
	// its new reports. Bytes kept before are not kept again: the arrival is
	// noted against the input that holds them (Result.Known). Each input is atomic: its raw bytes, outcome and
	// reports are all committed or none are. When Ingest returns without
	// error every input is durably committed.
	Ingest(ctx context.Context, inputs []Input) ([]Result, error)
	// Inputs lists recorded inputs, oldest first (newest first with
	// f.Newest).
	Inputs(ctx context.Context, f InputFilter) ([]InputInfo, error)
	// Raw returns an input's bytes as they arrived.
	Raw(ctx context.Context, inputID int64) ([]byte, error)
	// Reports lists stored reports, newest first.
	Reports(ctx context.Context, f Filter) ([]ReportInfo, error)
	// CountReports counts the reports f selects, its limit aside.
	CountReports(ctx context.Context, f Filter) (int64, error)
	// EachReport calls fn with each report Reports lists, in order, without
	// holding the list. An error from fn stops it and is returned as is.
	EachReport(ctx context.Context, f Filter, fn func(ReportInfo) error) error
	// Report returns one stored report in full.
	Report(ctx context.Context, id int64) (*StoredReport, error)
	// DomainTotals sums sessions per policy domain, each session once.
	DomainTotals(ctx context.Context, f Filter) ([]DomainTotal, error)
	// MXTotals sums failed sessions per policy domain, MX host and result
	// type. It calls fn once per policy domain with failures in the
	// filter's range, domains in name order, with that domain's totals in
	// no order; fn may keep the slice. An error from fn stops it.
	MXTotals(ctx context.Context, f Filter, fn func(domain string, totals []MXTotal) error) error
	// Reporters counts the distinct reporting organisations per domain.
	Reporters(ctx context.Context, f Filter) (map[string]int, error)
	// PeriodTotals is DomainTotals over f with, for each domain, its
	// sessions in each period (inside f's range or not), in one read.
	PeriodTotals(ctx context.Context, f Filter, periods []Period) ([]PeriodTotal, error)
	// PolicyTypeTotals sums sessions per policy domain, policy type and
	// sts mode, each policy's own figures (not counted once across types
	// as DomainTotals counts them), domains in name order.
	PolicyTypeTotals(ctx context.Context, f Filter) ([]PolicyTypeTotal, error)
	// UntrustedTotals sums, per policy domain, the sessions of the reports
	// that are not trusted (Trusted): how much of a verdict rests on them.
	// Days counts the days with such reports.
	UntrustedTotals(ctx context.Context, f Filter) ([]DomainTotal, error)
	// ReportsByAuth counts the stored reports by how they were
	// authenticated, for the metrics.
	ReportsByAuth(ctx context.Context) ([]AuthCount, error)
	// DayTotals sums sessions per policy domain and UTC day.
	DayTotals(ctx context.Context, f Filter) ([]DayTotal, error)
	// SenderTotals sums sessions per policy domain and sending organisation.
	SenderTotals(ctx context.Context, f Filter) ([]SenderTotal, error)
	// IPTotals sums failed sessions per sending MTA IP, policy domain and
	// result type over the domains the filter selects.
	IPTotals(ctx context.Context, f Filter) ([]IPTotal, error)
	// Policies lists the distinct policies senders applied to each domain,
	// by domain.
	Policies(ctx context.Context, f Filter) ([]PolicySeen, error)
	// Failures lists failure details as reported, newest report first.
	Failures(ctx context.Context, f FailureFilter) ([]FailureRow, error)
	// CountFailures counts the failure details f selects, its limit aside.
	CountFailures(ctx context.Context, f FailureFilter) (int64, error)
	// EachFailure calls fn with each detail Failures lists, in order,
	// without holding the list. An error from fn stops it and is returned
	// as is.
	EachFailure(ctx context.Context, f FailureFilter, fn func(FailureRow) error) error
	// MaxReportID is the id of the newest stored report, 0 when none.
	MaxReportID(ctx context.Context) (int64, error)
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
	// OutcomeUnauthenticated: mail whose reports were refused for want of
	// a DKIM signature of the reporter (--dkim require).
	OutcomeUnauthenticated Outcome = "unauthenticated"
)

// Reprocessable are the outcomes reprocess parses again.
var Reprocessable = []Outcome{OutcomeInvalid, OutcomeNoReport, OutcomeUnauthenticated}

// Auth is the DKIM verification of a mailed input (package mailauth), as
// it was when the mail arrived.
type Auth struct {
	DKIM          string // pass, fail, none, temperror
	Domain        string // the signing domain (d=), "" for none
	Authenticated bool   // a signature of the reporter's organisation verified
	Reason        string // why not authenticated, one line
}

// AuthCount is the number of stored reports of one kind of
// authentication: DKIM is the mail's verification result (pass, fail,
// none, temperror), "https" for reports by HTTPS, "unverified" for those
// never verified (files, mail before 2026-12 or with --dkim off).
type AuthCount struct {
	DKIM          string
	Authenticated bool // counted as authenticated: by HTTPS, or DKIM of the reporter
	Reports       int64
}

// Trusted reports whether an input's reports count as evidence no
// stranger can forge: those that came by HTTPS (RFC 8460 defines no
// authentication for it; the endpoint is the domain owner's), and those in
// authenticated mail.
func Trusted(source string, a *Auth) bool {
	return source == "https" || (a != nil && a.Authenticated)
}

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
	// Auth is the DKIM verification of a mailed input; nil when none was
	// made (not mail, HTTPS, --dkim off). Reprocessing keeps the recorded
	// one by giving it here again.
	Auth *Auth
	// Unauthenticated refuses the input's reports for want of
	// authentication (--dkim require): the input is kept with the outcome
	// unauthenticated, its reports are not stored.
	Unauthenticated bool
}

// Result is the outcome of one Input.
type Result struct {
	InputID int64
	Outcome Outcome
	Stored  int // new reports stored
	// Reused counts the reports stored (and in Stored) under a key that
	// was stored before with other figures (store.ReusedIDWarning).
	Reused     int
	Duplicates int // reports already in the store
	Invalid    int // reports or inputs refused
	// Unauthenticated counts the reports refused with the input for want
	// of authentication (Input.Unauthenticated).
	Unauthenticated int
	// ReportIDs are the store ids of the reports stored now.
	ReportIDs []int64
	// Known is set when the input's bytes were kept already (InputID is
	// that input): they are not kept again, the arrival is noted, and its
	// reports are stored as any others (duplicates, unless a newer parser
	// finds more in them).
	Known bool
}

// OutcomeOf derives an input's outcome from its counts.
func OutcomeOf(r Result, noReport bool) Outcome {
	switch {
	case r.Unauthenticated > 0:
		return OutcomeUnauthenticated
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
	BeforeID int64     // only inputs with a smaller id (0: no bound), for paging newest first
	// SHA256 selects the input with these bytes, when its id is above
	// AfterID, and every later arrival of them (as InputInfo with that
	// input's id and the arrival's source, origin and time); nil: all.
	SHA256 []byte
	Newest bool // newest first (AfterID then bounds from below still)
	Limit  int  // 0: no limit
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
	Auth       *Auth // nil when no DKIM verification was recorded
}

// Filter selects reports by policy domain and by the UTC day their date
// range starts on. Zero values do not filter.
type Filter struct {
	Domains []string
	// Since and Until are UTC days, both included.
	Since, Until time.Time
	Limit        int
	// Trusted selects only the reports that came by HTTPS or in
	// authenticated mail (--authenticated-only). The totals are then read
	// from the reports themselves, not the rollups: slower.
	Trusted bool
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
	Source             string // the input's: import, https, imap...
	Auth               *Auth  // the input's DKIM verification, nil when none
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
	// Days is the number of UTC days with reports, from First to Last.
	Days        int64
	First, Last time.Time
}

// MXTotal is the failed sessions of one domain's MX host under one result
// type. MX is empty for failure details that named no host. First and Last
// are the UTC days of the first and last report of such failures.
type MXTotal struct {
	Domain         string
	MX             string
	ResultType     string
	FailedSessions int64
	First, Last    time.Time
}

// PolicyTypeTotal is the sessions a domain's reports gave under one
// policy type and, for sts, one mode ("enforce", "testing", "none", or ""
// when the report gave no policy lines). First and Last are the UTC days
// of the first and last report with such a policy.
type PolicyTypeTotal struct {
	Domain             string
	Type, Mode         string
	Reports            int64
	SuccessfulSessions int64
	FailedSessions     int64
	First, Last        time.Time
}

// Period is a range of UTC days, both included.
type Period struct{ Since, Until time.Time }

// PeriodTotal is one domain's totals over a filter's range and its
// sessions in each of the periods asked for, in their order.
type PeriodTotal struct {
	DomainTotal
	PeriodSuccessful []int64
	PeriodFailed     []int64
}

// DayTotal is the sessions of one policy domain on one UTC day.
type DayTotal struct {
	Domain             string
	Day                time.Time
	Reports            int64
	SuccessfulSessions int64
	FailedSessions     int64
}

// SenderTotal is the sessions one organisation reported for one domain.
type SenderTotal struct {
	Domain             string
	Organization       string
	Reports            int64
	SuccessfulSessions int64
	FailedSessions     int64
}

// IPTotal is the failed sessions from one sending MTA IP to one policy
// domain under one result type. IP is empty for failure details that named
// none.
type IPTotal struct {
	IP             string
	Domain         string
	ResultType     string
	FailedSessions int64
}

// PolicySeen is a policy as senders applied it to a domain, and the UTC days
// of the first and last report that carried it.
type PolicySeen struct {
	Domain      string
	Type        string
	Lines       []string // policy-string
	MXHosts     []string
	First, Last time.Time
	Reports     int64
}

// FailureFilter selects failure details. Empty fields do not filter.
type FailureFilter struct {
	Filter
	MX          []string
	ResultTypes []string
	Senders     []string // organization-name
	// Only reports with AfterReport < id <= UpToReport (0: no bound).
	AfterReport, UpToReport int64
}

// FailureRow is one failure detail with the report it came in.
type FailureRow struct {
	ReportID     int64 // the store's id
	Organization string
	ReportRef    string // the report-id the sender gave
	Start, End   time.Time
	Domain       string
	PolicyType   string
	Detail       parse.FailureDetail
}

// AllMXTotals collects what st.MXTotals reports into one slice, domains in
// name order. For small selections and tests: summary and readiness take
// the totals domain by domain instead.
func AllMXTotals(ctx context.Context, st Store, f Filter) ([]MXTotal, error) {
	var all []MXTotal
	err := st.MXTotals(ctx, f, func(_ string, totals []MXTotal) error {
		all = append(all, totals...)
		return nil
	})
	return all, err
}

// ErrUnavailable marks a failure that may pass if the same thing is tried
// again later: the database locked or busy past the wait, the disk full, an
// I/O error. Nothing was stored. A caller that can retry later (an MTA's
// pipe, a spool, a cron job) should; tlsrpt exits 75 (EX_TEMPFAIL) on it.
var ErrUnavailable = errors.New("store: temporarily unavailable")

// Exported is an input as a store holds it, for copying the store: its
// record, bytes and later arrivals, and the reports stored from it.
type Exported struct {
	Input    InputInfo
	Data     []byte
	Arrivals []InputInfo // later arrivals of the same bytes: source, origin, time
	Reports  []StoredReport
}

// Exporter lists a store's inputs in full, in id order.
type Exporter interface {
	// Export returns up to limit inputs with ids above afterInput.
	Export(ctx context.Context, afterInput int64, limit int) ([]Exported, error)
}

// Stats is what a store holds, for tlsrpt db stats.
type Stats struct {
	Inputs   map[Outcome]int64 // by outcome
	Arrivals int64             // later arrivals of bytes kept
	RawBytes int64             // the inputs' bytes, as they arrived
	Reports  int64
	Domains  int64
	// Oldest and Newest are the start days of the oldest and newest
	// reports; zero without reports.
	Oldest, Newest time.Time
	// Size is the database's size on disk, in bytes.
	Size int64
}

// Statser is a store that tells its Stats.
type Statser interface {
	Stats(ctx context.Context) (Stats, error)
}

// PruneOptions select what Prune deletes.
type PruneOptions struct {
	// Before is a UTC day: reports that started before it go, with their
	// policies, failure details and rollup figures, and the inputs left
	// with no report (their bytes, arrivals and DKIM results).
	Before time.Time
	// Refused also deletes the refused inputs (invalid, no report,
	// unauthenticated) received before that day.
	Refused bool
	// DryRun counts what would go and deletes nothing.
	DryRun bool
}

// PruneStats count what Prune deleted, or would delete.
type PruneStats struct {
	Reports, Inputs, Bytes int64
}

// Pruner is a store that deletes old data.
type Pruner interface {
	Prune(ctx context.Context, o PruneOptions) (PruneStats, error)
}
