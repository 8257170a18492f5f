package ingest

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// Prepare parses data and returns it as an input for the store, whatever
// the parser made of it: reports, refusals, or no report at all.
func Prepare(p *parse.Parser, data []byte, source, origin string, at time.Time) store.Input {
	in, _ := prepare(p, data, source, origin, at)
	return in
}

// prepare is Prepare that also returns the parser's error: the first
// refusal, for callers that answer by its kind (the HTTPS endpoint).
func prepare(p *parse.Parser, data []byte, source, origin string, at time.Time) (store.Input, error) {
	in := store.Input{Data: data, Source: source, Origin: origin, ReceivedAt: at}
	items, err := p.Parse(data)
	first := err
	switch {
	case errors.Is(err, parse.ErrNoReport):
		in.NoReport = true
		in.Errors = []string{err.Error()}
	case err != nil:
		in.Errors = []string{err.Error()}
	}
	for _, it := range items {
		if it.Err != nil {
			if first == nil {
				first = it.Err
			}
			msg := it.Err.Error()
			if it.Name != "" {
				msg = it.Name + ": " + msg
			}
			in.Errors = append(in.Errors, msg)
			continue
		}
		in.Reports = append(in.Reports, it.Report)
	}
	return in, first
}

// Reprepare parses an input already kept again, for `tlsrpt reprocess`,
// with the DKIM verification recorded when it arrived.
func Reprepare(p *parse.Parser, info store.InputInfo, data []byte) store.Input {
	in := Prepare(p, data, info.Source, info.Origin, info.ReceivedAt)
	in.ID, in.Auth = info.ID, info.Auth
	return in
}

// ReprocessOptions say which kept inputs Reprocess parses again.
type ReprocessOptions struct {
	// Duplicates also takes the inputs recorded as duplicates: releases
	// before the fingerprint (store.Fingerprint) took a report under a
	// reused report-id for a duplicate, and dropped it.
	Duplicates bool
	// DKIM verifies the mailed inputs that were never verified, or all
	// of them with Reverify; under require, refuses the unauthenticated.
	DKIM DKIM
}

// Reprocess parses again every kept input whose outcome was invalid or no
// report (and duplicate, with o.Duplicates), and stores what it now finds,
// a page of inputs at a time.
func Reprocess(ctx context.Context, st store.Store, p *parse.Parser, o ReprocessOptions) (ImportStats, error) {
	var stats ImportStats
	var after int64
	outcomes := slices.Clone(store.Reprocessable)
	if o.Duplicates {
		outcomes = append(outcomes, store.OutcomeDuplicate)
	}
	for {
		infos, err := st.Inputs(ctx, store.InputFilter{Outcomes: outcomes, AfterID: after, Limit: 256})
		if err != nil || len(infos) == 0 {
			return stats, err
		}
		batch := make([]store.Input, 0, len(infos))
		for _, info := range infos {
			data, err := st.Raw(ctx, info.ID)
			if err != nil {
				return stats, err
			}
			in := Reprepare(p, info, data)
			after = info.ID
			if !o.DKIM.authenticate(&in) {
				stats.Deferred++
				stats.problem(deferredError(&in))
				continue
			}
			batch = append(batch, in)
		}
		results, err := st.Ingest(ctx, batch)
		if err != nil {
			return stats, err
		}
		stats.add(batch, results)
	}
}

// add counts a committed batch.
func (s *ImportStats) add(batch []store.Input, results []store.Result) {
	for i, r := range results {
		s.Inputs++
		s.Stored += r.Stored
		if r.Outcome == store.OutcomeUnauthenticated {
			s.Unauthenticated++
			s.problem(batch[i].Origin + ": " + "not stored, not authenticated: " + batch[i].Auth.Reason)
		}
		s.Duplicates += r.Duplicates
		s.Reused += r.Reused
		if r.Known {
			s.Known++
		}
		switch {
		case r.Outcome == store.OutcomeNoReport:
			s.NoReport++
		case r.Invalid > 0:
			s.Invalid++
			for _, e := range batch[i].Errors {
				s.problem(batch[i].Origin + ": " + e)
			}
		}
	}
}

// problem keeps problem lines up to keepProblems of them, counting the rest.
func (s *ImportStats) problem(lines ...string) {
	keep := min(len(lines), max(keepProblems-len(s.Problems), 0))
	s.Problems = append(s.Problems, lines[:keep]...)
	s.MoreProblems += len(lines) - keep
}
