package parse_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tlsrpt/tlsrpt/parse"
)

func addSeeds(f *testing.F, patterns ...string) {
	for _, pat := range patterns {
		files, _ := filepath.Glob(pat)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
}

// checkItems holds for any input: no panic, each item has a report or an
// error, and a returned report is countable.
func checkItems(t *testing.T, items []parse.Item, err error) {
	if err != nil && items != nil {
		t.Fatalf("both items and error %v", err)
	}
	for _, it := range items {
		if (it.Report == nil) == (it.Err == nil) {
			t.Fatalf("item %q: report %v, err %v", it.Name, it.Report != nil, it.Err)
		}
		if r := it.Report; r != nil {
			if r.ReportID == "" || r.OrganizationName == "" || r.DateRange.End.Before(r.DateRange.Start) {
				t.Fatalf("accepted an unusable report: %+v", r)
			}
			for _, p := range r.Policies {
				if p.SuccessfulSessions < 0 || p.FailedSessions < 0 {
					t.Fatalf("negative count accepted: %+v", p)
				}
				for _, fd := range p.FailureDetails {
					if fd.FailedSessions < 0 {
						t.Fatalf("negative detail count accepted: %+v", fd)
					}
				}
			}
		}
	}
}

func FuzzDecodeReport(f *testing.F) {
	addSeeds(f, "../testdata/quirks/*.json", corpusDir+"/*.json")
	f.Add([]byte(`{"policies":[]}`))
	f.Add([]byte{0x1f, 0x8b})
	p := parse.New(parse.Limits{MaxReport: 1 << 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := p.Parse(data)
		checkItems(t, items, err)
	})
}

func FuzzMessage(f *testing.F) {
	addSeeds(f, "../testdata/mail/*.eml", corpusDir+"/*.eml")
	p := parse.New(parse.Limits{MaxReport: 1 << 20})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Force the message walker whatever the fuzzer's first bytes are.
		items, err := p.Parse(append([]byte("From: fuzz@example.com\r\n"), data...))
		checkItems(t, items, err)
	})
}
