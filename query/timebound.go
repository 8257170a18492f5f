package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
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
