package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tlsrpt/tlsrpt/ingest"
	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store/postgres"
	"github.com/tlsrpt/tlsrpt/store/sqlite"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	DB           string
	PasswordFile string
	LogLevel     string
	BusyTimeout  time.Duration
	// now is the clock, replaced in tests.
	now func() time.Time
}

func (g *globalOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&g.DB, "db", envOr("TLSRPT_DB", "tlsrpt.db"), "SQLite database file, or a PostgreSQL URL postgres://user@host:5432/db?sslmode=verify-full (env TLSRPT_DB)")
	fs.StringVar(&g.PasswordFile, "db-password-file", envOr("TLSRPT_DB_PASSWORD_FILE", ""), "PostgreSQL: file holding the password (else PGPASSWORD or PGPASSFILE; never in the URL on a command line)")
	fs.DurationVar(&g.BusyTimeout, "busy-timeout", envDuration("TLSRPT_BUSY_TIMEOUT", 10*time.Second),
		"how long to wait for a database another process is writing; past it the command exits 75 (env TLSRPT_BUSY_TIMEOUT)")
	fs.StringVar(&g.LogLevel, "log-level", envOr("TLSRPT_LOG_LEVEL", "warn"), "log level: debug, info, warn, error (env TLSRPT_LOG_LEVEL)")
}

func (g *globalOptions) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.LogLevel)); err != nil {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// database is what the commands need of a store: the contract, the IMAP
// messages fetch has seen, and check-new's marks. SQLite and PostgreSQL
// both are.
type database interface {
	ingest.SeenStore
	query.MarkStore
}

// isPostgres reports whether --db names a PostgreSQL database.
func (g *globalOptions) isPostgres() bool { return postgres.IsURL(g.DB) }

// dbName is --db as messages name it: a PostgreSQL URL without its password.
func (g *globalOptions) dbName() string {
	if g.isPostgres() {
		return postgres.Redacted(g.DB)
	}
	return g.DB
}

func (g *globalOptions) openStore(ctx context.Context) (database, error) {
	if g.isPostgres() {
		var o postgres.Options
		if g.PasswordFile != "" {
			b, err := os.ReadFile(g.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("reading --db-password-file: %w", err)
			}
			o.Password = strings.TrimRight(string(b), "\r\n")
		}
		db, err := postgres.OpenWith(ctx, g.DB, o)
		if err != nil {
			return nil, err
		}
		db.Now = g.now
		return db, nil
	}
	db, err := sqlite.OpenWith(ctx, g.DB, sqlite.Options{BusyTimeout: g.BusyTimeout})
	if err != nil {
		return nil, err
	}
	db.Now = g.now
	return db, nil
}

// withExistingStore is withStore for the commands that only read: a path
// with no database is a mistake to say, not an empty store to create (a
// mistyped --db would look like a store with no reports).
func (g *globalOptions) withExistingStore(ctx context.Context, fn func(database) error) error {
	if _, err := os.Stat(g.DB); !g.isPostgres() && errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no database at %s: create one with tlsrpt --db %s import PATH (or serve, or fetch)", g.DB, g.DB)
	}
	return g.withStore(ctx, fn)
}

// withStore opens the store, creating it if needed, runs fn with it and
// closes it.
func (g *globalOptions) withStore(ctx context.Context, fn func(database) error) error {
	st, err := g.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

// envDuration is the duration in the environment variable name, def when
// it is unset or not a duration.
func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// newRootCommand builds the command tree; now is the clock (time.Now but in
// tests).
func newRootCommand(now func() time.Time) *cobra.Command {
	g := &globalOptions{now: now}
	cmd := &cobra.Command{
		Use:   "tlsrpt",
		Short: "Collect SMTP TLS reports and decide when MTA-STS can enforce",
		Long: `tlsrpt collects SMTP TLS reports (RFC 8460) that mail senders send about
your domains, keeps every one of them in a SQLite database, and summarises
which MX hosts fail TLS and why, so you know whether your MTA-STS policy
(RFC 8461) can go from "testing" to "enforce" without losing mail.

Start with:
  tlsrpt import reports/        # files, directories, Maildirs, mbox, or - for stdin
  tlsrpt summary                # failures per domain, MX host and result type

Every command reads the database from --db (or TLSRPT_DB), tlsrpt.db by default.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// The reference in docs/ is generated from the commands: no date
		// in it, so that it changes only when they do.
		DisableAutoGenTag: true,
	}
	g.AddFlags(cmd.PersistentFlags())
	// An unknown command is a usage error (exit 2), like any other.
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
		}
		return usageErr("%s (see %s --help)", msg, cmd.CommandPath())
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	cmd.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		var level slog.Level
		if err := level.UnmarshalText([]byte(g.LogLevel)); err != nil {
			return usageErr("--log-level %q: want debug, info, warn or error", g.LogLevel)
		}
		return nil
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%v (see %s --help)", err, c.CommandPath())
	})
	cmd.AddCommand(
		newImportCommand(g),
		newSummaryCommand(g),
		newReportsCommand(g),
		newReprocessCommand(g),
		newReadinessCommand(g),
		newFailuresCommand(g),
		newCheckNewCommand(g),
		newFetchCommand(g),
		newServeCommand(g),
		newPolicyCommand(g),
		newCheckCommand(g),
		newWebCommand(g),
		newDBCommand(g),
	)
	// The commands that never open a database do not show its flags (the
	// completion command is made as the command runs: its help is
	// adjusted then).
	defaultHelp := cmd.HelpFunc()
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		for p := c; p != nil; p = p.Parent() {
			if p.Name() == "policy" || p.Name() == "check" || p.Name() == "completion" || c.CommandPath() == "tlsrpt web passwd" {
				withoutGlobalFlags(c)
				break
			}
		}
		defaultHelp(c, args)
	})
	return cmd
}

// usageArgs wraps a cobra positional-argument check so its error is a usage
// error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageErr("%v (see %s --help)", err, cmd.CommandPath())
		}
		return nil
	}
}

// checkFormat validates a --format value against the ones a command offers.
func checkFormat(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return usageErr("--format %q: want one of %s", format, strings.Join(allowed, ", "))
}

func formatCompletion(allowed ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return allowed, cobra.ShellCompDirectiveNoFileComp
	}
}

// withoutGlobalFlags leaves the global flags (--db, --busy-timeout,
// --log-level) out of c's help.
func withoutGlobalFlags(c *cobra.Command) {
	tmpl := c.UsageTemplate()
	if i := strings.Index(tmpl, "{{if .HasAvailableInheritedFlags}}"); i >= 0 {
		if j := strings.Index(tmpl[i:], "{{end}}"); j >= 0 {
			tmpl = tmpl[:i] + tmpl[i+j+len("{{end}}"):]
		}
	}
	c.SetUsageTemplate(tmpl)
}
