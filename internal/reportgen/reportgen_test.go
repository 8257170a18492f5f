package reportgen_test

import (
	"bytes"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/reportgen"
	"github.com/tlsrpt/tlsrpt/parse"
)

func TestGeneratedReportsParseAndRepeat(t *testing.T) {
	a := reportgen.New(reportgen.Options{Domains: 50, Seed: 7})
	b := reportgen.New(reportgen.Options{Domains: 50, Seed: 7})
	p := parse.New(parse.Limits{})
	var tlsa, details int
	for range 500 {
		ra, _ := a.Next()
		rb, _ := b.Next()
		if !bytes.Equal(ra.JSON(), rb.JSON()) {
			t.Fatal("the same seed wrote different reports")
		}
		r, err := p.ParseReport(ra.JSON())
		if err != nil {
			t.Fatalf("generated report refused: %v", err)
		}
		if len(r.Warnings) != 0 {
			t.Errorf("generated report has warnings: %q", r.Warnings)
		}
		if len(r.Policies) == 2 {
			tlsa++
		}
		details += len(r.Policies[0].FailureDetails)
	}
	if tlsa == 0 || details == 0 {
		t.Errorf("no variety: %d sts+tlsa reports, %d failure details", tlsa, details)
	}
}
