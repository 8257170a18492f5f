package web

import "time"

// SetMinRefresh sets the least time between two computations of a domains
// view, for tests that watch one refresh; it returns the old value.
func SetMinRefresh(d time.Duration) time.Duration {
	old := minRefresh
	minRefresh = d
	return old
}
