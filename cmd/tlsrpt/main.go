// Command tlsrpt collects SMTP TLS reports (RFC 8460) and answers whether a
// domain's MTA-STS policy can be switched to enforce.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in the README.
const (
	exitOK      = 0
	exitError   = 1 // the command failed: store, I/O, network
	exitUsage   = 2 // bad flags or arguments
	exitInvalid = 4 // import finished, but some inputs were invalid or unreadable
)

var (
	errUsage   = errors.New("usage")
	errInvalid = errors.New("some inputs were invalid")
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errInvalid):
		return exitInvalid
	}
	fmt.Fprintln(os.Stderr, "tlsrpt:", err)
	if errors.Is(err, errUsage) {
		return exitUsage
	}
	return exitError
}
