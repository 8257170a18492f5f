package web

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/internal/jsonout"
	"github.com/tlsrpt/tlsrpt/query"
	"github.com/tlsrpt/tlsrpt/store"
)

// maxLimit bounds the rows one API answer lists.
const maxLimit = 10000

// status is what the pages poll: the newest report's id, to fetch again
// when it moves.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) error {
	newest, err := h.st.MaxReportID(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, struct {
		NewestReportID int64  `json:"newest_report_id"`
		Today          string `json:"today"` // UTC, the day ranges end on
		PollSeconds    int    `json:"poll_seconds"`
	}{newest, h.today().Format(time.DateOnly), int(h.o.Poll / time.Second)})
}

// summary is tlsrpt summary --format json, byte for byte.
func (h *Handler) summary(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	f, err := h.filter(p)
	if err != nil {
		return err
	}
	if s := p.str("authenticated_only"); s != "" {
		if f.Trusted, err = strconv.ParseBool(s); err != nil {
			return badParam("authenticated_only", fmt.Errorf("%q: want true or false", s))
		}
	}
	by := p.str("by")
	if by == "" {
		by = query.ByMX
	}
	if !slices.Contains(query.Views, by) {
		return badParam("by", fmt.Errorf("%q: want one of %s", by, strings.Join(query.Views, ", ")))
	}
	if by != query.ByMX {
		v, err := query.SummarizeBy(r.Context(), h.st, by, f)
		if err != nil {
			return err
		}
		return writeJSON(w, jsonout.ListOf("rows", v.Rows, jsonout.Member{Name: "by", Value: v.By}))
	}
	s, err := query.Summarize(r.Context(), h.st, f)
	if err != nil {
		return err
	}
	return writeJSON(w, jsonout.ListOf("domains", s.Domains))
}

// readinessParams reads the thresholds and as_of of readiness.
func (h *Handler) readinessParams(p params) (query.Thresholds, time.Time, error) {
	t := h.o.Thresholds
	var err error
	ints := []struct {
		name string
		v    *int
		lo   int
	}{{"window", &t.Window, 1}, {"min_days", &t.MinDays, 0}, {"min_reporters", &t.MinReporters, 0},
		{"quiet_days", &t.QuietDays, 1}, {"trend_days", &t.TrendDays, 1}}
	for _, x := range ints {
		if *x.v, err = p.int(x.name, *x.v, x.lo, 3660); err != nil {
			return t, time.Time{}, err
		}
	}
	if s := p.str("authenticated_only"); s != "" {
		if t.AuthenticatedOnly, err = strconv.ParseBool(s); err != nil {
			return t, time.Time{}, badParam("authenticated_only", fmt.Errorf("%q: want true or false", s))
		}
	}
	if s := p.str("min_sessions"); s != "" {
		if t.MinSessions, err = strconv.ParseInt(s, 10, 64); err != nil || t.MinSessions < 0 {
			return t, time.Time{}, badParam("min_sessions", fmt.Errorf("%q: want a whole number, 0 or more", s))
		}
	}
	asOf := h.o.Now()
	if s := p.str("as_of"); s != "" {
		if asOf, err = query.ParseTimeBound(s, asOf); err != nil {
			return t, time.Time{}, badParam("as_of", err)
		}
	}
	return t, asOf, nil
}

// readiness is tlsrpt readiness --format json, byte for byte.
func (h *Handler) readiness(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	t, asOf, err := h.readinessParams(p)
	if err != nil {
		return err
	}
	rs, err := query.Assess(r.Context(), h.st, query.NormalizeDomains(p.list("domain")), asOf, t)
	if err != nil {
		return err
	}
	return writeJSON(w, jsonout.ListOf("domains", rs))
}

// reports is tlsrpt reports --format json: newest first, limit 50 unless
// asked.
func (h *Handler) reports(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	f, err := h.filter(p)
	if err != nil {
		return err
	}
	if f.Limit, err = p.int("limit", 50, 1, maxLimit); err != nil {
		return err
	}
	list, err := h.st.Reports(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]query.ReportJSON, len(list))
	for i, ri := range list {
		out[i] = query.ReportOf(ri)
	}
	return writeJSON(w, jsonout.ListOf("reports", out))
}

// report is tlsrpt reports show ID --format json.
func (h *Handler) report(w http.ResponseWriter, r *http.Request) error {
	id, err := paramsOf(r).id(r)
	if err != nil {
		return err
	}
	sr, err := h.st.Report(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, query.StoredReportOf(sr))
}

func (h *Handler) reportRaw(w http.ResponseWriter, r *http.Request) error {
	id, err := paramsOf(r).id(r)
	if err != nil {
		return err
	}
	sr, err := h.st.Report(r.Context(), id)
	if err != nil {
		return err
	}
	return h.raw(w, r, sr.Input.ID, fmt.Sprintf("report-%d", id))
}

func (h *Handler) inputRaw(w http.ResponseWriter, r *http.Request) error {
	id, err := paramsOf(r).id(r)
	if err != nil {
		return err
	}
	return h.raw(w, r, id, fmt.Sprintf("input-%d", id))
}

// raw sends an input's bytes as they arrived, as a download named for
// what they look like; never shown inline (a sender wrote them).
func (h *Handler) raw(w http.ResponseWriter, r *http.Request, inputID int64, name string) error {
	data, err := h.st.Raw(r.Context(), inputID)
	if err != nil {
		return err
	}
	ext := ".eml"
	switch t := bytes.TrimLeft(data, " \t\r\n"); {
	case len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b:
		ext = ".json.gz"
	case len(t) > 0 && t[0] == '{':
		ext = ".json"
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name+ext))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodHead {
		w.Write(data)
	}
	return nil
}

// failures is tlsrpt failures --format json: newest report first, limit
// 100 unless asked.
func (h *Handler) failures(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	base, err := h.filter(p)
	if err != nil {
		return err
	}
	if base.Limit, err = p.int("limit", 100, 1, maxLimit); err != nil {
		return err
	}
	f := store.FailureFilter{Filter: base, MX: query.NormalizeDomains(p.list("mx")), ResultTypes: p.list("result"), Senders: p.list("sender")}
	rows, err := h.st.Failures(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]query.FailureJSON, len(rows))
	for i, fr := range rows {
		out[i] = query.FailureRowJSON(fr)
	}
	return writeJSON(w, jsonout.ListOf("failures", out))
}

// inputs lists recorded inputs newest first: by default those refused
// (invalid, no report), with their reason. before pages on.
func (h *Handler) inputs(w http.ResponseWriter, r *http.Request) error {
	p := paramsOf(r)
	f := store.InputFilter{Newest: true}
	var err error
	if f.Limit, err = p.int("limit", 50, 1, 1000); err != nil {
		return err
	}
	if s := p.str("before"); s != "" {
		if f.BeforeID, err = strconv.ParseInt(s, 10, 64); err != nil || f.BeforeID <= 0 {
			return badParam("before", fmt.Errorf("%q: want an input id", s))
		}
	}
	outcomes := p.list("outcome")
	if len(outcomes) == 0 {
		outcomes = []string{string(store.OutcomeInvalid), string(store.OutcomeNoReport)}
	}
	for _, o := range outcomes {
		switch oc := store.Outcome(o); oc {
		case store.OutcomeStored, store.OutcomeDuplicate, store.OutcomeInvalid, store.OutcomeNoReport:
			f.Outcomes = append(f.Outcomes, oc)
		default:
			return badParam("outcome", fmt.Errorf("%q: want stored, duplicate, invalid or no-report", o))
		}
	}
	list, err := h.st.Inputs(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]query.InputJSON, len(list))
	for i, in := range list {
		out[i] = query.InputOf(in)
	}
	return writeJSON(w, jsonout.ListOf("inputs", out))
}
