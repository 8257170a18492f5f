// Package postgres is the PostgreSQL backend of store.Store, for several
// receivers on one database: the same contract as store/sqlite (its
// conformance suite, store/storetest, runs against a real PostgreSQL), the
// same dedupe key and the same counting rule (store.Counted), with rollups
// so that summary and readiness stay fast.
//
// Several processes share a database safely: a batch takes transaction
// advisory locks on the contents and report keys it writes, in ascending
// order, so the same report arriving at two servers at once is stored once
// (one hears stored, the other duplicate) and reused report-ids get their
// variants in turn; readers never wait for writers (MVCC); migrations run
// once, under a session advisory lock the others wait on.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	neturl "net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tlsrpt/tlsrpt/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a store in a PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
	// Now is the clock for inputs without a ReceivedAt.
	Now func() time.Time
}

var _ store.Store = (*DB)(nil)

// migrationLock is the advisory lock key of migrations.
const migrationLock = 0x746c7372707401 // "tlsrpt" 1

// Options configure Open.
type Options struct {
	// Password, when set, is the password (read from a file by the
	// caller); otherwise PGPASSWORD or PGPASSFILE (~/.pgpass) give it, as
	// libpq users expect.
	Password string
	// MaxConns bounds the connections of the pool; 0: pgx's default.
	MaxConns int32
}

// Open connects to the database at url (postgres://...) and brings its
// schema up to date.
func Open(ctx context.Context, url string) (*DB, error) { return OpenWith(ctx, url, Options{}) }

// OpenWith is Open with options.
func OpenWith(ctx context.Context, url string, o Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if o.Password != "" {
		cfg.ConnConfig.Password = o.Password
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	// tlsrpt runs a command's reads side by side itself: PostgreSQL's own
	// parallel workers for each only add processes fighting for the same
	// cores (readiness over a million reports: 1.3 s with them, 1.0 s
	// without, on two cores), and its aggregations of rollup rows sort on
	// disk below 64 MB. A URL's options=-c ... may say otherwise.
	if _, set := cfg.ConnConfig.RuntimeParams["options"]; !set {
		cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
			_, err := c.Exec(ctx, "SET max_parallel_workers_per_gather = 0; SET work_mem = '64MB'")
			return err
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{pool: pool, Now: time.Now}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, classify(fmt.Errorf("postgres: connecting to %s: %w", redacted(url), err))
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the connections.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return classify(fmt.Errorf("postgres: %w", err))
	}
	return nil
}

// migrate runs the migrations not yet run, each in one transaction, under
// a session advisory lock: the first process to start migrates, the others
// wait and then find nothing to do.
func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return classify(fmt.Errorf("postgres: %w", err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLock)); err != nil {
		return fmt.Errorf("postgres: waiting for the migration lock: %w", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", int64(migrationLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	var current int
	err = conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&current)
	if err != nil {
		return fmt.Errorf("postgres: reading the schema version: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(path.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("postgres: migration %s: not numbered", name)
		}
		if version <= current {
			continue
		}
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, version)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", path.Base(name), err)
		}
		current = version
	}
	if max := len(names); current > max {
		return fmt.Errorf("postgres: schema version %d is newer than this program knows (%d): upgrade tlsrpt", current, max)
	}
	return nil
}

// classify marks failures that may pass later (the server gone, a
// connection refused, too many connections, a serialization failure or a
// deadlock, the disk full) as store.ErrUnavailable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "40001", pgErr.Code == "40P01", // serialization, deadlock
			strings.HasPrefix(pgErr.Code, "53"), // insufficient resources
			strings.HasPrefix(pgErr.Code, "57"), // operator intervention (shutdown)
			strings.HasPrefix(pgErr.Code, "08"): // connection
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

func dayOf(t time.Time) int64 { return t.Unix() / 86400 }

func dayTime(day int64) time.Time { return time.Unix(day*86400, 0).UTC() }

// IsURL reports whether a --db value names a PostgreSQL database rather
// than a SQLite file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// redacted is a database URL without its password, for messages.
func redacted(s string) string {
	u, err := neturl.Parse(s)
	if err != nil {
		return "the database"
	}
	return u.Redacted()
}

// Redacted is a database URL without its password, for messages.
func Redacted(s string) string { return redacted(s) }

// TryLock takes the session advisory lock named key, if free, on a
// connection of its own held until unlock: what fetches on several
// machines take turns with.
func (db *DB) TryLock(ctx context.Context, key string) (unlock func(), ok bool, err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, false, classify(fmt.Errorf("postgres: %w", err))
	}
	k := lockKey("lock", key)
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, k).Scan(&ok); err != nil || !ok {
		conn.Release()
		return nil, false, classify(err)
	}
	return func() {
		conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, k)
		conn.Release()
	}, true, nil
}
