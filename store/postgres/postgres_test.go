package postgres_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/tlsrpt/tlsrpt/internal/pgtest"
	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/postgres"
	"github.com/tlsrpt/tlsrpt/store/storetest"
)

// server is the PostgreSQL these tests share, started by TestMain; nil
// when PostgreSQL cannot run here (the tests then skip, saying why).
var server *pgtest.Server

func TestMain(m *testing.M) {
	if pgtest.Skip() == "" {
		var err error
		if server, err = pgtest.Start("fsync=off"); err != nil {
			fmt.Fprintln(os.Stderr, "postgres tests:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if server != nil {
		server.Stop()
	}
	os.Exit(code)
}

func open(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestConformance runs the store.Store conformance suite against a real
// PostgreSQL; a second handle on a database is another connection pool,
// as another process would have.
func TestConformance(t *testing.T) {
	if server == nil {
		t.Skip(pgtest.Skip())
	}
	var urls sync.Map // *postgres.DB -> its URL
	storetest.Run(t, storetest.Backend{
		New: func(t testing.TB) store.Store {
			url := server.NewDatabase(t)
			db := open(t, url)
			urls.Store(db, url)
			return db
		},
		Again: func(t testing.TB, st store.Store) store.Store {
			url, ok := urls.Load(st)
			if !ok {
				t.Fatal("not a store of New")
			}
			return open(t, url.(string))
		},
	})
}

// TestMigrationsRunOnce: processes opening a new database at once migrate
// it once; the others wait and find nothing to do.
func TestMigrationsRunOnce(t *testing.T) {
	if server == nil {
		t.Skip(pgtest.Skip())
	}
	url := server.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			db, err := postgres.Open(context.Background(), url)
			if err == nil {
				db.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
