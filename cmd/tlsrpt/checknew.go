package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/query"
)

// checkNewOptions are check-new's flags.
type checkNewOptions struct {
	Domains         []string
	Format, Webhook string
	MarkOnly        bool
	WebhookAttempts int
	WebhookBackoff  time.Duration
}

func newCheckNewCommand(g *globalOptions) *cobra.Command {
	var o checkNewOptions
	cmd := &cobra.Command{
		Use:   "check-new",
		Short: "Print failures reported since the last run; exit 3 when there are any",
		Long: `Print the failure details in reports stored since the previous run of
check-new (the mark is kept in the database), for cron or a systemd timer to
mail or page on: exit 3 when there are new failures, 0 when none.

The first run reports every failure stored; --mark-only sets the mark
without printing. With --webhook URL the same JSON is POSTed to the URL,
retried with backoff; when it cannot be delivered check-new exits 1 and
does not move the mark, so the next run sends it again.`,
		Example: `  # crontab: mail new failures every hour (cron mails any output)
  0 * * * *  tlsrpt --db /var/lib/tlsrpt/tlsrpt.db check-new
  tlsrpt check-new --format json --webhook https://hooks.example.com/tlsrpt`,
		Args: usageArgs(cobra.NoArgs),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if o.WebhookAttempts < 1 || o.WebhookBackoff < 0 {
				return usageErr("--webhook-attempts must be at least 1 and --webhook-backoff not negative")
			}
			return checkFormat(o.Format, "table", "json")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return g.withExistingStore(ctx, func(st database) error {
				n, err := query.RunCheckNew(ctx, st, query.CheckNewOptions{Domains: normalizeDomains(o.Domains), MarkOnly: o.MarkOnly,
					Webhook: query.Webhook{URL: o.Webhook, Attempts: o.WebhookAttempts, Backoff: o.WebhookBackoff}},
					func(n *query.NewFailures) error {
						switch {
						case o.Format == "json":
							return newPrinter(cmd.OutOrStdout(), "json").print(nil, nil, n)
						case len(n.Failures) > 0:
							return printFailures(newPrinter(cmd.OutOrStdout(), "table"), false, eachOf(n.Failures))
						}
						return nil
					})
				if err != nil {
					return err
				}
				if len(n.Failures) > 0 && !o.MarkOnly {
					return errNewFailures
				}
				return nil
			})
		},
	}
	cmd.Flags().StringSliceVar(&o.Domains, "domain", nil, "only this policy domain (repeatable)")
	cmd.Flags().StringVarP(&o.Format, "format", "f", "table", "output format: table, json")
	cmd.Flags().StringVar(&o.Webhook, "webhook", "", "also POST the new failures as JSON to this URL")
	cmd.Flags().IntVar(&o.WebhookAttempts, "webhook-attempts", 4, "tries before giving up on the webhook")
	cmd.Flags().DurationVar(&o.WebhookBackoff, "webhook-backoff", time.Second, "wait before the second try, doubled before each next one")
	cmd.Flags().BoolVar(&o.MarkOnly, "mark-only", false, "set the mark to the newest report and print nothing")
	cmd.RegisterFlagCompletionFunc("format", formatCompletion("table", "json"))
	return cmd
}
