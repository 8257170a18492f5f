package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

func oneReport(id string) store.Input {
	r := &parse.Report{OrganizationName: "Org", ReportID: id,
		DateRange: parse.DateRange{Start: time.Unix(1_770_000_000, 0).UTC(), End: time.Unix(1_770_086_399, 0).UTC()},
		Policies:  []parse.Policy{{Type: "sts", Domain: "example.com", SuccessfulSessions: 1}}}
	return store.Input{Data: []byte(id), Source: "test", Reports: []*parse.Report{r}}
}

// TestWALBesideTheRealFile opens the database through a symbolic link:
// SQLite keeps its log beside the file the link points to, and that is the
// file a commit must sync.
func TestWALBesideTheRealFile(t *testing.T) {
	ctx := context.Background()
	real, links := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(real, "t.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(real, "t.db"), filepath.Join(links, "t.db")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	db, err := Open(ctx, filepath.Join(links, "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if want, _ := filepath.EvalSymlinks(filepath.Join(real, "t.db")); db.wal != want+"-wal" {
		t.Errorf("log %s, want %s-wal", db.wal, want)
	}
	if _, err := db.Ingest(ctx, []store.Input{oneReport("r1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(db.wal); err != nil {
		t.Errorf("the log is not where it is synced: %v", err)
	}
}

// TestUnsyncedCommitIsAnError: when the log cannot be synced, Ingest says
// so rather than returning results a caller would acknowledge. The batch
// is committed all the same (SQLite cannot take a commit back), so a
// sender's retry finds it stored and counts a duplicate.
func TestUnsyncedCommitIsAnError(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wal := db.wal
	db.wal = filepath.Join(t.TempDir(), "missing", "t.db-wal")
	_, err = db.Ingest(ctx, []store.Input{oneReport("r1")})
	if err == nil || !strings.Contains(err.Error(), "not synced") {
		t.Fatalf("Ingest with an unsyncable log: %v", err)
	}
	db.wal = wal
	res, err := db.Ingest(ctx, []store.Input{oneReport("r1")})
	if err != nil || res[0].Outcome != store.OutcomeDuplicate {
		t.Errorf("the retry: %+v, %v; want a duplicate", res, err)
	}
}
