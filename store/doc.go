// Package store defines what tlsrpt keeps and how the rest of the code asks
// for it: every raw input with its outcome, the reports parsed from them, and
// rollups that count each session once. The SQLite backend lives in
// store/sqlite; a second backend implements the same Store interface.
package store
