package query

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

// MarkCheckNew is the mark check-new keeps: the newest report it has seen.
const MarkCheckNew = "check-new"

// NewFailures is what check-new found.
type NewFailures struct {
	// AfterReport and UpToReport bound the reports looked at.
	AfterReport int64              `json:"after_report"`
	UpToReport  int64              `json:"up_to_report"`
	Failures    []store.FailureRow `json:"-"`
	Rows        []FailureJSON      `json:"failures"`
}

// FailureJSON is a failure detail as scripts read it.
type FailureJSON struct {
	Report                int64  `json:"report"`
	OrganizationName      string `json:"organization_name"`
	ReportID              string `json:"report_id"`
	Start                 string `json:"start"`
	PolicyDomain          string `json:"policy_domain"`
	PolicyType            string `json:"policy_type"`
	ResultType            string `json:"result_type"`
	ReceivingMXHostname   string `json:"receiving_mx_hostname"`
	ReceivingMXHelo       string `json:"receiving_mx_helo"`
	ReceivingIP           string `json:"receiving_ip"`
	SendingMTAIP          string `json:"sending_mta_ip"`
	FailedSessions        int64  `json:"failed_sessions"`
	AdditionalInformation string `json:"additional_information"`
	FailureReasonCode     string `json:"failure_reason_code"`
}

// FailureRowsJSON converts failure rows for JSON output.
func FailureRowsJSON(rows []store.FailureRow) []FailureJSON {
	out := make([]FailureJSON, 0, len(rows))
	for _, r := range rows {
		out = append(out, FailureRowJSON(r))
	}
	return out
}

// FailureRowJSON converts one failure row for JSON output.
func FailureRowJSON(r store.FailureRow) FailureJSON {
	d := r.Detail
	return FailureJSON{r.ReportID, r.Organization, r.ReportRef, r.Start.Format(time.RFC3339), r.Domain,
		r.PolicyType, d.ResultType, d.ReceivingMXHostname, d.ReceivingMXHelo, d.ReceivingIP, d.SendingMTAIP,
		d.FailedSessions, d.AdditionalInformation, d.FailureReasonCode}
}

// MarkStore is a store that also keeps named positions, such as the last
// report check-new looked at.
type MarkStore interface {
	store.Store
	// Mark returns a named position (0 when never set); SetMark sets it.
	Mark(ctx context.Context, name string) (int64, error)
	SetMark(ctx context.Context, name string, value int64) error
}

// CheckNew finds the failures in reports stored since the mark. It does not
// move the mark: call Advance once the failures have been delivered, so a
// failed delivery is tried again next time.
func CheckNew(ctx context.Context, st MarkStore, domains []string) (*NewFailures, error) {
	after, err := st.Mark(ctx, MarkCheckNew)
	if err != nil {
		return nil, err
	}
	upTo, err := st.MaxReportID(ctx)
	if err != nil {
		return nil, err
	}
	n := &NewFailures{AfterReport: after, UpToReport: upTo}
	if upTo <= after {
		n.Rows = []FailureJSON{}
		return n, nil
	}
	n.Failures, err = st.Failures(ctx, store.FailureFilter{Filter: store.Filter{Domains: domains}, AfterReport: after, UpToReport: upTo})
	if err != nil {
		return nil, err
	}
	n.Rows = FailureRowsJSON(n.Failures)
	return n, nil
}

// Advance moves the check-new mark past what n looked at.
func (n *NewFailures) Advance(ctx context.Context, st MarkStore) error {
	if n.UpToReport <= n.AfterReport {
		return nil
	}
	return st.SetMark(ctx, MarkCheckNew, n.UpToReport)
}

// Webhook posts JSON to a URL, retrying with exponential backoff.
type Webhook struct {
	URL      string
	Client   *http.Client  // nil: a client with a 10 s timeout
	Attempts int           // 0: 4
	Backoff  time.Duration // wait before the second attempt, doubled after; 0: 1 s
}

// Post sends v; any 2xx status is success.
func (w Webhook) Post(ctx context.Context, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	client, attempts, backoff := w.Client, w.Attempts, w.Backoff
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if attempts <= 0 {
		attempts = 4
	}
	if backoff <= 0 {
		backoff = time.Second
	}
	var last error
	for i := range attempts {
		if i > 0 {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return fmt.Errorf("webhook %s: %w", w.URL, ctx.Err())
			}
			backoff *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("webhook %s: %w", w.URL, err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "tlsrpt")
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil
		}
		last = fmt.Errorf("status %s", resp.Status)
	}
	return fmt.Errorf("webhook %s: gave up after %d attempts: %v", w.URL, attempts, last)
}

// CheckNewOptions say what check-new looks at and where it sends what it
// finds.
type CheckNewOptions struct {
	Domains []string
	// MarkOnly moves the mark to the newest report and shows nothing.
	MarkOnly bool
	// Webhook, when its URL is set, is posted the failures found.
	Webhook Webhook
}

// RunCheckNew is check-new's workflow: find the failures stored since the
// mark, hand them to show, post them to the webhook when there are any,
// and only then move the mark, so that what could not be delivered is
// found again next time. It returns what it found.
func RunCheckNew(ctx context.Context, st MarkStore, o CheckNewOptions, show func(*NewFailures) error) (*NewFailures, error) {
	n, err := CheckNew(ctx, st, o.Domains)
	if err != nil {
		return nil, err
	}
	if o.MarkOnly {
		return n, n.Advance(ctx, st)
	}
	if err := show(n); err != nil {
		return nil, err
	}
	if o.Webhook.URL != "" && len(n.Failures) > 0 {
		if err := o.Webhook.Post(ctx, n); err != nil {
			return nil, err
		}
	}
	return n, n.Advance(ctx, st)
}
