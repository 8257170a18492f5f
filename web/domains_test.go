package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/web"
)

type domainsAnswer struct {
	NewestReportID int64 `json:"newest_report_id"`
	Total          int   `json:"total"`
	Domains        []struct {
		PolicyDomain     string     `json:"policy_domain"`
		DailyFailureRate []*float64 `json:"daily_failure_rate"`
	} `json:"domains"`
}

func domains(t *testing.T, h http.Handler, query string) domainsAnswer {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/domains?limit=1000&"+query, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: %d %s", query, rec.Code, rec.Body)
	}
	var a domainsAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func lateReport(t *testing.T, n int) store.Input {
	rep, err := parse.New(parse.Limits{}).ParseReport(fmt.Appendf(nil, `{"organization-name":"Late","date-range":{"start-datetime":"2026-10-30T00:00:00Z","end-datetime":"2026-10-30T23:59:59Z"},"contact-info":"x","report-id":"late-%d","policies":[{"policy":{"policy-type":"sts","policy-domain":"late%d.example"},"summary":{"total-successful-session-count":9,"total-failure-session-count":1}}]}`, n, n))
	if err != nil {
		t.Fatal(err)
	}
	return store.Input{Data: fmt.Appendf(nil, "late %d", n), Source: "import", Origin: "late.json", ReceivedAt: now, Reports: []*parse.Report{rep}}
}

// TestDomainsViewFollowsArrivals: the domains view is answered from memory
// while no report arrives; after one, the next answer is the view in memory
// and a later one has the new report.
func TestDomainsViewFollowsArrivals(t *testing.T) {
	defer web.SetMinRefresh(web.SetMinRefresh(0))
	st := seeded(t)
	h, err := web.New(st, web.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	first := domains(t, h, "")
	if first.Total != 3 || len(first.Domains[0].DailyFailureRate) != 30 {
		t.Fatalf("first view: %+v", first)
	}
	if _, err := st.Ingest(context.Background(), []store.Input{lateReport(t, 1)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := domains(t, h, "")
		if a.NewestReportID != first.NewestReportID {
			if a.Total != 4 || !slices.ContainsFunc(a.Domains, func(d struct {
				PolicyDomain     string     `json:"policy_domain"`
				DailyFailureRate []*float64 `json:"daily_failure_rate"`
			}) bool {
				return d.PolicyDomain == "late1.example" && d.DailyFailureRate[28] != nil && *d.DailyFailureRate[28] == 0.1 && d.DailyFailureRate[29] == nil
			}) {
				t.Errorf("the new view: %+v", a)
			}
			break
		}
		if a.Total != 3 {
			t.Fatalf("a view answered as of report %d holds %d domains", a.NewestReportID, a.Total)
		}
		if time.Now().After(deadline) {
			t.Fatal("the view never caught up with the new report")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDomainsViewConcurrent: pages asking for several views while reports
// arrive (run with -race by scripts/fences.sh).
func TestDomainsViewConcurrent(t *testing.T) {
	defer web.SetMinRefresh(web.SetMinRefresh(0))
	st := seeded(t)
	h, err := web.New(st, web.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			windows := []string{"7", "30", "90", "365", "14"}
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				a := domains(t, h, "window="+windows[(i+j)%len(windows)]+"&sort=failure_rate")
				if a.Total < 3 {
					t.Errorf("a view with %d domains", a.Total)
					return
				}
			}
		})
	}
	for n := range 20 {
		if _, err := st.Ingest(context.Background(), []store.Input{lateReport(t, n)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
}
