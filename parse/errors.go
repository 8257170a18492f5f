package parse

import (
	"errors"
	"fmt"
)

var (
	// ErrNotReport means the input is none of the forms a report arrives as:
	// not JSON, gzip, zip nor a mail message.
	ErrNotReport = errors.New("parse: not a TLS report")
	// ErrNoReport means the input is a mail message that holds no report.
	ErrNoReport = errors.New("parse: message holds no TLS report")
	// ErrTooLarge means a limit was exceeded; nothing past the limit was read.
	ErrTooLarge = errors.New("parse: input exceeds a size limit")
	// ErrInvalid means a report was found but refused; the error is a
	// *FieldError that names the field.
	ErrInvalid = errors.New("parse: invalid report")
)

// FieldError is a refused report: what is wrong and in which field, named by
// its JSON path (for example "policies[1].summary.total-failure-session-count").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return "invalid report: " + e.Msg
	}
	return fmt.Sprintf("invalid report: %s: %s", e.Field, e.Msg)
}

// Is makes errors.Is(err, ErrInvalid) true for every *FieldError.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// LimitError says which limit an input exceeded.
type LimitError struct {
	What  string // "input", "decompressed report", "policies", ...
	Limit int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s exceeds the limit of %d", e.What, e.Limit)
}

// Is makes errors.Is(err, ErrTooLarge) true for every *LimitError.
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }
