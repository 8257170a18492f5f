// Package query answers questions from the store: failures per domain, MX
// host and result type, with sessions counted once.
package query
