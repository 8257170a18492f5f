package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
	"github.com/tlsrpt/tlsrpt/web"
)

// TestPageWeight: a page and everything it loads, the chart library
// included, weigh less than 300 KB uncompressed; and it names nothing
// outside the dashboard.
func TestPageWeight(t *testing.T) {
	h, err := web.New(testkit.OpenStore(t), web.Options{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) []byte {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d", path, rec.Code)
		}
		b, _ := io.ReadAll(rec.Body)
		return b
	}
	for _, page := range []string{"/", "/domains/example.com", "/reports/1", "/inputs"} {
		html := get(page)
		total := len(html)
		for _, m := range regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllSubmatch(html, -1) {
			total += len(get(string(m[1])))
		}
		t.Logf("%s: %d bytes with its assets", page, total)
		if total > 300<<10 {
			t.Errorf("%s weighs %d bytes with its assets, over 300 KB", page, total)
		}
	}
}
