package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
)

func newDBCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Copy, inspect and back up the database",
		Long: `Look after the database: what it holds (stats), a consistent copy of a SQLite
file while it is in use (backup; for PostgreSQL use pg_dump), a copy of
everything from one store into another (copy), how a SQLite user moves to
PostgreSQL, and the deletion of old reports (prune).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDBStatsCommand(g), newDBBackupCommand(g), newDBCopyCommand(g), newDBPruneCommand(g))
	return cmd
}

type statsJSON struct {
	Database  string           `json:"database"`
	Size      int64            `json:"size_bytes"`
	Reports   int64            `json:"reports"`
	Domains   int64            `json:"domains"`
	Inputs    map[string]int64 `json:"inputs"`
	Arrivals  int64            `json:"arrivals"`
	RawBytes  int64            `json:"raw_bytes"`
	OldestDay string           `json:"oldest_report_day"`
	NewestDay string           `json:"newest_report_day"`
}

func newDBStatsCommand(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Counts, sizes, and the oldest and newest report",
		Example: `  tlsrpt db stats
  tlsrpt --db postgres://tlsrpt@db.example.com/tlsrpt db stats --format json`,
		Args: usageArgs(cobra.NoArgs),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return checkFormat(format, "table", "json")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withExistingStore(cmd.Context(), func(st database) error {
				s, err := st.(store.Statser).Stats(cmd.Context())
				if err != nil {
					return err
				}
				j := statsJSON{Database: g.dbName(), Size: s.Size, Reports: s.Reports, Domains: s.Domains, Inputs: map[string]int64{},
					Arrivals: s.Arrivals, RawBytes: s.RawBytes}
				for _, o := range []store.Outcome{store.OutcomeStored, store.OutcomeDuplicate, store.OutcomeInvalid, store.OutcomeNoReport, store.OutcomeUnauthenticated} {
					j.Inputs[string(o)] = s.Inputs[o]
				}
				if !s.Oldest.IsZero() {
					j.OldestDay, j.NewestDay = s.Oldest.Format(time.DateOnly), s.Newest.Format(time.DateOnly)
				}
				if format == "json" {
					return newPrinter(cmd.OutOrStdout(), "json").print(nil, nil, j)
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "database:  %s, %s on disk\n", j.Database, bytesHuman(j.Size))
				fmt.Fprintf(w, "reports:   %d for %d domains", j.Reports, j.Domains)
				if j.OldestDay != "" {
					fmt.Fprintf(w, ", %s to %s", j.OldestDay, j.NewestDay)
				}
				fmt.Fprintln(w)
				total := int64(0)
				for _, n := range j.Inputs {
					total += n
				}
				fmt.Fprintf(w, "inputs:    %d kept (%s as they arrived): %d stored, %d duplicate, %d invalid, %d no report, %d unauthenticated; %d later arrivals of the same bytes\n",
					total, bytesHuman(j.RawBytes), j.Inputs["stored"], j.Inputs["duplicate"], j.Inputs["invalid"], j.Inputs["no-report"],
					j.Inputs["unauthenticated"], j.Arrivals)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table, json")
	cmd.RegisterFlagCompletionFunc("format", formatCompletion("table", "json"))
	return cmd
}

func bytesHuman(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func newDBBackupCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the SQLite database while it is in use",
		Long: `Write a consistent copy of the SQLite database to FILE (SQLite's VACUUM INTO):
serve and fetch may go on writing meanwhile; the copy is compact and opens as
a database of its own (tlsrpt --db FILE summary). FILE must not exist. For
PostgreSQL use pg_dump (pg_dump -Fc tlsrpt > tlsrpt.dump).`,
		Example: `  tlsrpt --db /var/lib/tlsrpt/tlsrpt.db db backup /var/backups/tlsrpt-$(date +%F).db`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.isPostgres() {
				return usageErr("db backup copies a SQLite file: for PostgreSQL use pg_dump")
			}
			return g.withExistingStore(cmd.Context(), func(st database) error {
				if err := st.(*sqlite.DB).Backup(cmd.Context(), args[0]); err != nil {
					return err
				}
				fi, err := os.Stat(args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "backed up %s to %s (%s)\n", g.DB, args[0], bytesHuman(fi.Size()))
				return nil
			})
		},
	}
}

func newDBCopyCommand(g *globalOptions) *cobra.Command {
	var batch int
	cmd := &cobra.Command{
		Use:   "copy FROM TO",
		Short: "Copy everything from one store into another (SQLite to PostgreSQL, or back)",
		Long: `Copy every input with its bytes, outcome, DKIM result and later arrivals, every
report as it was stored, and check-new's mark, from the store FROM into the
store TO (each a SQLite file or a postgres:// URL), in the order they were
kept: TO is created or migrated, and should hold nothing else. Stopped at any
point, the same command goes on where it stopped. At the end the reports are
counted on both sides and the summaries compared: it exits 1 if they differ.

Stop serve and fetch on FROM first, or run it again after they stop: what
arrives during the copy is copied by the next run.`,
		Example: `  tlsrpt db copy /var/lib/tlsrpt/tlsrpt.db postgres://tlsrpt@db.example.com/tlsrpt?sslmode=verify-full
  PGPASSWORD=... tlsrpt db copy tlsrpt.db postgres://tlsrpt@127.0.0.1/tlsrpt`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fromOpts, toOpts := *g, *g
			fromOpts.DB, toOpts.DB = args[0], args[1]
			return fromOpts.withExistingStore(ctx, func(from database) error {
				return toOpts.withStore(ctx, func(to database) error {
					src, ok := from.(ingest.CopySource)
					if !ok {
						return fmt.Errorf("%s cannot be copied from", fromOpts.dbName())
					}
					progress := func(int) {}
					if isTerminal(os.Stderr) {
						progress = func(n int) { fmt.Fprintf(os.Stderr, "\rcopied %d inputs", n) }
					}
					start := time.Now()
					stats, err := ingest.Copy(ctx, src, to, parse.New(parse.Limits{}), ingest.CopyOptions{Batch: batch,
						ReportMarks: []string{query.MarkCheckNew}, Progress: progress})
					if isTerminal(os.Stderr) {
						fmt.Fprintln(os.Stderr)
					}
					if err != nil {
						return fmt.Errorf("copying %s to %s: stopped after %d inputs (run it again to go on): %w",
							fromOpts.dbName(), toOpts.dbName(), stats.Inputs, err)
					}
					resumed := ""
					if stats.Resumed {
						resumed = ", going on from an earlier copy"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "copied %d inputs, %d later arrivals and %d reports in %.1f s%s\n",
						stats.Inputs, stats.Arrivals, stats.Reports, time.Since(start).Seconds(), resumed)
					return verifyCopy(cmd, from, to, fromOpts.dbName(), toOpts.dbName())
				})
			})
		},
	}
	cmd.Flags().IntVar(&batch, "batch", 1000, "inputs copied per transaction")
	return cmd
}

// verifyCopy counts the reports on both sides and compares the summaries.
func verifyCopy(cmd *cobra.Command, from, to database, fromName, toName string) error {
	ctx := cmd.Context()
	nFrom, err := from.CountReports(ctx, store.Filter{})
	if err != nil {
		return err
	}
	nTo, err := to.CountReports(ctx, store.Filter{})
	if err != nil {
		return err
	}
	sFrom, err := query.Summarize(ctx, from, store.Filter{})
	if err != nil {
		return err
	}
	sTo, err := query.Summarize(ctx, to, store.Filter{})
	if err != nil {
		return err
	}
	if nFrom != nTo || !reflect.DeepEqual(sFrom, sTo) {
		a, _ := json.Marshal(sFrom)
		b, _ := json.Marshal(sTo)
		return fmt.Errorf("verification failed: %s holds %d reports, %s %d; summaries equal: %v (%d and %d bytes of JSON)",
			fromName, nFrom, toName, nTo, string(a) == string(b), len(a), len(b))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "verified: %d reports on both sides, and the same summary\n", nTo)
	return nil
}

func newDBPruneCommand(g *globalOptions) *cobra.Command {
	var olderThan string
	var dryRun, refused bool
	cmd := &cobra.Command{
		Use:   "prune --older-than AGE",
		Short: "Delete the reports older than an age, and the inputs only they held",
		Long: `Delete the reports that started before the day --older-than names (400d, 60w,
or a date), with their policies and failure details, their figures in the
rollups (summary and readiness then count what is left), and the inputs kept
for them alone (their bytes, later arrivals and DKIM results). Inputs whose
reports were duplicates go with the day they arrived. Refused inputs
(invalid, no report, unauthenticated) stay, kept for reprocess, unless
--refused. --dry-run says what would go. One transaction: stopped, nothing
is deleted.`,
		Example: `  tlsrpt db prune --older-than 400d --dry-run
  tlsrpt db prune --older-than 400d --refused`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if olderThan == "" {
				return usageErr("--older-than: how old the reports to delete are (400d, 60w, or a date)")
			}
			before, err := query.ParseTimeBound(olderThan, g.now())
			if err != nil {
				return usageErr("--older-than: %v", err)
			}
			return g.withExistingStore(cmd.Context(), func(st database) error {
				s, err := st.(store.Pruner).Prune(cmd.Context(), store.PruneOptions{Before: before, Refused: refused, DryRun: dryRun})
				if err != nil {
					return err
				}
				verb := "deleted"
				if dryRun {
					verb = "would delete"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %d reports that started before %s and %d inputs (%s)\n", verb, s.Reports,
					before.Format(time.DateOnly), s.Inputs, bytesHuman(s.Bytes))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "delete what started before this many days back (400d), weeks (60w), or a date")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be deleted, delete nothing")
	cmd.Flags().BoolVar(&refused, "refused", false, "also delete the refused inputs received before that day")
	return cmd
}
