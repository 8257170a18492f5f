package main

import (
	"fmt"
	"io"
	"os"
	"slices"

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
	}
	cmd.AddCommand(newPolicyInitCommand(g), newPolicySetModeCommand(g), newPolicyValidateCommand())
	return cmd
}

func defaultPolicyFile(domain string) string { return domain + ".mta-sts.txt" }

func newPolicyInitCommand(g *globalOptions) *cobra.Command {
	var domain, mode, file string
	var mx, rua []string
	var maxAge int64
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a new policy file and print the DNS records to publish",
		Example: `  tlsrpt policy init --domain example.com --mode testing --mx mx1.example.com --mx '*.mx.example.com' \
    --max-age 86400 --rua mailto:tlsrpt@example.com`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if domain == "" {
				return usageErr("--domain is required")
			}
			domain = normalizeDomains([]string{domain})[0]
			p := &mtasts.Policy{Version: "STSv1", Mode: mode, MX: mx, MaxAge: maxAge}
			if err := p.Validate(); err != nil {
				return usageErr("%v", err)
			}
			tlsrpt, err := mtasts.TLSRPTRecord(domain, rua)
			if err != nil {
				return usageErr("%v", err)
			}
			if file == "" {
				file = defaultPolicyFile(domain)
			}
			if _, err := os.Stat(file); err == nil && !force {
				return usageErr("%s exists: use --force to replace it, or policy set-mode to change its mode", file)
			}
			if err := mtasts.WriteFile(file, p); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Wrote %s (mode %s, max_age %d). Publish these DNS records:\n\n", file, p.Mode, p.MaxAge)
			fmt.Fprintln(out, mtasts.STSRecord(domain, mtasts.NewID(g.now())))
			fmt.Fprintln(out, tlsrpt)
			printHostHint(out, domain, file)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&domain, "domain", "", "the mail domain the policy is for")
	f.StringVar(&mode, "mode", mtasts.ModeTesting, "testing (report, deliver anyway), enforce, or none")
	f.StringSliceVar(&mx, "mx", nil, "MX host name or *.pattern the policy allows (repeatable)")
	f.Int64Var(&maxAge, "max-age", 86400, "seconds senders may cache the policy (at most 31557600)")
	f.StringSliceVar(&rua, "rua", nil, "where reports go: mailto:address or https://url (repeatable)")
	f.StringVar(&file, "file", "", "policy file to write (default DOMAIN.mta-sts.txt)")
	f.BoolVar(&force, "force", false, "replace an existing file")
	cmd.RegisterFlagCompletionFunc("mode", formatCompletion(mtasts.ModeTesting, mtasts.ModeEnforce, mtasts.ModeNone))
	return cmd
}

func printHostHint(out io.Writer, domain, file string) {
	fmt.Fprintf(out, "\nand point mta-sts.%s (A/AAAA or CNAME) at the host that runs\n", domain)
	fmt.Fprintf(out, "  tlsrpt serve --mta-sts-policy %s=%s\n", domain, file)
	fmt.Fprintf(out, "with a certificate valid for mta-sts.%s (--acme-domain mta-sts.%s does it).\n", domain, domain)
}

func newPolicySetModeCommand(g *globalOptions) *cobra.Command {
	var domain, file string
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
			if domain == "" {
				return usageErr("--domain is required")
			}
			domain = normalizeDomains([]string{domain})[0]
			if !slices.Contains([]string{mtasts.ModeTesting, mtasts.ModeEnforce, mtasts.ModeNone}, args[0]) {
				return usageErr("mode %q: want testing, enforce or none", args[0])
			}
			if file == "" {
				file = defaultPolicyFile(domain)
			}
			p, err := mtasts.ReadFile(file)
			if err != nil {
				return err
			}
			old := p.Mode
			p.Mode = args[0]
			if err := mtasts.WriteFile(file, p); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: mode %s -> %s. Publish the new id, or senders keep the old policy for up to %d seconds:\n\n",
				file, old, p.Mode, p.MaxAge)
			fmt.Fprintln(out, mtasts.STSRecord(domain, mtasts.NewID(g.now())))
			return nil
		},
	}
	cmd.Flags().StringVar(&domain, "domain", "", "the mail domain the policy is for")
	cmd.Flags().StringVar(&file, "file", "", "policy file (default DOMAIN.mta-sts.txt)")
	return cmd
}

func newPolicyValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a policy file against RFC 8461",
		Args:  usageArgs(cobra.ExactArgs(1)),
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
