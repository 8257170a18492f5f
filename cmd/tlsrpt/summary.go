package main

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/internal/jsonout"
	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
)

// filterOptions are the flags that select reports.
type filterOptions struct {
	Domains []string
	Since   string
	Until   string
}

// authOnlyFlag is --authenticated-only, of summary and readiness.
const authOnlyHelp = "count only reports that came by HTTPS or in mail with a DKIM signature of the reporter (read from the reports: slower)"

func (o *filterOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Domains, "domain", nil, "only this policy domain (repeatable)")
	fs.StringVar(&o.Since, "since", "", "only reports starting on or after this UTC day: 2026-10-01, an RFC 3339 time, or 30d/2w back")
	fs.StringVar(&o.Until, "until", "", "only reports starting on or before this UTC day (same forms as --since)")
}

func (o *filterOptions) filter(now time.Time) (store.Filter, error) {
	f, err := query.NewFilter(o.Domains, o.Since, o.Until, now)
	if oe, ok := errors.AsType[*query.OrderError](err); ok {
		return f, usageErr("--since %s is after --until %s: no day is in between", oe.Since, oe.Until)
	}
	if err != nil {
		return f, usageErr("--%v", err)
	}
	return f, nil
}

type summaryOptions struct {
	filterOptions
	Format            string
	By                string
	AuthenticatedOnly bool
}

func (o *summaryOptions) AddFlags(fs *pflag.FlagSet) {
	o.filterOptions.AddFlags(fs)
	fs.StringVarP(&o.Format, "format", "f", "table", "output format: table, json, csv")
	fs.StringVar(&o.By, "by", query.ByMX, "view: mx (per domain and MX host), day, result, sender, sending-ip")
	fs.BoolVar(&o.AuthenticatedOnly, "authenticated-only", false, authOnlyHelp)
}

func newSummaryCommand(g *globalOptions) *cobra.Command {
	var o summaryOptions
	var f store.Filter
	cmd := &cobra.Command{
		Use:   "summary",
		Short: "Failures per policy domain, MX host and result type",
		Long: `Summarise the stored reports: per policy domain the reports, successful and
failed sessions and the failure rate; under it, per MX host (the failure
details' receiving-mx-hostname) the failed sessions by result type.

A session is counted once: when one report lists several policies for the
same domain (Microsoft lists sts and tlsa over the same sessions), the report
counts the largest of their figures, not the sum. Domain totals come from the
reports' summaries, MX figures from their failure details; "(none)" is the
failures whose details named no MX host.

--format json is a stable contract for scripts:
  {"domains": [{"policy_domain", "reports", "successful_sessions",
    "failed_sessions", "failure_rate", "mx": [{"mx_host", "failed_sessions",
    "result_types": {"<type>": n}}]}]}`,
		Example: `  tlsrpt summary
  tlsrpt summary --domain example.com --since 30d
  tlsrpt summary --since 2026-10-01 --until 2026-10-31 --format csv`,
		Args: usageArgs(cobra.NoArgs),
		PreRunE: func(cmd *cobra.Command, args []string) (err error) {
			if err := checkFormat(o.Format, "table", "json", "csv"); err != nil {
				return err
			}
			if !slices.Contains(query.Views, o.By) {
				return usageErr("--by %q: want one of %s", o.By, strings.Join(query.Views, ", "))
			}
			f, err = o.filter(g.now())
			f.Trusted = o.AuthenticatedOnly
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withExistingStore(cmd.Context(), func(st database) error {
				if o.By != query.ByMX {
					v, err := query.SummarizeBy(cmd.Context(), st, o.By, f)
					if err != nil {
						return err
					}
					return printView(newPrinter(cmd.OutOrStdout(), o.Format), v)
				}
				s, err := query.Summarize(cmd.Context(), st, f)
				if err != nil {
					return err
				}
				return printSummary(newPrinter(cmd.OutOrStdout(), o.Format), s)
			})
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.RegisterFlagCompletionFunc("format", formatCompletion("table", "json", "csv"))
	cmd.RegisterFlagCompletionFunc("by", formatCompletion(query.Views...))
	return cmd
}

// printView prints a --by view; its columns are the view's JSON fields.
func printView(p *printer, v *query.View) error {
	var header []string
	switch v.By {
	case query.ByDay:
		header = []string{"policy_domain", "day", "reports", "successful_sessions", "failed_sessions", "failure_rate"}
	case query.BySender:
		header = []string{"policy_domain", "organization_name", "reports", "successful_sessions", "failed_sessions", "failure_rate"}
	case query.ByResult:
		header = []string{"policy_domain", "result_type", "failed_sessions"}
	case query.BySendingIP:
		header = []string{"sending_mta_ip", "policy_domain", "result_type", "failed_sessions"}
	}
	str := func(s *string) string {
		if s == nil {
			return ""
		}
		if *s == "" && p.format == "table" {
			return "(none)"
		}
		return *s
	}
	num := func(n *int64) string {
		if n == nil {
			return ""
		}
		return strconv.FormatInt(*n, 10)
	}
	rate := func(r *float64) string {
		if r == nil {
			return ""
		}
		if p.format == "table" {
			return fmt.Sprintf("%.2f%%", *r*100)
		}
		return strconv.FormatFloat(*r, 'f', -1, 64)
	}
	js := jsonout.ListOf("rows", v.Rows, jsonout.Member{Name: "by", Value: v.By})
	switch {
	case p.format == "json":
		return p.print(nil, nil, js)
	case p.format == "table" && len(v.Rows) == 0:
		fmt.Fprintln(p.w, "no reports match")
		return nil
	}
	cell := func(r *query.ViewRow, column string) string {
		switch column {
		case "policy_domain":
			return r.PolicyDomain
		case "day":
			return r.Day
		case "organization_name":
			return r.OrganizationName
		case "sending_mta_ip":
			return str(r.SendingMTAIP)
		case "result_type":
			return str(r.ResultType)
		case "reports":
			return num(r.Reports)
		case "successful_sessions":
			return num(r.SuccessfulSessions)
		case "failed_sessions":
			return strconv.FormatInt(r.FailedSessions, 10)
		case "failure_rate":
			return rate(r.FailureRate)
		}
		return ""
	}
	rows := make([][]string, len(v.Rows))
	for i := range v.Rows {
		rows[i] = make([]string, len(header))
		for j, h := range header {
			rows[i][j] = cell(&v.Rows[i], h)
		}
	}
	return p.print(header, rows, js)
}

func printSummary(p *printer, s *query.Summary) error {
	if p.format == "json" {
		return p.print(nil, nil, jsonout.ListOf("domains", s.Domains))
	}
	header := []string{"row", "policy_domain", "mx_host", "result_type", "reports", "successful_sessions", "failed_sessions", "failure_rate"}
	var rows [][]string
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, d := range s.Domains {
		rate := strconv.FormatFloat(d.FailureRate, 'f', -1, 64)
		if p.format == "table" {
			rate = fmt.Sprintf("%.2f%%", d.FailureRate*100)
		}
		rows = append(rows, []string{"domain", d.PolicyDomain, "", "", i64(d.Reports), i64(d.SuccessfulSessions), i64(d.FailedSessions), rate})
		for _, m := range d.MX {
			host := m.MXHost
			if host == "" && p.format == "table" {
				host = "(none)"
			}
			types := make([]string, 0, len(m.ResultTypes))
			for t := range m.ResultTypes {
				types = append(types, t)
			}
			sortByCount(types, m.ResultTypes)
			for _, t := range types {
				rows = append(rows, []string{"mx", d.PolicyDomain, host, t, "", "", i64(m.ResultTypes[t]), ""})
			}
		}
	}
	if p.format == "table" {
		header = header[1:]
		for i := range rows {
			rows[i] = rows[i][1:]
		}
		if len(rows) == 0 {
			fmt.Fprintln(p.w, "no reports match")
			return nil
		}
	}
	return p.print(header, rows, jsonout.ListOf("domains", s.Domains))
}

func sortByCount(keys []string, counts map[string]int64) {
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
}
