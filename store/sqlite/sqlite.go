// Package sqlite is the embedded SQLite backend of store.Store, built on
// modernc.org/sqlite (no cgo).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/tlsrpt/tlsrpt/store"
	"github.com/tlsrpt/tlsrpt/store/sqlite/internal/capi"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a store.Store in one SQLite file, in WAL mode with foreign keys on.
// Writes go through one connection, one transaction at a time (after the
// schema's migrations, which another makes); reads use a pool of their own
// and never wait for a write.
type DB struct {
	// write is the connection that migrates the schema when the file is
	// opened; w the one every write after that goes through, which calls
	// SQLite directly (package capi: binding a batch's values through
	// database/sql and the driver cost more than SQLite's work on them).
	write *sql.DB
	w     *capi.Conn
	read  *sql.DB
	// mu serialises write transactions, so they queue here and not in
	// SQLite's busy handler, and guards w.
	mu sync.Mutex
	// Now is the clock; tests replace it.
	Now func() time.Time
	// path is the database file; wal is the write-ahead log's file, which
	// syncWAL syncs.
	path string
	wal  string
	// stmts are w's prepared statements, guarded by mu (stmt); args is
	// insert's argument slice.
	stmts map[stmtKey]*capi.Stmt
	args  []any
	// lookFirst is set when a batch met a report stored before, cleared
	// when one looked up met none: while set, Ingest looks up which of a
	// batch's reports are stored before writing it (see Ingest).
	lookFirst atomic.Bool
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the database at path and migrates it to
// the latest schema.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenWith(ctx, path, Options{})
}

// Options tune a database's connections. The zero value is the default.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock another process
	// holds before it fails with store.ErrUnavailable; default 10 s.
	BusyTimeout time.Duration
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*DB, error) {
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 10 * time.Second
	}
	db, err := open(ctx, path, o)
	return db, classify(err)
}

func open(ctx context.Context, path string, o Options) (*DB, error) {
	busyMS := max(o.BusyTimeout.Milliseconds(), 1)
	if path == "" {
		return nil, errors.New("sqlite: no database path")
	}
	dsn := func(cacheKiB int, extra string) string {
		q := url.Values{}
		q.Add("_pragma", "foreign_keys(1)")
		// A commit must survive power loss, not only a crash, because it is
		// what makes an acknowledgement to a sender true. SQLite's FULL
		// would sync the WAL inside the commit, holding the writer's lock
		// through the disk's wait; with NORMAL the commit only writes, and
		// inConnTx syncs the WAL after releasing the lock, before it
		// returns (syncWAL), so the next batch is written meanwhile.
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyMS))
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheKiB))
		// Fold the WAL back every 8192 pages (128 MiB with 16 KiB pages),
		// not 1000: rollup pages dirtied by consecutive batches are then
		// written to the database once.
		q.Add("_pragma", "wal_autocheckpoint(8192)")
		return "file:" + path + "?" + q.Encode() + extra
	}
	// The writer keeps 32 MiB of pages: the rollups a batch updates. Its
	// plain batch inserts need no statement journal (see
	// rowsPerStatement); the rollup upserts' and any other statement's
	// stays in memory rather than spilling to a temporary file a write per
	// page.
	const writerCacheKiB = 32 << 10
	w, err := sql.Open("sqlite", dsn(writerCacheKiB, "&_txlock=immediate&_pragma=temp_store(MEMORY)"))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	// A new database gets 16 KiB pages: a commit writes the WAL a page per
	// system call, and an import commits about a quarter fewer writes than
	// with the default 4 KiB. The size must be set before the first page
	// is written, which switching to WAL does; SQLite applies the DSN's
	// pragmas in name order, journal_mode first, hence these here. The
	// cache size is set again after them: SQLite turns a size in KiB into
	// a number of pages when it is set, and on a change of page size keeps
	// that number, counted with the old size (sqlite3PcacheSetPageSize
	// calls numberOfCachePages before it records the new size), so the
	// DSN's 32 MiB of 4 KiB pages would become about 120 MiB of 16 KiB
	// pages (an import's peak RSS 370 MB, not 160). An existing database
	// keeps its page size; WAL mode persists in the file.
	for _, pragma := range []string{"PRAGMA page_size = 16384", "PRAGMA journal_mode = WAL",
		fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheKiB)} {
		if _, err := w.ExecContext(ctx, pragma); err != nil {
			w.Close()
			return nil, fmt.Errorf("opening %s: %s: %w", path, pragma, err)
		}
	}
	wal, err := walFile(ctx, w)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db := &DB{write: w, Now: time.Now, wal: wal, path: path, stmts: map[stmtKey]*capi.Stmt{}}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// The migrating connection keeps a small cache from now on: the
	// writer's is w's.
	if _, err := w.ExecContext(ctx, "PRAGMA cache_size = -1024"); err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if db.w, err = openWriter(path, writerCacheKiB, busyMS); err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// Readers scan whole rollups: they map the file (up to SQLite's limit of 2 GiB) instead
	// of copying its pages into a cache of their own, which makes scans a
	// quarter faster and costs no memory of the process's.
	r, err := sql.Open("sqlite", dsn(4<<10, "&mode=ro&_pragma=mmap_size(2147418112)"))
	if err != nil {
		db.w.Close()
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	db.read = r
	return db, nil
}

// openWriter opens the connection writes go through, with the settings
// the DSN gives the others (journal mode and page size are the file's),
// and the functions the writer's statements call.
func openWriter(path string, cacheKiB int, busyMS int64) (*capi.Conn, error) {
	c, err := capi.Open(path)
	if err != nil {
		return nil, err
	}
	settings := fmt.Sprintf(`PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = %d;
PRAGMA cache_size = -%d; PRAGMA wal_autocheckpoint = 8192; PRAGMA temp_store = MEMORY`, busyMS, cacheKiB)
	if err := errors.Join(c.Exec(settings), c.CreateFunction(seriesAddFunc, 2, seriesAdd)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the database.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	return errors.Join(db.w.Close(), db.read.Close(), db.write.Close())
}

// Ping checks that the readers and the writer answer.
func (db *DB) Ping(ctx context.Context) error {
	var n int
	if err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.w.Exec("SELECT 1"); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// migrate brings the database to the latest schema.
func (db *DB) migrate(ctx context.Context) error { return db.migrateWith(ctx, migrations) }

// migrateWith runs, in order and each in its own transaction, the
// migrations in fsys (migrations/NNNN_name.sql) newer than the database's
// user_version.
func (db *DB) migrateWith(ctx context.Context, fsys fs.FS) error {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var current int
	ran := false
	if err := db.write.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(path.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with its number", name)
		}
		if version <= current {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		if err := db.migrateOne(ctx, string(body), goSteps[path.Base(name)], version); err != nil {
			return fmt.Errorf("migration %s: %w", path.Base(name), err)
		}
		current, ran = version, true
	}
	if max := len(names); current > max {
		return fmt.Errorf("schema version %d is newer than this program knows (%d): upgrade tlsrpt", current, max)
	}
	if ran {
		// A migration may rewrite much of the file (0002 backfills rollups):
		// fold the WAL back now, or every read consults it until the next
		// checkpoint.
		if _, err := db.write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			return fmt.Errorf("checkpoint after migrating: %w", err)
		}
	}
	return nil
}

// migrateOne runs one migration's SQL, then its Go step when it has one
// (goSteps), and sets the schema version to version, in one transaction. Foreign keys are not enforced meanwhile, as
// SQLite's procedure for changing a table's definition asks
// (https://sqlite.org/lang_altertable.html#otheralter): dropping a table
// that is being replaced would otherwise delete the rows of its children
// through their ON DELETE CASCADE. Before the commit, foreign_key_check
// must find nothing the migration broke. Temporary storage is a file
// meanwhile: the statement journals of a table's rebuild grow with the
// table (migrating 300,000 reports to schema 5 peaked at 117 MB with the
// writer's usual temp_store=MEMORY, 90 MB so; a million, 248 MB before).
// Like every write, it returns once the commit is durable (syncWAL).
func (db *DB) migrateOne(ctx context.Context, body string, step func(context.Context, *sql.Tx) error, version int) error {
	err := db.onWriter(ctx, func(conn *sql.Conn) (err error) {
		// These settings belong to the connection and cannot change inside
		// a transaction.
		for _, set := range []struct{ during, after string }{
			{"PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys = ON"},
			{"PRAGMA temp_store = FILE", "PRAGMA temp_store = MEMORY"},
		} {
			if _, err := conn.ExecContext(ctx, set.during); err != nil {
				return err
			}
			defer func() {
				if _, restoreErr := conn.ExecContext(context.Background(), set.after); restoreErr != nil {
					err = errors.Join(err, fmt.Errorf("%s: %w", set.after, restoreErr))
				}
			}()
		}
		return commitOn(ctx, conn, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, body); err != nil {
				return err
			}
			if step != nil {
				if err := step(ctx, tx); err != nil {
					return err
				}
			}
			var table, parent string
			var rows int
			switch err := tx.QueryRowContext(ctx, `SELECT "table", parent, count(*) FROM pragma_foreign_key_check
GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 1`).Scan(&table, &parent, &rows); {
			case err == nil:
				return fmt.Errorf("it leaves %d rows of %s without the %s row they refer to", rows, table, parent)
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("checking foreign keys: %w", err)
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version))
			return err
		})
	})
	if err != nil {
		return err
	}
	return db.syncWAL()
}

// walFile checks that the database is in WAL mode, which syncWAL relies on,
// and returns the log's file: beside the database file as SQLite resolved
// it (through symbolic links).
func walFile(ctx context.Context, w *sql.DB) (string, error) {
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return "", err
	}
	if mode != "wal" {
		return "", fmt.Errorf("journal mode is %q, not wal (is the file on a network file system?)", mode)
	}
	var file string
	if err := w.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		return "", err
	}
	return file + "-wal", nil
}

// syncWAL makes what has been committed durable: it syncs the write-ahead
// log, where every commit goes first. A commit that a checkpoint has
// already copied into the database file was synced there by the
// checkpoint (synchronous=NORMAL syncs the log before a checkpoint and the
// database after it), and the log is only reused after such a checkpoint.
// The file is opened for each sync, so that it is the log SQLite writes
// now. Opened for writing: some systems sync no file opened read-only.
func (db *DB) syncWAL() error {
	f, err := os.OpenFile(db.wal, os.O_WRONLY, 0)
	if err == nil {
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("committed, but not synced to disk: %w", err)
	}
	return nil
}

// inWriteTx runs fn in a write transaction on db.w, under the writer's
// lock, and commits it when fn returns nil. It returns once the commit is
// durable (syncWAL), after releasing the lock.
// Failures that may pass later are store.ErrUnavailable (classify).
func (db *DB) inWriteTx(ctx context.Context, fn func() error) error {
	if err := db.writeTx(ctx, fn); err != nil {
		return classify(err)
	}
	return classify(db.syncWAL())
}

func (db *DB) writeTx(ctx context.Context, fn func() error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.w.Exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	err := fn()
	if err == nil {
		err = db.w.Exec("COMMIT")
	}
	if err != nil {
		// A failing statement may have ended the transaction (INSERT OR
		// ROLLBACK); a failing commit leaves it open.
		if db.w.InTransaction() {
			err = errors.Join(err, db.w.Exec("ROLLBACK"))
		}
		return err
	}
	return nil
}

// prepared returns w's statement for sql, prepared once. Under db.mu.
func (db *DB) prepared(sql string) (*capi.Stmt, error) {
	return db.stmt(stmtKey{sql: sql}, func() string { return sql })
}

// stmt returns w's statement named key, prepared from build's SQL the
// first time. Under db.mu.
func (db *DB) stmt(key stmtKey, build func() string) (*capi.Stmt, error) {
	if st := db.stmts[key]; st != nil {
		return st, nil
	}
	st, err := db.w.Prepare(build())
	if err != nil {
		return nil, err
	}
	db.stmts[key] = st
	return st, nil
}

// stmtKey names a prepared statement of w: its SQL, or for insert's
// multi-row statements their table's head and rows.
type stmtKey struct {
	sql  string
	rows int
}

// onWriter runs fn with the writer's connection, under the writer's lock.
func (db *DB) onWriter(ctx context.Context, fn func(*sql.Conn) error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(conn)
}

// commitOn runs fn in a transaction on conn and commits it.
func commitOn(ctx context.Context, conn *sql.Conn, fn func(*sql.Tx) error) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func dayOf(t time.Time) int64 { return t.Unix() / 86400 }

func dayTime(day int64) time.Time { return time.Unix(day*86400, 0).UTC() }
