package main

import (
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/parse"
)

type importOptions struct {
	Workers   int
	BatchSize int
	Quiet     bool
	DKIM      dkimOptions
}

func (o *importOptions) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.Workers, "workers", 0, "inputs parsed in parallel (0: one per CPU)")
	fs.IntVar(&o.BatchSize, "batch", 2048, "inputs committed per transaction")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "print nothing but problems")
	o.DKIM.AddFlags(fs)
}

func newImportCommand(g *globalOptions) *cobra.Command {
	var o importOptions
	var dkim ingest.DKIM
	cmd := &cobra.Command{
		Use:   "import PATH...",
		Short: "Import reports from files, directories, Maildirs, mbox files or stdin",
		Long: `Import TLS reports from files and folders into the database.

Each PATH is a report file (.json, .json.gz, .zip), a mail message (.eml),
an mbox file, a directory (walked recursively; in a Maildir only cur/ and
new/ are read), or - for standard input, so an MTA can pipe a message in.
The format is told from the bytes, not the file name.

Every input is kept raw with its outcome, even when it holds no report or is
refused, so "tlsrpt reprocess" can parse it again later. A report already
stored (same organization-name and report-id) is counted as a duplicate.

Prints one line per outcome, and one line per invalid input on stderr.
Exits 4 when any input was invalid or unreadable, after storing all the
valid ones.
` + dkimHelp,
		Example: `  tlsrpt import testdata/sample
  tlsrpt import ~/Maildir/.TLSRPT report.json.gz
  formail -s tlsrpt import - < reports.mbox    # or: tlsrpt import reports.mbox
  # Postfix: tlsrpt unix - n n - - pipe user=tlsrpt argv=/usr/local/bin/tlsrpt --db /var/lib/tlsrpt/tlsrpt.db import -q -`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if o.Workers < 0 || o.BatchSize < 1 {
				return usageErr("--workers must be 0 (one per CPU) or more and --batch at least 1")
			}
			var err error
			dkim, err = o.DKIM.dkim()
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withStore(cmd.Context(), func(st database) error {
				opts := ingest.ImportOptions{Paths: args, Stdin: cmd.InOrStdin(), Workers: o.Workers, BatchSize: o.BatchSize, Now: g.now,
					Skip: []string{g.DB, g.DB + "-wal", g.DB + "-shm", g.DB + "-journal"}, DKIM: dkim}
				finish := func() {}
				if isTerminal(os.Stderr) && !o.Quiet {
					// A count while the walk goes on (its total only grows),
					// a bar once the total is final: it never moves back, and
					// ends at 100% with the rate.
					bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
						progressbar.OptionShowIts(), progressbar.OptionSetItsString("inputs"),
						progressbar.OptionSetDescription("importing"), progressbar.OptionThrottle(100e6))
					sized := false
					opts.Progress = func(done, total int, final bool) {
						if final && !sized {
							bar.ChangeMax(total)
							sized = true
						}
						bar.Set(done)
					}
					finish = func() { bar.Finish(); fmt.Fprintln(os.Stderr) }
				}
				stats, err := ingest.Import(cmd.Context(), st, parse.New(parse.Limits{}), opts)
				finish() // the bar's last frame, at 100%, before the counts
				if err != nil {
					// What was committed stays: say how much, and where the
					// import stopped.
					return fmt.Errorf("importing into %s: stopped after %s (%s stored): %w", g.dbName(),
						plural(stats.Inputs, "input was committed", "inputs were committed"),
						plural(stats.Stored, "report", "reports"), err)
				}
				printImportStats(cmd.OutOrStdout(), cmd.ErrOrStderr(), stats, o.Quiet)
				if stats.Deferred > 0 {
					return errDeferred
				}
				if stats.Invalid > 0 || stats.Unreadable > 0 {
					return errInvalid
				}
				return nil
			})
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// maxProblems bounds the problem lines printed; the rest are counted.
const maxProblems = 50

func printImportStats(out, errOut io.Writer, s ingest.ImportStats, quiet bool) {
	if !quiet {
		fmt.Fprintf(out, "stored:     %s\n", plural(s.Stored, "report", "reports"))
		fmt.Fprintf(out, "duplicates: %s\n", plural(s.Duplicates, "report", "reports"))
		if s.Reused > 0 {
			fmt.Fprintf(out, "reused ids: %s stored under a report-id used before with other figures (see their warnings)\n",
				plural(s.Reused, "report", "reports"))
		}
		fmt.Fprintf(out, "invalid:    %s\n", plural(s.Invalid, "input", "inputs"))
		fmt.Fprintf(out, "no report:  %s\n", plural(s.NoReport, "input", "inputs"))
		if s.Unauthenticated > 0 {
			fmt.Fprintf(out, "not authenticated: %s whose reports were not stored (kept: tlsrpt reprocess)\n", plural(s.Unauthenticated, "mail", "mails"))
		}
		if s.Deferred > 0 {
			fmt.Fprintf(out, "left for later: %s whose DKIM keys could not be looked up (not recorded: run again)\n", plural(s.Deferred, "mail", "mails"))
		}
		if s.Known > 0 {
			fmt.Fprintf(out, "kept before: %s with the same bytes: not kept again, the arrival noted\n", plural(s.Known, "input", "inputs"))
		}
		if s.Skipped > 0 {
			fmt.Fprintf(out, "skipped:    %s that are no reports by name and content\n", plural(s.Skipped, "file", "files"))
		}
		if s.Unreadable > 0 {
			fmt.Fprintf(out, "unreadable: %s\n", plural(s.Unreadable, "path", "paths"))
		}
	}
	for i, p := range s.Problems {
		if i == maxProblems {
			break
		}
		fmt.Fprintln(errOut, esc(p))
	}
	if more := len(s.Problems) - min(len(s.Problems), maxProblems) + s.MoreProblems; more > 0 {
		fmt.Fprintf(errOut, "... and %d more problems\n", more)
	}
}
