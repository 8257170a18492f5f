package ingest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestReadSmall(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("the fast path is unix only")
	}
	dir := t.TempDir()
	small := filepath.Join(dir, "r.json")
	os.WriteFile(small, []byte(`{"x":1}`), 0o644)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)

	if data, ok, err := readSmall(small, 100, nil); !ok || err != nil || string(data) != `{"x":1}` {
		t.Errorf("small file: %q, %v, %v", data, ok, err)
	}
	if data, ok, err := readSmall(empty, 100, nil); !ok || err != nil || len(data) != 0 {
		t.Errorf("empty file: %q, %v, %v", data, ok, err)
	}
	// Left to the stream path, which records them as the limit or the
	// kind of file requires.
	if data, ok, err := readSmall(small, 3, nil); ok || err != nil || data != nil {
		t.Errorf("file over the limit: %q, %v, %v", data, ok, err)
	}
	if _, ok, err := readSmall(dir, 100, nil); ok || err != nil {
		t.Errorf("directory: %v, %v", ok, err)
	}
	if _, ok, err := readSmall(filepath.Join(dir, "missing"), 100, nil); ok || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, %v", ok, err)
	}
}
