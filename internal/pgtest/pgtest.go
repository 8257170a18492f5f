// Package pgtest starts a real PostgreSQL server for tests: Debian's
// postgresql package, initdb into a temporary directory owned by the
// postgres user, pg_ctl on a free loopback port, stopped at the end. Tests
// skip with a message when PostgreSQL is not installed or they do not run
// as root (initdb refuses to run as root; the tests run it as postgres).
package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// Server is a running PostgreSQL.
type Server struct {
	dir, bin string
	Port     int
	cred     *syscall.Credential
	n        atomic.Int64
}

// Skip returns why PostgreSQL tests cannot run here, "" when they can.
func Skip() string {
	if bin() == "" {
		return "PostgreSQL is not installed (apt-get install postgresql; .ci/run does)"
	}
	if os.Geteuid() != 0 {
		return "the PostgreSQL tests start a server as the postgres user: run them as root"
	}
	if _, err := user.Lookup("postgres"); err != nil {
		return "no postgres user to run PostgreSQL as"
	}
	return ""
}

func bin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		x, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		y, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return x - y
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// Start initialises and starts a server; settings are extra -c options
// (fsync=off for tests that do not measure). Stop it with Stop.
func Start(settings ...string) (*Server, error) {
	if why := Skip(); why != "" {
		return nil, fmt.Errorf("%s", why)
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "tlsrpt-pg-")
	if err != nil {
		return nil, err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{dir: dir, bin: bin(), cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	data := filepath.Join(dir, "data")
	if out, err := s.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200", s.Port, dir)
	for _, o := range settings {
		opts += " -c " + o
	}
	if out, err := s.run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_ctl start: %v: %s %s", err, out, log)
	}
	return s, nil
}

func (s *Server) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

// DSN is the URL of database db on the server.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// NewDatabase creates an empty database and returns its URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", s.n.Add(1))
	if out, err := s.run("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres", name); err != nil {
		t.Fatalf("createdb: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return s.DSN(name)
}

// Stop stops the server and removes its files.
func (s *Server) Stop() error {
	_, err := s.run("pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w", "stop")
	os.RemoveAll(s.dir)
	return err
}
