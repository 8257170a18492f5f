package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tlsrpt/tlsrpt/mtasts"
)

func newPolicyCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Write and change an MTA-STS policy, and print the DNS records it needs",
		Long: `Write the MTA-STS policy file (RFC 8461) that "tlsrpt serve --mta-sts-policy"
serves, and print the DNS records to publish with it. Every change prints a
new id for the _mta-sts record: senders refetch the policy only when the id
changes, and otherwise keep the cached one for up to max_age.`,
		Example: `  tlsrpt policy init --domain example.com --mx mx1.example.com --rua mailto:tlsrpt@example.com
  tlsrpt policy validate example.com.mta-sts.txt
  tlsrpt readiness --domain example.com && tlsrpt policy set-mode enforce --domain example.com`,
	}
	cmd.AddCommand(newPolicyInitCommand(g), newPolicySetModeCommand(g), newPolicyValidateCommand())
	return cmd
}

// policyOptions are the flags of policy init and set-mode.
type policyOptions struct {
	Domain, Mode, File string
	MX, RUA            []string
	MaxAge             int64
	Force              bool
}

func newPolicyInitCommand(g *globalOptions) *cobra.Command {
	var o policyOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a new policy file and print the DNS records to publish",
		Example: `  tlsrpt policy init --domain example.com --mode testing --mx mx1.example.com --mx '*.mx.example.com' \
    --max-age 86400 --rua mailto:tlsrpt@example.com`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := mtasts.Init(mtasts.InitOptions{Domain: normalizeDomain(o.Domain), Mode: o.Mode, MX: o.MX,
				MaxAge: o.MaxAge, RUA: o.RUA, File: o.File, Force: o.Force, Now: g.now()})
			if err != nil {
				return policyErr(err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Wrote %s (mode %s, max_age %d). Publish these DNS records:\n\n", w.File, w.Policy.Mode, w.Policy.MaxAge)
			fmt.Fprintln(out, w.STSRecord)
			fmt.Fprintln(out, w.TLSRPTRecord)
			printHostHint(out, normalizeDomain(o.Domain), w.File)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Domain, "domain", "", "the mail domain the policy is for, required")
	f.StringVar(&o.Mode, "mode", mtasts.ModeTesting, "testing (report, deliver anyway), enforce, or none")
	f.StringSliceVar(&o.MX, "mx", nil, "MX host name or *.pattern the policy allows (repeatable)")
	f.Int64Var(&o.MaxAge, "max-age", 86400, "seconds senders may cache the policy (at most 31557600)")
	f.StringSliceVar(&o.RUA, "rua", nil, "where reports go, required: mailto:address or https://url (repeatable)")
	f.StringVar(&o.File, "file", "", "policy file to write (default DOMAIN.mta-sts.txt)")
	f.BoolVar(&o.Force, "force", false, "replace an existing file")
	cmd.RegisterFlagCompletionFunc("mode", formatCompletion(mtasts.ModeTesting, mtasts.ModeEnforce, mtasts.ModeNone))
	return cmd
}

// policyErr makes mtasts's usage errors the command's.
func policyErr(err error) error {
	if errors.Is(err, mtasts.ErrUsage) {
		return usageErr("%s", strings.TrimPrefix(err.Error(), mtasts.ErrUsage.Error()+": "))
	}
	return err
}

func normalizeDomain(d string) string {
	if d == "" {
		return ""
	}
	return normalizeDomains([]string{d})[0]
}

func printHostHint(out io.Writer, domain, file string) {
	fmt.Fprintf(out, "\nand point mta-sts.%s (A/AAAA or CNAME) at the host that runs\n", domain)
	fmt.Fprintf(out, "  tlsrpt serve --mta-sts-policy %s=%s\n", domain, file)
	fmt.Fprintf(out, "with a certificate valid for mta-sts.%s (--acme-domain mta-sts.%s does it).\n", domain, domain)
}

func newPolicySetModeCommand(g *globalOptions) *cobra.Command {
	var o policyOptions
	cmd := &cobra.Command{
		Use:   "set-mode MODE",
		Short: "Change the policy's mode and print the new _mta-sts record",
		Long: `Change the mode of a policy file (testing, enforce or none) and print the
_mta-sts record with a new id, which must be published for senders to
notice. Before enforce, ask "tlsrpt readiness --domain DOMAIN".`,
		Example:   `  tlsrpt policy set-mode enforce --domain example.com`,
		Args:      usageArgs(cobra.ExactArgs(1)),
		ValidArgs: []string{mtasts.ModeTesting, mtasts.ModeEnforce, mtasts.ModeNone},
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := mtasts.SetMode(normalizeDomain(o.Domain), o.File, args[0], g.now())
			if err != nil {
				return policyErr(err)
			}
			if w.STSRecord == "" {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: mode is %s already; nothing changed, the published id stays\n", w.File, w.Policy.Mode)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: mode %s -> %s. Publish the new id, or senders keep the old policy for up to %d seconds:\n\n%s\n",
				w.File, w.OldMode, w.Policy.Mode, w.Policy.MaxAge, w.STSRecord)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Domain, "domain", "", "the mail domain the policy is for")
	cmd.Flags().StringVar(&o.File, "file", "", "policy file (default DOMAIN.mta-sts.txt)")
	return cmd
}

func newPolicyValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "validate FILE",
		Short:   "Check a policy file against RFC 8461",
		Example: `  tlsrpt policy validate /etc/tlsrpt/example.com.mta-sts.txt`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := mtasts.ReadFile(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid (mode %s, %d mx, max_age %d)\n", args[0], p.Mode, len(p.MX), p.MaxAge)
			return nil
		},
	}
}
