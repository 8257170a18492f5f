package sqlite

import (
	"errors"
	"syscall"

	sqlitedriver "modernc.org/sqlite"

	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite/internal/capi"
)

// unavailable is an error that store.ErrUnavailable matches.
type unavailable struct{ err error }

func (e *unavailable) Error() string        { return e.err.Error() }
func (e *unavailable) Unwrap() error        { return e.err }
func (e *unavailable) Is(target error) bool { return target == store.ErrUnavailable }

// classify marks err as store.ErrUnavailable when trying again later may
// succeed: SQLite's busy, locked, out of memory, I/O error, full, cannot
// open and locking protocol results (https://sqlite.org/rescode.html), and
// the system's "no space" and I/O errors (the WAL's sync).
func classify(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	code := -1
	var ce *capi.Error
	var de *sqlitedriver.Error
	switch {
	case errors.As(err, &ce):
		code = ce.Code
	case errors.As(err, &de):
		code = de.Code()
	}
	switch code & 0xff {
	case 5, 6, 7, 10, 13, 14, 15: // BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN, PROTOCOL
		return &unavailable{err}
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EDQUOT) {
		return &unavailable{err}
	}
	return err
}
