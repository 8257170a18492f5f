package main

import (
	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/parse"
)

// reprocessOptions are reprocess's flags.
type reprocessOptions struct {
	ingest.ReprocessOptions
	Quiet    bool
	DKIM     dkimOptions
	Reverify bool
}

func newReprocessCommand(g *globalOptions) *cobra.Command {
	var o reprocessOptions
	cmd := &cobra.Command{
		Use:   "reprocess",
		Short: "Parse again the kept inputs that were invalid or held no report",
		Long: `Every input tlsrpt receives is kept raw. After an upgrade that teaches the
parser a new sender quirk, reprocess parses again every kept input whose
outcome was "invalid" or "no report" and stores the reports now found.
Reports already stored are not touched. With --duplicates, the inputs recorded
as duplicates too: releases before 2026-12 took a report under a reused
report-id (the Postfix reporter numbers reports per installation) for a
duplicate of the stored one, and left it out; they are stored now, flagged.
Output and exit codes are those of import.

Mail refused for want of authentication (--dkim require) is taken again
too: its DKIM result is the one recorded when it arrived (keys rotate), or
verified anew with --reverify; mail never verified (stored by a release
before 2026-12, or with --dkim off) is verified now.`,
		Example: `  tlsrpt reprocess
  tlsrpt reprocess --duplicates   # once, after upgrading from a release before 2026-12
  tlsrpt reprocess --dkim record  # store the reports of mail require refused
  tlsrpt reprocess --reverify     # verify the refused mail's signatures again (DNS fixed)`,
		Args: usageArgs(cobra.NoArgs),
		PreRunE: func(cmd *cobra.Command, args []string) (err error) {
			o.ReprocessOptions.DKIM, err = o.DKIM.dkim()
			o.ReprocessOptions.DKIM.Reverify = o.Reverify
			if o.Reverify && o.DKIM.Mode == ingest.DKIMOff {
				return usageErr("--reverify verifies DKIM again: not with --dkim off")
			}
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withStore(cmd.Context(), func(st database) error {
				stats, err := ingest.Reprocess(cmd.Context(), st, parse.New(parse.Limits{}), o.ReprocessOptions)
				if err != nil {
					return err
				}
				printImportStats(cmd.OutOrStdout(), cmd.ErrOrStderr(), stats, o.Quiet)
				if stats.Deferred > 0 {
					return errDeferred
				}
				if stats.Invalid > 0 {
					return errInvalid
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", false, "print nothing but problems")
	cmd.Flags().BoolVar(&o.Duplicates, "duplicates", false, "also parse again the inputs recorded as duplicates (reports under a reused report-id)")
	cmd.Flags().BoolVar(&o.Reverify, "reverify", false, "verify the DKIM signatures of the refused mail again instead of keeping the result recorded when it arrived")
	o.DKIM.AddFlags(cmd.Flags())
	return cmd
}
