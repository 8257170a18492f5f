package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tlsrpt/tlsrpt/query"
)

func TestSummaryByGolden(t *testing.T) {
	db := sampleDB(t)
	for _, by := range []string{"day", "result", "sender", "sending-ip"} {
		for _, format := range []string{"table", "json", "csv"} {
			out, errOut, code := run(t, "", "--db", db, "summary", "--by", by, "--format", format, "--domain", "example.com", "--since", "2026-10-01", "--until", "2026-10-03")
			if code != exitOK {
				t.Fatalf("--by %s: exit %d %s", by, code, errOut)
			}
			golden(t, "summary-by-"+by+"."+format, out)
		}
	}
	if _, errOut, code := run(t, "", "--db", db, "summary", "--by", "week"); code != exitUsage || !strings.Contains(errOut, `--by "week"`) {
		t.Errorf("bad --by: exit %d %q", code, errOut)
	}
}

func TestFailuresCommand(t *testing.T) {
	db := sampleDB(t)
	out, _, code := run(t, "", "--db", db, "failures", "--domain", "example.org", "--limit", "3")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	golden(t, "failures.txt", out)
	out, _, _ = run(t, "", "--db", db, "failures", "--result", "sts-policy-fetch-error", "--format", "json")
	var got struct {
		Failures []struct {
			ResultType        string `json:"result_type"`
			FailureReasonCode string `json:"failure_reason_code"`
		} `json:"failures"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Failures) == 0 {
		t.Fatalf("json: %v %s", err, out)
	}
	for _, f := range got.Failures {
		if f.ResultType != "sts-policy-fetch-error" {
			t.Errorf("filter let through %+v", f)
		}
	}
	if out, _, _ := run(t, "", "--db", db, "failures", "--mx", "nowhere.example"); out != "no failures match\n" {
		t.Errorf("no match: %q", out)
	}
}

func TestCheckNew(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	run(t, "", "--db", db, "import", "../../testdata/quirks/details-exceed-summary.json")

	var hits atomic.Int32
	var body atomic.Value
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body.Store(string(b))
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt fails: it is retried
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	out, errOut, code := run(t, "", "--db", db, "check-new", "--webhook", hook.URL, "--webhook-backoff", "1ms")
	if code != exitNew || !strings.Contains(out, "sts-policy-fetch-error") {
		t.Fatalf("first run: exit %d, out %q, err %q", code, out, errOut)
	}
	if hits.Load() != 2 || !strings.Contains(body.Load().(string), `"result_type":"sts-policy-fetch-error"`) {
		t.Errorf("webhook: %d hits, body %v", hits.Load(), body.Load())
	}
	if out, _, code := run(t, "", "--db", db, "check-new"); code != exitOK || out != "" {
		t.Errorf("second run: exit %d, out %q; want nothing new", code, out)
	}
	// A new report with failures; the webhook is down: exit 1, mark kept.
	run(t, "", "--db", db, "import", "../../testdata/quirks/unknown-result-type.json")
	hook.Close()
	_, errOut, code = run(t, "", "--db", db, "check-new", "--format", "json", "--webhook", hook.URL, "--webhook-backoff", "1ms")
	if code != exitError || !strings.Contains(errOut, "webhook "+hook.URL+": gave up after 4 attempts") {
		t.Errorf("webhook down: exit %d, %q", code, errOut)
	}
	out, _, code = run(t, "", "--db", db, "check-new", "--format", "json")
	if code != exitNew || !strings.Contains(out, `"result_type": "quantum-tls-downgrade"`) {
		t.Errorf("after a failed webhook the failures must come again: exit %d %s", code, out)
	}
	// --mark-only on a fresh database skips history.
	fresh := filepath.Join(t.TempDir(), "f.db")
	run(t, "", "--db", fresh, "import", "../../testdata/quirks")
	if out, _, code := run(t, "", "--db", fresh, "check-new", "--mark-only"); code != exitOK || out != "" {
		t.Errorf("mark-only: exit %d %q", code, out)
	}
	if _, _, code := run(t, "", "--db", fresh, "check-new"); code != exitOK {
		t.Errorf("after mark-only: exit %d", code)
	}
}

func TestReadinessCommand(t *testing.T) {
	db := sampleDB(t)
	// The sample ends 2026-10-30; fixedNow is 2026-11-01.
	out, _, code := run(t, "", "--db", db, "readiness", "--domain", "example.org", "--domain", "example.net")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	golden(t, "readiness.txt", out)
	out, _, _ = run(t, "", "--db", db, "readiness", "--format", "json", "--domain", "example.org")
	var got struct {
		Domains []map[string]any `json:"domains"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Domains) != 1 {
		t.Fatalf("%v %s", err, out)
	}
	for _, k := range []string{"policy_domain", "verdict", "reasons", "successful_sessions", "failed_sessions", "failure_rate",
		"days_covered", "reporters", "policy_mode", "unmatched_mx"} {
		if _, ok := got.Domains[0][k]; !ok {
			t.Errorf("readiness JSON lacks %q", k)
		}
	}
	if got.Domains[0]["verdict"] != "not-ready" {
		t.Errorf("example.org has an expired certificate on its backup MX: %v", got.Domains[0])
	}

	// --as-of judges as on an earlier day: a date, or a time back from now.
	for _, asOf := range []string{"2026-10-06", "26d"} {
		out, _, code = run(t, "", "--db", db, "readiness", "--format", "json", "--domain", "example.org", "--as-of", asOf)
		var then struct {
			Domains []query.Readiness `json:"domains"`
		}
		if err := json.Unmarshal([]byte(out), &then); code != exitOK || err != nil || len(then.Domains) != 1 {
			t.Fatalf("--as-of %s: exit %d, %v, %s", asOf, code, err, out)
		}
		if d := then.Domains[0]; d.LastDay > "2026-10-06" || d.DaysCovered >= int64(got.Domains[0]["days_covered"].(float64)) {
			t.Errorf("--as-of %s saw reports up to %s over %d days", asOf, d.LastDay, d.DaysCovered)
		}
	}
	if _, errOut, code := run(t, "", "--db", db, "readiness", "--as-of", "yesterday"); code != exitUsage || !strings.Contains(errOut, "--as-of") {
		t.Errorf("bad --as-of: exit %d, %q", code, errOut)
	}
}
