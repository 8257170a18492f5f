package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/internal/jsonout"
	"github.com/tlsrpt/tlsrpt/query"
)

type readinessOptions struct {
	Domains []string
	Format  string
	AsOf    string
	query.Thresholds
}

func (o *readinessOptions) AddFlags(fs *pflag.FlagSet) {
	d := query.DefaultThresholds
	fs.StringSliceVar(&o.Domains, "domain", nil, "only this policy domain (repeatable)")
	fs.StringVarP(&o.Format, "format", "f", "table", "output format: table, json")
	fs.StringVar(&o.AsOf, "as-of", "", "judge as on this day instead of today: a date (2026-10-01) or a time back (30d)")
	fs.IntVar(&o.Window, "window", d.Window, "days of reports considered, up to today (or --as-of)")
	fs.IntVar(&o.MinDays, "min-days", d.MinDays, "ready needs reports on at least this many days")
	fs.IntVar(&o.MinReporters, "min-reporters", d.MinReporters, "ready needs reports from at least this many organisations")
	fs.Int64Var(&o.MinSessions, "min-sessions", d.MinSessions, "ready needs at least this many reported sessions")
	fs.IntVar(&o.QuietDays, "quiet-days", d.QuietDays, "ready needs no failure enforce would bounce in this many last days")
	fs.IntVar(&o.TrendDays, "trend-days", d.TrendDays, "compare the failure rate of this many last days with as many before")
	fs.BoolVar(&o.AuthenticatedOnly, "authenticated-only", false, authOnlyHelp)
}

func newReadinessCommand(g *globalOptions) *cobra.Command {
	var o readinessOptions
	var asOf time.Time
	cmd := &cobra.Command{
		Use:   "readiness",
		Short: "May each domain's MTA-STS policy go from testing to enforce?",
		Long: `For each policy domain, a verdict from the reports of the last --window days:

  ready              enough data, and nothing enforce would turn into a bounce
  not-ready          failures enforce would bounce in the last --quiet-days days,
                     or MX hosts the policy's mx patterns do not match
  insufficient-data  too few days, reporting organisations or sessions

with the reasons in plain words and the figures behind them: the policy mode
and mx patterns the senders saw, days covered, reporters, sessions, failures
per MX and result type (first and last seen, and whether enforce would bounce
them: every certificate, negotiation and MTA-STS result type; DANE types do
not count), MX hosts outside the patterns, and the trend of the failure rate.

--format json is a contract: policy_domain, verdict, reasons, successful_sessions,
failed_sessions, failure_rate, days_covered, reporters, policy_mode,
unmatched_mx, mx_patterns, failures, trend.

Reports count as evidence however they came. A ready verdict that rests on
reports that are not authenticated (mail without a DKIM signature of the
reporter, files) says so, with how many sessions, and what the verdict would
be without them; --authenticated-only judges from HTTPS reports and
authenticated mail alone.`,
		Example: `  tlsrpt readiness
  tlsrpt readiness --domain example.com --format json
  tlsrpt readiness --min-days 30 --min-reporters 3
  tlsrpt readiness --as-of 2026-10-01   # what the verdict was then`,
		Args: usageArgs(cobra.NoArgs),
		PreRunE: func(cmd *cobra.Command, args []string) (err error) {
			asOf = g.now()
			if o.AsOf != "" {
				if asOf, err = query.ParseTimeBound(o.AsOf, asOf); err != nil {
					return usageErr("--as-of: %v", err)
				}
			}
			if o.Window < 1 || o.QuietDays < 1 || o.TrendDays < 1 || o.MinDays < 0 || o.MinReporters < 0 || o.MinSessions < 0 {
				return usageErr("--window, --quiet-days and --trend-days must be at least 1, the --min-* flags at least 0")
			}
			return checkFormat(o.Format, "table", "json")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withExistingStore(cmd.Context(), func(st database) error {
				rs, err := query.Assess(cmd.Context(), st, normalizeDomains(o.Domains), asOf, o.Thresholds)
				if err != nil {
					return err
				}
				if o.Format == "json" {
					return newPrinter(cmd.OutOrStdout(), "json").print(nil, nil, jsonout.ListOf("domains", rs))
				}
				w := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
				printReadiness(w, rs)
				return w.Flush()
			})
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.RegisterFlagCompletionFunc("format", formatCompletion("table", "json"))
	return cmd
}

func printReadiness(w io.Writer, rs []query.Readiness) {
	if len(rs) == 0 {
		fmt.Fprintln(w, "no reports in the window")
		return
	}
	for i, r := range rs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s: %s\n", esc(r.PolicyDomain), strings.ToUpper(string(r.Verdict)))
		for _, reason := range r.Reasons {
			fmt.Fprintf(w, "  - %s\n", esc(reason))
		}
		mode := r.PolicyMode
		if mode == "" {
			mode = "unknown (no sender reported the policy text)"
		}
		fmt.Fprintf(w, "  policy mode %s, mx %s\n", esc(mode), esc(strings.Join(r.MXPatterns, " ")))
		fmt.Fprintf(w, "  %d days (%s to %s), %d reporters, %d successful and %d failed sessions (%.2f%%)\n",
			r.DaysCovered, r.FirstDay, r.LastDay, r.Reporters, r.SuccessfulSessions, r.FailedSessions, r.FailureRate*100)
		if r.Trend.Direction != "unknown" {
			fmt.Fprintf(w, "  trend: %s (%.2f%% in the last days, %.2f%% before)\n", r.Trend.Direction, *r.Trend.Recent*100, *r.Trend.Previous*100)
		}
		for _, f := range r.Failures {
			effect := "would not bounce"
			if f.WouldBounce {
				effect = "would bounce"
			}
			mx := f.MXHost
			if mx == "" {
				mx = "(none)"
			}
			fmt.Fprintf(w, "  %s %s: %d sessions, %s to %s, %s\n", esc(mx), esc(f.ResultType), f.FailedSessions, f.FirstSeen, f.LastSeen, effect)
		}
	}
}

func normalizeDomains(ds []string) []string { return query.NormalizeDomains(ds) }
