package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra/doc"
)

// The command reference in docs/cli (Markdown) and docs/man (man pages) is
// generated from the commands themselves; this test fails when it is stale.
// go test ./cmd/tlsrpt -run Docs -update writes it again.
func TestDocsUpToDate(t *testing.T) {
	// Flag defaults read the environment: the reference shows the built-in
	// ones.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "TLSRPT_") {
			t.Setenv(name, "")
		}
	}
	gen := t.TempDir()
	root := newRootCommand(fixedNow)
	if err := os.MkdirAll(filepath.Join(gen, "cli"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := doc.GenMarkdownTree(root, filepath.Join(gen, "cli")); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	if err := os.MkdirAll(filepath.Join(gen, "man"), 0o755); err != nil {
		t.Fatal(err)
	}
	header := &doc.GenManHeader{Title: "TLSRPT", Section: "1", Source: "tlsrpt", Manual: "tlsrpt manual", Date: &date}
	if err := doc.GenManTree(newRootCommand(fixedNow), header, filepath.Join(gen, "man")); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"cli", "man"} {
		want := filepath.Join("..", "..", "docs", sub)
		if *update {
			os.RemoveAll(want)
			if err := os.CopyFS(want, os.DirFS(filepath.Join(gen, sub))); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, _ := filepath.Glob(filepath.Join(gen, sub, "*"))
		have, _ := filepath.Glob(filepath.Join(want, "*"))
		if len(got) != len(have) {
			t.Errorf("docs/%s has %d files, the commands make %d (go test ./cmd/tlsrpt -run Docs -update)", sub, len(have), len(got))
		}
		for _, g := range got {
			a, _ := os.ReadFile(g)
			b, err := os.ReadFile(filepath.Join(want, filepath.Base(g)))
			if err != nil || string(a) != string(b) {
				t.Errorf("docs/%s/%s is stale (go test ./cmd/tlsrpt -run Docs -update)", sub, filepath.Base(g))
			}
		}
	}
}
