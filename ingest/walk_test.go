package ingest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestWalkerLots: directories read in several lots give every file once,
// each lot in name order; Maildir tmp/ and bookkeeping files, skipped
// paths and what is not a regular file are left out.
func TestWalkerLots(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 250 {
		p := filepath.Join(dir, "flat", string(rune('a'+i%26))+string(rune('a'+i/26)))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o644)
		want = append(want, p)
	}
	md := filepath.Join(dir, "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o755)
		os.WriteFile(filepath.Join(md, sub, "1.host"), nil, 0o644)
	}
	os.WriteFile(filepath.Join(md, "dovecot-uidlist"), nil, 0o644)
	want = append(want, filepath.Join(md, "cur", "1.host"), filepath.Join(md, "new", "1.host"))
	os.WriteFile(filepath.Join(dir, "tlsrpt.db"), nil, 0o644)
	os.Symlink(want[0], filepath.Join(dir, "link"))

	var got []string
	w := walker{lot: 100, skip: []string{filepath.Join(dir, "tlsrpt.db")}, emit: func(s source) bool {
		got = append(got, s.path)
		return true
	}}
	w.walk([]string{dir, filepath.Join(dir, "missing")})
	flat := slices.IndexFunc(got, func(p string) bool { return filepath.Base(filepath.Dir(p)) == "flat" })
	for start := 0; start < 250; start += 100 { // each lot of flat/ in order
		lot := got[flat+start : flat+min(start+100, 250)]
		if !slices.IsSorted(lot) {
			t.Errorf("lot at %d not in name order", start)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("walked %d paths, want %d:\n%q", len(got), len(want), got)
	}
	if w.unreadable != 1 || len(w.problems) != 1 {
		t.Errorf("problems %q (%d unreadable)", w.problems, w.unreadable)
	}
	// emit returning false stops the walk.
	n := 0
	w = walker{lot: 100, emit: func(source) bool { n++; return n < 10 }}
	w.walk([]string{dir})
	if n != 10 {
		t.Errorf("walked %d paths after being told to stop at 10", n)
	}
}

// TestWalkerSkipsRelative: a skipped file is left out whether the
// directory and the skipped path are given relative to the working
// directory or not.
func TestWalkerSkipsRelative(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "in", "sub"), 0o755)
	for _, name := range []string{"in/a.json", "in/tlsrpt.db", "in/sub/tlsrpt.db", "in/tlsrpt.db-wal"} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o644)
	}
	t.Chdir(dir)
	for _, tt := range []struct{ root, skip string }{
		{"in", "in/tlsrpt.db"}, {"./in/", filepath.Join(dir, "in", "tlsrpt.db")}, {filepath.Join(dir, "in"), "in/../in/tlsrpt.db"},
	} {
		var got []string
		w := walker{skip: []string{tt.skip, tt.skip + "-wal"}, emit: func(s source) bool {
			got = append(got, filepath.ToSlash(filepath.Base(filepath.Dir(s.path))+"/"+filepath.Base(s.path)))
			return true
		}}
		w.walk([]string{tt.root})
		slices.Sort(got)
		if want := []string{"in/a.json", "sub/tlsrpt.db"}; !slices.Equal(got, want) {
			t.Errorf("walking %s skipping %s: %q, want %q", tt.root, tt.skip, got, want)
		}
	}
}
