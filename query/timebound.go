package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

// ParseTimeBound reads a --since or --until value: an RFC 3339 date
// ("2026-10-01"), an RFC 3339 date-time, or a duration back from now such
// as "30d", "2w", "36h". Reports are selected by UTC day, so the result is
// truncated to its day.
func ParseTimeBound(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Truncate(24 * time.Hour), nil
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'h': time.Hour}
	if len(s) >= 2 {
		if u, ok := unit[s[len(s)-1]]; ok {
			if n, err := strconv.Atoi(s[:len(s)-1]); err == nil && n >= 0 {
				return now.UTC().Add(-time.Duration(n) * u).Truncate(24 * time.Hour), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-10-01), an RFC 3339 date-time or a duration (30d, 2w, 36h)", s)
}

// NormalizeDomains lowers domain names and drops their trailing dot, as
// every filter by domain compares them.
func NormalizeDomains(ds []string) []string {
	var out []string
	for _, d := range ds {
		out = append(out, strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), "."))
	}
	return out
}

// BoundError is a since or until value that is not a time; Param names it.
type BoundError struct {
	Param string // "since", "until"
	Err   error
}

func (e *BoundError) Error() string { return e.Param + ": " + e.Err.Error() }

// OrderError is a since value after the until value.
type OrderError struct{ Since, Until string }

func (e *OrderError) Error() string {
	return fmt.Sprintf("since %s is after until %s: no day is in between", e.Since, e.Until)
}

// NewFilter builds the filter of the domains and since/until values that
// summary, reports and failures take, on the command line and in the API
// alike: the same values select the same reports. A bad value is a
// *BoundError, since after until an *OrderError.
func NewFilter(domains []string, since, until string, now time.Time) (store.Filter, error) {
	f := store.Filter{Domains: NormalizeDomains(domains)}
	var err error
	if f.Since, err = ParseTimeBound(since, now); err != nil {
		return f, &BoundError{"since", err}
	}
	if f.Until, err = ParseTimeBound(until, now); err != nil {
		return f, &BoundError{"until", err}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, &OrderError{since, until}
	}
	return f, nil
}
