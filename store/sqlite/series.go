package sqlite

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
)

// A series is the failed sessions of one policy domain, MX host and result
// type, day by day, as mx_series keeps it: "DAY:FAILED DAY:FAILED ...",
// DAY the UTC day number, days ascending and each once. One row per group
// instead of one per group and day is what lets summary and readiness read
// a million reports' worth in a fraction of a second (migration 0004).
type series []dayCount

type dayCount struct{ day, failed int64 }

// parseSeries decodes a series for the writer, which merges; readers use
// eachDay, which allocates nothing.
func parseSeries(b []byte) (series, error) {
	var s series
	ordered := true
	err := eachDay(b, func(day, failed int64) {
		ordered = ordered && (len(s) == 0 || s[len(s)-1].day < day)
		s = append(s, dayCount{day, failed})
	})
	if err == nil && !ordered {
		err = fmt.Errorf("day series %.40q is not in ascending order of days", b)
	}
	return s, err
}

// eachDay calls fn for each day of an encoded series, in order.
func eachDay(b []byte, fn func(day, failed int64)) error {
	for len(b) > 0 {
		day, n, ok := parseInt(b)
		if !ok || n >= len(b) || b[n] != ':' {
			return fmt.Errorf("bad day series %.40q", b)
		}
		b = b[n+1:]
		failed, n, ok := parseInt(b)
		if !ok || (n < len(b) && (b[n] != ' ' || n+1 == len(b))) {
			return fmt.Errorf("bad day series %.40q", b)
		}
		fn(day, failed)
		b = b[min(n+1, len(b)):]
	}
	return nil
}

// parseInt reads the non-negative decimal at the start of b: its value and
// length. Strict and allocation-free: it runs for every stored day.
func parseInt(b []byte) (v int64, n int, ok bool) {
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		if n == 18 {
			return 0, 0, false
		}
		v = v*10 + int64(b[n]-'0')
		n++
	}
	return v, n, n > 0
}

// add merges more into s, summing days both hold, keeping the order.
func (s series) add(more series) series {
	for _, m := range more {
		s = s.addDay(m.day, m.failed)
	}
	return s
}

// addDay adds failed sessions on one day.
func (s series) addDay(day, failed int64) series {
	i, found := slices.BinarySearchFunc(s, day, func(d dayCount, day int64) int { return cmp.Compare(d.day, day) })
	if found {
		s[i].failed += failed
		return s
	}
	return slices.Insert(s, i, dayCount{day, failed})
}

func (s series) String() string {
	b := make([]byte, 0, len(s)*12)
	for i, d := range s {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, d.day, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, d.failed, 10)
	}
	return string(b)
}

// seriesAddFunc is the SQL function the writer's upsert merges a stored
// series with a batch's by: seriesAddFunc(stored, more) is their sum, day
// by day. The writer registers it on its connection (openWriter).
const seriesAddFunc = "tlsrpt_series_add"

// seriesAdd is seriesAddFunc: the sum of the series in args, each text.
func seriesAdd(args [][]byte) (string, error) {
	var sum series
	for _, b := range args {
		if b == nil {
			return "", fmt.Errorf("%s: a day series is text, not NULL", seriesAddFunc)
		}
		s, err := parseSeries(b)
		if err != nil {
			return "", fmt.Errorf("%s: %w", seriesAddFunc, err)
		}
		sum = sum.add(s)
	}
	return sum.String(), nil
}
