// Command tlsrpt collects SMTP TLS reports (RFC 8460) and answers whether a
// domain's MTA-STS policy can be switched to enforce.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

// Exit codes, documented in the README.
const (
	exitOK      = 0
	exitError   = 1 // the command failed: store, I/O, network
	exitUsage   = 2 // bad flags or arguments
	exitNew     = 3 // check-new found new failures
	exitInvalid = 4 // import finished, but some inputs were invalid or unreadable
	exitCheck   = 5 // check found a failing step (printed on stdout)
	// exitTempFail is EX_TEMPFAIL (sysexits.h): the store could not be
	// written for now (locked or busy past the wait, disk full, I/O
	// error) and nothing was stored; an MTA's pipe requeues the message.
	exitTempFail = 75
)

var (
	// errInvalid ends a command that has already said which inputs were invalid.
	errInvalid = errors.New("some inputs were invalid")
	// errDeferred ends a command that left mail for a later run (DKIM
	// keys that could not be looked up): exit 75, try again.
	errDeferred = fmt.Errorf("some mail was left for a later run: %w", store.ErrUnavailable)
	// errNewFailures ends check-new after it printed new failures.
	errNewFailures = errors.New("new failures")
)

// usageError is a mistake in the command line; it exits with exitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := cpuProfile(os.Getenv("TLSRPT_CPUPROFILE"))
	err := newRootCommand(time.Now).ExecuteContext(ctx)
	stopProfile()
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// cpuProfile writes a CPU profile of the whole run to path, when set: for
// scripts/pgo.sh, which builds cmd/tlsrpt/default.pgo from such profiles.
func cpuProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlsrpt: TLSRPT_CPUPROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// exitCode maps a command's error to the exit code, printing it on w as one
// line unless the command already reported it.
func exitCode(err error, w io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errInvalid):
		return exitInvalid
	case errors.Is(err, errNewFailures):
		return exitNew
	case errors.Is(err, errCheckFailed):
		return exitCheck
	}
	fmt.Fprintln(w, "tlsrpt:", err)
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, store.ErrUnavailable):
		return exitTempFail
	}
	return exitError
}
