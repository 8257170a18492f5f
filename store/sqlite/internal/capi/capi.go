// Package capi calls SQLite's C API as modernc.org/sqlite/lib transpiles it
// to Go, for the store's writer, which binds about a hundred values per
// report.
//
// Through database/sql and the driver, binding costs more than the SQLite
// work it feeds: per value the driver asks SQLite for the parameter's name,
// allocates C memory for a text or blob and copies it there, binds it, and
// frees it after the statement (about 100 ns a value, a quarter of the
// writer's time: BenchmarkInsertThroughDriver against
// BenchmarkInsertThroughCAPI). Here a statement's texts and blobs are
// copied into one block of C memory the connection keeps, and bound where
// they lie (SQLITE_STATIC); nothing is allocated per value or per
// statement.
//
// Only what the writer needs is here: open, execute, prepare, bind
// int64/text/blob/NULL, step through rows, read int64 and text columns,
// and scalar functions. A Conn is used by one goroutine at a time (it is
// opened with SQLITE_OPEN_NOMUTEX); the store's writer lock ensures that.
package capi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// Conn is one SQLite connection.
type Conn struct {
	tls *libc.TLS
	db  uintptr
	// out is C memory for the API's out-parameters (a pointer).
	out uintptr
	// arena is C memory, size bytes, that a statement's texts and blobs
	// are copied into and bound from; never 0 once open, so that an empty
	// text binds as empty, not NULL.
	arena uintptr
	size  int
	stmts map[*Stmt]bool
	funcs []uintptr // the ids of the functions registered on it
	// running is set while a statement runs: its arguments are in the
	// arena, which another statement's would overwrite.
	running bool
}

// Open opens the database file at path for reading and writing, creating
// it if needed.
func Open(path string) (*Conn, error) {
	c := &Conn{tls: libc.NewTLS(), stmts: map[*Stmt]bool{}}
	c.out = libc.Xmalloc(c.tls, libc.Tsize_t(ptrSize))
	c.arena, c.size = libc.Xmalloc(c.tls, 4096), 4096
	if c.out == 0 || c.arena == 0 {
		c.free()
		return nil, errors.New("sqlite: out of memory")
	}
	name, err := libc.CString(path)
	if err != nil {
		c.free()
		return nil, err
	}
	rc := lib.Xsqlite3_open_v2(c.tls, name, c.out,
		lib.SQLITE_OPEN_READWRITE|lib.SQLITE_OPEN_CREATE|lib.SQLITE_OPEN_NOMUTEX, 0)
	libc.Xfree(c.tls, name)
	c.db = readPointer(c.out)
	if rc != lib.SQLITE_OK {
		err := c.error(rc)
		c.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	lib.Xsqlite3_extended_result_codes(c.tls, c.db, 1)
	return c, nil
}

const ptrSize = unsafe.Sizeof(uintptr(0))

// readPointer reads the C pointer stored at p, such as one an API call
// left in an out-parameter.
func readPointer(p uintptr) uintptr {
	b := libc.GoBytes(p, int(ptrSize))
	if ptrSize == 4 {
		return uintptr(binary.NativeEndian.Uint32(b))
	}
	return uintptr(binary.NativeEndian.Uint64(b))
}

// Close finalizes the statements still open and closes the connection.
// Closing it again does nothing.
func (c *Conn) Close() error {
	if c.tls == nil {
		return nil
	}
	var err error
	for s := range c.stmts {
		err = errors.Join(err, s.Close())
	}
	if c.db != 0 {
		if rc := lib.Xsqlite3_close_v2(c.tls, c.db); rc != lib.SQLITE_OK {
			err = errors.Join(err, c.error(rc))
		}
		c.db = 0
	}
	c.free()
	return err
}

func (c *Conn) free() {
	libc.Xfree(c.tls, c.out)
	libc.Xfree(c.tls, c.arena)
	c.out, c.arena, c.size = 0, 0, 0
	c.tls.Close()
	c.tls = nil
	funcs.Lock()
	for _, id := range c.funcs {
		delete(funcs.byID, id)
	}
	funcs.Unlock()
}

// Error is an error SQLite returned: its message and extended result code.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d)", e.Msg, e.Code) }

// error returns rc as an error, with the connection's message when it is
// about rc.
func (c *Conn) error(rc int32) error {
	msg := libc.GoString(lib.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 && lib.Xsqlite3_extended_errcode(c.tls, c.db) == rc {
		msg = libc.GoString(lib.Xsqlite3_errmsg(c.tls, c.db))
	}
	return &Error{Code: int(rc), Msg: msg}
}

// Exec runs SQL without arguments, several statements if need be.
func (c *Conn) Exec(sql string) error {
	q, err := libc.CString(sql)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, q)
	if rc := lib.Xsqlite3_exec(c.tls, c.db, q, 0, 0, 0); rc != lib.SQLITE_OK {
		return c.error(rc)
	}
	return nil
}

// InTransaction says whether a transaction is open: SQLite ends one
// itself on some errors (INSERT OR ROLLBACK).
func (c *Conn) InTransaction() bool { return lib.Xsqlite3_get_autocommit(c.tls, c.db) == 0 }

// Changes returns the rows the last INSERT, UPDATE or DELETE changed.
func (c *Conn) Changes() int64 { return lib.Xsqlite3_changes64(c.tls, c.db) }

// Stmt is a prepared statement.
type Stmt struct {
	c      *Conn
	p      uintptr
	params int
}

// Prepare compiles one SQL statement.
func (c *Conn) Prepare(sql string) (*Stmt, error) {
	q, err := libc.CString(sql)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, q)
	if rc := lib.Xsqlite3_prepare_v3(c.tls, c.db, q, -1, lib.SQLITE_PREPARE_PERSISTENT, c.out, 0); rc != lib.SQLITE_OK {
		return nil, c.error(rc)
	}
	s := &Stmt{c: c, p: readPointer(c.out)}
	if s.p == 0 {
		return nil, errors.New("sqlite: no statement in the SQL")
	}
	s.params = int(lib.Xsqlite3_bind_parameter_count(c.tls, s.p))
	c.stmts[s] = true
	return s, nil
}

// Close finalizes the statement.
func (s *Stmt) Close() error {
	if s.p == 0 {
		return nil
	}
	lib.Xsqlite3_finalize(s.c.tls, s.p)
	s.p = 0
	delete(s.c.stmts, s)
	return nil
}

// Exec runs the statement with args and returns the rows it changed.
func (s *Stmt) Exec(args []any) (int64, error) {
	if err := s.run(args, nil); err != nil {
		return 0, err
	}
	return s.c.Changes(), nil
}

// Query runs the statement with args and calls row for each row it
// returns; row reads the columns with Int64 and Text, and cannot run
// another statement of the connection.
func (s *Stmt) Query(args []any, row func() error) error { return s.run(args, row) }

// Int64 returns column i of the current row.
func (s *Stmt) Int64(i int) int64 { return lib.Xsqlite3_column_int64(s.c.tls, s.p, int32(i)) }

// Text returns column i of the current row as a string of its own.
func (s *Stmt) Text(i int) string {
	p := lib.Xsqlite3_column_text(s.c.tls, s.p, int32(i))
	n := lib.Xsqlite3_column_bytes(s.c.tls, s.p, int32(i))
	if p == 0 || n == 0 {
		return ""
	}
	return string(libc.GoBytes(p, int(n)))
}

// keepArena is the most a connection keeps of its arena between
// statements: one with large blobs (raw inputs of megabytes) grows it,
// and it is given back after.
const keepArena = 1 << 20

// run binds args, steps through the statement, calling row for each row,
// and resets it, bindings cleared: nothing refers to the arena after.
func (s *Stmt) run(args []any, row func() error) (err error) {
	if s.p == 0 {
		return errors.New("sqlite: statement closed")
	}
	c := s.c
	if c.running {
		return errors.New("sqlite: another statement of the connection is running (called from a row?)")
	}
	c.running = true
	defer func() {
		c.running = false
		lib.Xsqlite3_reset(c.tls, s.p)
		lib.Xsqlite3_clear_bindings(c.tls, s.p)
		if c.size > keepArena {
			if p := libc.Xrealloc(c.tls, c.arena, keepArena); p != 0 {
				c.arena, c.size = p, keepArena
			}
		}
	}()
	if err := s.bind(args); err != nil {
		return err
	}
	for {
		switch rc := lib.Xsqlite3_step(c.tls, s.p); rc {
		case lib.SQLITE_DONE:
			return nil
		case lib.SQLITE_ROW:
			if row == nil {
				continue
			}
			if err := row(); err != nil {
				return err
			}
		default:
			return c.error(rc)
		}
	}
}

// bind binds args to the statement's parameters, in order: int64, int,
// string, []byte and nil (NULL). Texts and blobs are copied into the
// connection's arena, grown first so that none moves once bound.
func (s *Stmt) bind(args []any) error {
	if len(args) != s.params {
		return fmt.Errorf("sqlite: %d arguments for %d parameters", len(args), s.params)
	}
	c := s.c
	need := 0
	for _, a := range args {
		switch v := a.(type) {
		case string:
			need += len(v)
		case []byte:
			need += len(v)
		}
	}
	if need > c.size {
		size := max(need, 2*c.size)
		p := libc.Xrealloc(c.tls, c.arena, libc.Tsize_t(size))
		if p == 0 {
			return fmt.Errorf("sqlite: out of memory for %d bytes of arguments", need)
		}
		c.arena, c.size = p, size
	}
	arena := libc.GoBytes(c.arena, c.size)
	off := 0
	for i, a := range args {
		n := int32(i + 1)
		var rc int32
		switch v := a.(type) {
		case int64:
			rc = lib.Xsqlite3_bind_int64(c.tls, s.p, n, v)
		case int:
			rc = lib.Xsqlite3_bind_int64(c.tls, s.p, n, int64(v))
		case string:
			copy(arena[off:], v)
			rc = lib.Xsqlite3_bind_text(c.tls, s.p, n, c.arena+uintptr(off), int32(len(v)), 0)
			off += len(v)
		case []byte:
			copy(arena[off:], v)
			rc = lib.Xsqlite3_bind_blob(c.tls, s.p, n, c.arena+uintptr(off), int32(len(v)), 0)
			off += len(v)
		case nil:
			rc = lib.Xsqlite3_bind_null(c.tls, s.p, n)
		default:
			return fmt.Errorf("sqlite: argument %d: cannot bind a %T", n, a)
		}
		if rc != lib.SQLITE_OK {
			return c.error(rc)
		}
	}
	return nil
}

// ScalarFunc is an SQL function of text arguments (NULL as nil); the
// slices are SQLite's memory, valid until the function returns.
type ScalarFunc func(args [][]byte) (string, error)

var funcs struct {
	sync.Mutex
	next uintptr
	byID map[uintptr]ScalarFunc
}

// CreateFunction registers fn as the deterministic SQL function name of
// nArg arguments on this connection.
func (c *Conn) CreateFunction(name string, nArg int, fn ScalarFunc) error {
	funcs.Lock()
	if funcs.byID == nil {
		funcs.byID = map[uintptr]ScalarFunc{}
	}
	funcs.next++
	id := funcs.next
	funcs.byID[id] = fn
	funcs.Unlock()
	c.funcs = append(c.funcs, id)
	z, err := libc.CString(name)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, z)
	// A C function pointer, in modernc.org/libc's terms, is a Go func
	// value's word; callFunc is a top-level function, never collected.
	xFunc := *(*uintptr)(unsafe.Pointer(&struct {
		f func(*libc.TLS, uintptr, int32, uintptr)
	}{callFunc}))
	rc := lib.Xsqlite3_create_function_v2(c.tls, c.db, z, int32(nArg),
		lib.SQLITE_UTF8|lib.SQLITE_DETERMINISTIC, id, xFunc, 0, 0, 0)
	if rc != lib.SQLITE_OK {
		return c.error(rc)
	}
	return nil
}

// callFunc is what SQLite calls for every function CreateFunction
// registered: it finds the Go function by the registration's id.
func callFunc(tls *libc.TLS, ctx uintptr, argc int32, argv uintptr) {
	funcs.Lock()
	fn := funcs.byID[lib.Xsqlite3_user_data(tls, ctx)]
	funcs.Unlock()
	args := make([][]byte, argc)
	for i := range args {
		v := readPointer(argv + uintptr(i)*ptrSize)
		if lib.Xsqlite3_value_type(tls, v) == lib.SQLITE_NULL {
			continue
		}
		p := lib.Xsqlite3_value_text(tls, v)
		args[i] = libc.GoBytes(p, int(lib.Xsqlite3_value_bytes(tls, v)))
		if args[i] == nil {
			args[i] = []byte{}
		}
	}
	out, err := fn(args)
	if err != nil {
		out = err.Error()
	}
	// SQLite copies the result (SQLITE_TRANSIENT) or the message.
	p := libc.Xmalloc(tls, libc.Tsize_t(len(out)+1))
	if p == 0 {
		lib.Xsqlite3_result_error_nomem(tls, ctx)
		return
	}
	defer libc.Xfree(tls, p)
	copy(libc.GoBytes(p, len(out)+1), out+"\x00")
	if err != nil {
		lib.Xsqlite3_result_error(tls, ctx, p, int32(len(out)))
		return
	}
	lib.Xsqlite3_result_text(tls, ctx, p, int32(len(out)), lib.SQLITE_TRANSIENT)
}
