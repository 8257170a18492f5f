package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

// Healthz answers 200 when the store answers and each check passes, 503
// with the first failure otherwise: a load balancer or monitor must see a
// server that cannot store (the disk full, the database locked) as down,
// even though its spool still takes reports.
func Healthz(st store.Store, checks ...func() error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			http.Error(w, "store unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		for _, check := range checks {
			if err := check(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		http.Error(w, "ok", http.StatusOK) // text/plain, nosniff, one line
	})
}

// DiskCheck fails while the file system holding dir has less than min
// bytes free: the store's next commit would fail.
func DiskCheck(dir string, min int64) func() error {
	return func() error {
		free, err := freeSpace(dir)
		if err != nil {
			return fmt.Errorf("checking the free space of %s: %w", dir, err)
		}
		if free < min {
			return fmt.Errorf("the disk holding %s has %d bytes free, less than %d: the store cannot take writes", dir, free, min)
		}
		return nil
	}
}
