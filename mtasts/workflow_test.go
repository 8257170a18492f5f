package mtasts_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/mtasts"
)

// Init and SetMode are policy init's and set-mode's logic: mistakes in
// what is asked are ErrUsage, and a policy goes from testing to enforce
// with a new id.
func TestInitAndSetMode(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.txt")
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, o := range []mtasts.InitOptions{
		{Mode: "testing", MX: []string{"mx.example.com"}, MaxAge: 86400, RUA: []string{"mailto:r@example.com"}},
		{Domain: "example.com", Mode: "sometimes", MX: []string{"mx.example.com"}, MaxAge: 86400, RUA: []string{"mailto:r@example.com"}},
		{Domain: "example.com", Mode: "testing", MX: []string{"mx.example.com"}, MaxAge: 86400},
	} {
		o.File = file
		if _, err := mtasts.Init(o); !errors.Is(err, mtasts.ErrUsage) {
			t.Errorf("%+v: %v, want ErrUsage", o, err)
		}
	}
	w, err := mtasts.Init(mtasts.InitOptions{Domain: "example.com", Mode: "testing", MX: []string{"mx.example.com"},
		MaxAge: 86400, RUA: []string{"mailto:r@example.com"}, File: file, Now: now})
	if err != nil || w.STSRecord != `_mta-sts.example.com. 3600 IN TXT "v=STSv1; id=20261204100000000000"` ||
		!strings.Contains(w.TLSRPTRecord, "rua=mailto:r@example.com") {
		t.Fatalf("init: %+v, %v", w, err)
	}
	if _, err := mtasts.Init(mtasts.InitOptions{Domain: "example.com", Mode: "testing", MX: []string{"mx.example.com"},
		MaxAge: 86400, RUA: []string{"mailto:r@example.com"}, File: file}); !errors.Is(err, mtasts.ErrUsage) {
		t.Errorf("init over an existing file: %v", err)
	}
	w, err = mtasts.SetMode("example.com", file, "enforce", now.Add(time.Hour))
	if err != nil || w.OldMode != "testing" || w.Policy.Mode != "enforce" || !strings.Contains(w.STSRecord, "id=20261204110000000000") {
		t.Fatalf("set-mode: %+v, %v", w, err)
	}
	if p, err := mtasts.ReadFile(file); err != nil || p.Mode != "enforce" {
		t.Errorf("file after set-mode: %+v, %v", p, err)
	}
	if _, err := mtasts.SetMode("example.com", file, "loud", now); !errors.Is(err, mtasts.ErrUsage) {
		t.Errorf("a bad mode: %v", err)
	}
}

// Two changes within a second get two ids.
func TestNewIDWithinASecond(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	a, b := mtasts.NewID(now), mtasts.NewID(now.Add(time.Microsecond))
	if a == b || len(a) != 20 || len(a) > 32 {
		t.Errorf("ids %q and %q", a, b)
	}
}
