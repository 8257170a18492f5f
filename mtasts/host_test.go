package mtasts

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodPolicy = "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\n"

func newHost(t *testing.T) (*Host, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "policy.txt")
	os.WriteFile(file, []byte(goodPolicy), 0o644)
	h, err := NewHost(map[string]string{"Example.COM.": file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h, file
}

func do(h http.Handler, method, host, path string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "https://"+host+path, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestHostServesPolicy(t *testing.T) {
	h, _ := newHost(t)
	w := do(h, http.MethodGet, "MTA-STS.example.com:443", WellKnownPath)
	if w.Code != http.StatusOK || w.Body.String() != "version: STSv1\r\nmode: testing\r\nmx: mx.example.com\r\nmax_age: 86400\r\n" {
		t.Fatalf("GET: %d %q", w.Code, w.Body.String())
	}
	for k, want := range map[string]string{
		"Content-Type": "text/plain; charset=utf-8", "Strict-Transport-Security": "max-age=31536000",
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if w := do(h, http.MethodHead, "mta-sts.example.com", WellKnownPath); w.Code != http.StatusOK || w.Body.Len() != 0 {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := do(h, http.MethodPost, "mta-sts.example.com", WellKnownPath); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d", w.Code)
	}
	if w := do(h, http.MethodGet, "mta-sts.example.com", "/.well-known/other"); w.Code != http.StatusNotFound {
		t.Errorf("other path: %d", w.Code)
	}
	if w := do(h, http.MethodGet, "mta-sts.example.com", "/"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "MTA-STS policy") {
		t.Errorf("page: %d", w.Code)
	}
	if h.Handles(httptest.NewRequest(http.MethodGet, "https://reports.example.com/", nil)) {
		t.Error("handles a host it does not serve")
	}
}

func TestHostReloadsPolicy(t *testing.T) {
	h, file := newHost(t)
	time.Sleep(1100 * time.Millisecond) // the file is looked at once a second at most
	os.WriteFile(file, []byte(strings.Replace(goodPolicy, "testing", "enforce", 1)), 0o644)
	if w := do(h, http.MethodGet, "mta-sts.example.com", WellKnownPath); !strings.Contains(w.Body.String(), "mode: enforce") {
		t.Errorf("not reloaded: %q", w.Body.String())
	}
	time.Sleep(1100 * time.Millisecond)
	os.WriteFile(file, []byte("version: STSv1\nmode: enforce\nmax_age: 86400\n"), 0o644) // no mx: invalid
	if w := do(h, http.MethodGet, "mta-sts.example.com", WellKnownPath); !strings.Contains(w.Body.String(), "mx: mx.example.com") {
		t.Errorf("an invalid edit replaced the policy: %q", w.Body.String())
	}
}

func TestNewHostRefusesInvalidPolicy(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.txt")
	os.WriteFile(file, []byte("version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 99999999\n"), 0o644)
	if _, err := NewHost(map[string]string{"example.com": file}, nil); err == nil || !strings.Contains(err.Error(), "max_age 99999999") {
		t.Errorf("err = %v", err)
	}
}
