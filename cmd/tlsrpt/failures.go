package main

import (
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
)

type failuresOptions struct {
	filterOptions
	MX          []string
	ResultTypes []string
	Senders     []string
	Limit       int
	Format      string
	Wide        bool
}

func (o *failuresOptions) AddFlags(fs *pflag.FlagSet) {
	o.filterOptions.AddFlags(fs)
	fs.StringSliceVar(&o.MX, "mx", nil, "only this receiving MX host (repeatable)")
	fs.StringSliceVar(&o.ResultTypes, "result", nil, "only this result type (repeatable)")
	fs.StringSliceVar(&o.Senders, "sender", nil, "only this reporting organisation, as in organization-name (repeatable)")
	fs.IntVarP(&o.Limit, "limit", "n", 100, "at most this many, newest first (0: all)")
	fs.StringVarP(&o.Format, "format", "f", "table", "output format: table, json, csv")
	fs.BoolVar(&o.Wide, "wide", false, "table: every field (sender, policy type, IPs, additional information), not what fits 120 columns")
}

func newFailuresCommand(g *globalOptions) *cobra.Command {
	var o failuresOptions
	var f store.FailureFilter
	cmd := &cobra.Command{
		Use:   "failures",
		Short: "The failure details behind the figures, newest first",
		Long: `List failure details as the senders reported them, newest report first, with
the sending and receiving hosts, additional-information and failure-reason-code.`,
		Example: `  tlsrpt failures --domain example.com --since 7d
  tlsrpt failures --mx mx2.example.com --result certificate-expired --format json`,
		Args: usageArgs(cobra.NoArgs),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(o.Format, "table", "json", "csv"); err != nil {
				return err
			}
			if o.Limit < 0 {
				return usageErr("--limit %d: want 0 (all) or more", o.Limit)
			}
			base, err := o.filter(g.now())
			base.Limit = o.Limit
			f = store.FailureFilter{Filter: base, MX: normalizeDomains(o.MX), ResultTypes: o.ResultTypes, Senders: o.Senders}
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withExistingStore(cmd.Context(), func(st database) error {
				shown := 0
				err := printFailures(newPrinter(cmd.OutOrStdout(), o.Format), o.Wide, func(fn func(store.FailureRow) error) error {
					return st.EachFailure(cmd.Context(), f, func(r store.FailureRow) error { shown++; return fn(r) })
				})
				if err != nil || f.Limit == 0 || shown < f.Limit {
					return err
				}
				return sayCut(cmd.ErrOrStderr(), shown, "failure details", func() (int64, error) { return st.CountFailures(cmd.Context(), f) })
			})
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.RegisterFlagCompletionFunc("format", formatCompletion("table", "json", "csv"))
	return cmd
}

// printFailures lists the failure details each yields, as they come.
// A table of failures keeps to a terminal's width (about 120 columns)
// unless wide: the report, day, domain, result type, MX host, count and
// reason (cut at narrowReason). CSV and JSON always carry every field.
const narrowReason = 24

func printFailures(p *printer, wide bool, each func(fn func(store.FailureRow) error) error) error {
	header := []string{"report", "start", "organization_name", "policy_domain", "policy_type", "result_type",
		"receiving_mx_hostname", "sending_mta_ip", "receiving_ip", "failed_sessions", "failure_reason_code", "additional_information"}
	narrow := p.format == "table" && !wide
	if narrow {
		header = []string{"report", "start", "policy_domain", "result_type", "mx_host", "failed", "reason"}
	}
	l := p.list(header, "failures", "no failures match")
	err := each(func(r store.FailureRow) error {
		return l.add(func() []string {
			d := r.Detail
			if narrow {
				reason := []rune(d.FailureReasonCode)
				if len(reason) > narrowReason {
					reason = append(reason[:narrowReason-1], '…')
				}
				return []string{strconv.FormatInt(r.ReportID, 10), r.Start.Format(time.DateOnly), r.Domain, d.ResultType,
					d.ReceivingMXHostname, strconv.FormatInt(d.FailedSessions, 10), string(reason)}
			}
			return []string{strconv.FormatInt(r.ReportID, 10), r.Start.Format(time.DateOnly), r.Organization,
				r.Domain, r.PolicyType, d.ResultType, d.ReceivingMXHostname, d.SendingMTAIP, d.ReceivingIP,
				strconv.FormatInt(d.FailedSessions, 10), d.FailureReasonCode, d.AdditionalInformation}
		}, func() any { return query.FailureRowJSON(r) })
	})
	if err != nil {
		return err
	}
	return l.close()
}
