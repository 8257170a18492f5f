package query

import (
	"slices"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

// TestLatestSTSPolicyIgnoresOrder: the policy readiness reports does not
// depend on the order the store lists policies in.
func TestLatestSTSPolicyIgnoresOrder(t *testing.T) {
	d := func(n int) time.Time { return time.Date(2026, 3, n, 0, 0, 0, 0, time.UTC) }
	pol := func(mode string, first, last int, reports int64) store.PolicySeen {
		return store.PolicySeen{Domain: "a.example", Type: "sts", Lines: []string{"version: STSv1", "mode: " + mode},
			First: d(first), Last: d(last), Reports: reports}
	}
	for _, tt := range []struct {
		name     string
		policies []store.PolicySeen
		want     string
	}{
		{"seen last", []store.PolicySeen{pol("testing", 1, 5, 90), pol("enforce", 4, 6, 2)}, "mode: enforce"},
		// On the same last day, the policy that began later replaced the
		// other, however many reports carried the older one.
		{"first seen later on the same last day", []store.PolicySeen{pol("testing", 1, 6, 90), pol("enforce", 4, 6, 2)}, "mode: enforce"},
		{"more reports when first and last days match", []store.PolicySeen{pol("testing", 4, 6, 90), pol("enforce", 4, 6, 2)}, "mode: testing"},
		{"tlsa and lineless ignored", []store.PolicySeen{pol("testing", 1, 2, 1), {Domain: "a.example", Type: "tlsa", Lines: []string{"3 1 1 AB"}, Last: d(9)},
			{Domain: "a.example", Type: "sts", Last: d(9)}}, "mode: testing"},
	} {
		reversed := slices.Clone(tt.policies)
		slices.Reverse(reversed)
		for _, order := range [][]store.PolicySeen{tt.policies, reversed} {
			if got := latestSTSPolicies(order)["a.example"]; got.Lines[1] != tt.want {
				t.Errorf("%s: picked %q, want %q", tt.name, got.Lines, tt.want)
			}
		}
	}
}
