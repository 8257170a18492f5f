package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
)

type reportsOptions struct {
	filterOptions
	Limit  int
	Format string
}

func (o *reportsOptions) AddFlags(fs *pflag.FlagSet) {
	o.filterOptions.AddFlags(fs)
	fs.IntVarP(&o.Limit, "limit", "n", 50, "list at most this many reports, newest first (0: all)")
	fs.StringVarP(&o.Format, "format", "f", "table", "output format: table, json, csv")
}

func newReportsCommand(g *globalOptions) *cobra.Command {
	var o reportsOptions
	var f store.Filter
	cmd := &cobra.Command{
		Use:   "reports",
		Short: "List stored reports, or show one in full",
		Long: `List stored reports, newest first, with the domains they cover and their
sessions (each counted once). "tlsrpt reports show ID" prints one report in
full: every policy and failure detail, its warnings, and the input it came in.`,
		Example: `  tlsrpt reports --domain example.com --since 7d
  tlsrpt reports show 42
  tlsrpt reports show 42 --format json`,
		Args: usageArgs(cobra.NoArgs),
		PreRunE: func(cmd *cobra.Command, args []string) (err error) {
			if err := checkFormat(o.Format, "table", "json", "csv"); err != nil {
				return err
			}
			f, err = o.filter(g.now())
			f.Limit = o.Limit
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withExistingStore(cmd.Context(), func(st database) error {
				shown := 0
				err := printReports(newPrinter(cmd.OutOrStdout(), o.Format), func(fn func(store.ReportInfo) error) error {
					return st.EachReport(cmd.Context(), f, func(r store.ReportInfo) error { shown++; return fn(r) })
				})
				if err != nil || f.Limit == 0 || shown < f.Limit {
					return err
				}
				return sayCut(cmd.ErrOrStderr(), shown, "reports", func() (int64, error) { return st.CountReports(cmd.Context(), f) })
			})
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.RegisterFlagCompletionFunc("format", formatCompletion("table", "json", "csv"))
	cmd.AddCommand(newReportsShowCommand(g))
	return cmd
}

// printReports lists the reports each yields, as they come.
func printReports(p *printer, each func(fn func(store.ReportInfo) error) error) error {
	header := []string{"id", "organization_name", "report_id", "start", "end", "domains", "successful_sessions", "failed_sessions", "warnings", "authenticated"}
	l := p.list(header, "reports", "no reports match")
	err := each(func(r store.ReportInfo) error {
		return l.add(func() []string {
			return []string{strconv.FormatInt(r.ID, 10), r.OrganizationName, r.ReportID,
				r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339), strings.Join(r.Domains, " "),
				strconv.FormatInt(r.SuccessfulSessions, 10), strconv.FormatInt(r.FailedSessions, 10), strconv.Itoa(r.Warnings),
				authCell(r.Source, r.Auth)}
		}, func() any {
			return query.ReportOf(r)
		})
	})
	if err != nil {
		return err
	}
	return l.close()
}

func newReportsShowCommand(g *globalOptions) *cobra.Command {
	var o struct{ Format string }
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Print one stored report in full",
		Example: `  tlsrpt reports --domain example.com --limit 5    # the ids in the first column
  tlsrpt reports show 42
  tlsrpt reports show 42 --format json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return checkFormat(o.Format, "text", "json")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usageErr("report id %q is not a number", args[0])
			}
			return g.withExistingStore(cmd.Context(), func(st database) error {
				r, err := st.Report(cmd.Context(), id)
				if err != nil {
					return err
				}
				if o.Format == "json" {
					return newPrinter(cmd.OutOrStdout(), "json").print(nil, nil, query.StoredReportOf(r))
				}
				printReport(cmd.OutOrStdout(), r)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&o.Format, "format", "f", "text", "output format: text, json")
	cmd.RegisterFlagCompletionFunc("format", formatCompletion("text", "json"))
	return cmd
}

// authCell says how a report is authenticated, in a word: dkim (and the
// domain), https, or no.
func authCell(source string, a *store.Auth) string {
	switch {
	case a != nil && a.Authenticated:
		return "dkim:" + a.Domain
	case source == "https":
		return "https"
	}
	return "no"
}

func printReport(w io.Writer, sr *store.StoredReport) {
	r := sr.Report
	fmt.Fprintf(w, "Report %d: %q from %s\n", sr.ID, r.ReportID, esc(r.OrganizationName))
	fmt.Fprintf(w, "  period:   %s to %s\n", r.DateRange.Start.Format(time.RFC3339), r.DateRange.End.Format(time.RFC3339))
	if r.ContactInfo != "" {
		fmt.Fprintf(w, "  contact:  %s\n", esc(r.ContactInfo))
	}
	fmt.Fprintf(w, "  input:    %d via %s from %s at %s (%d bytes, sha256 %x)\n", sr.Input.ID, sr.Input.Source,
		esc(sr.Input.Origin), sr.Input.ReceivedAt.Format(time.RFC3339), sr.Input.Size, sr.Input.SHA256)
	switch a := sr.Input.Auth; {
	case a != nil && a.Authenticated:
		fmt.Fprintf(w, "  dkim:     %s, signed by %s: authenticated\n", a.DKIM, esc(a.Domain))
	case a != nil:
		fmt.Fprintf(w, "  dkim:     %s: not authenticated: %s\n", a.DKIM, esc(a.Reason))
	case sr.Input.Source == "https":
		fmt.Fprintf(w, "  dkim:     none (by HTTPS: counted as authenticated)\n")
	default:
		fmt.Fprintf(w, "  dkim:     not verified: not authenticated\n")
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "  warning:  %s\n", esc(wn))
	}
	for i, p := range r.Policies {
		fmt.Fprintf(w, "  policy %d: %s for %s: %d successful, %d failed sessions\n", i, esc(p.Type), esc(p.Domain),
			p.SuccessfulSessions, p.FailedSessions)
		if len(p.MXHosts) > 0 {
			fmt.Fprintf(w, "    mx-host: %s\n", esc(strings.Join(p.MXHosts, ", ")))
		}
		for _, l := range p.String {
			fmt.Fprintf(w, "    | %s\n", esc(l))
		}
		for _, fd := range p.FailureDetails {
			fmt.Fprintf(w, "    failure: %s x%d", esc(fd.ResultType), fd.FailedSessions)
			for _, kv := range [][2]string{{"mx", fd.ReceivingMXHostname}, {"helo", fd.ReceivingMXHelo},
				{"receiving-ip", fd.ReceivingIP}, {"sending-ip", fd.SendingMTAIP}, {"reason", fd.FailureReasonCode},
				{"info", fd.AdditionalInformation}} {
				if kv[1] != "" {
					fmt.Fprintf(w, " %s=%q", kv[0], kv[1])
				}
			}
			fmt.Fprintln(w)
		}
	}
}
