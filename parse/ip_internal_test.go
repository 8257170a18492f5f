package parse

import (
	"net/netip"
	"strings"
	"testing"
)

// isCanonicalIPv4 agrees with netip on what is a canonical dotted quad, for
// every combination of octets around the edges and some that are not
// dotted quads at all.
func TestIsCanonicalIPv4(t *testing.T) {
	octets := []string{"", "0", "00", "01", "1", "9", "10", "99", "100", "199", "200", "249", "250",
		"255", "256", "260", "300", "999", "1000", "-1", "a", " 1"}
	check := func(s string) {
		a, err := netip.ParseAddr(s)
		want := err == nil && a.Is4() && a.String() == s
		if got := isCanonicalIPv4(s); got != want {
			t.Errorf("isCanonicalIPv4(%q) = %v, netip says %v", s, got, want)
		}
	}
	for _, a := range octets {
		for _, b := range octets {
			for _, c := range octets {
				for _, d := range octets {
					check(strings.Join([]string{a, b, c, d}, "."))
				}
			}
		}
	}
	for _, s := range []string{"1.2.3", "1.2.3.4.5", "1..2.3", "1.2.3.4.", ".1.2.3.4", "::1", "::ffff:1.2.3.4",
		"1.2.3.4%eth0", "[1.2.3.4]", "1.2.3.4 ", "１.2.3.4"} {
		check(s)
	}
}
