package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// ImportOptions says what to import and how.
type ImportOptions struct {
	// Paths are files, directories (walked recursively; in a Maildir only
	// cur/ and new/ are read), mbox files, or "-" for Stdin.
	Paths []string
	Stdin io.Reader
	// Workers parse in parallel; 0 means one per CPU.
	Workers int
	// BatchSize is the most inputs committed in one transaction; 0 means 2048.
	BatchSize int
	// Progress, when set, is called after each batch with the number of
	// sources (files, messages) done and the total found.
	Progress func(done, total int)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Skip are files never read, such as the database itself and its WAL
	// when a directory that holds them is imported.
	Skip []string
}

// ImportStats counts what an import did.
type ImportStats struct {
	Inputs     int // inputs recorded
	Stored     int // new reports
	Duplicates int // reports stored before
	Invalid    int // inputs with a refused report
	NoReport   int // inputs without a report
	// Problems are one line each, "where: what", for invalid inputs and for
	// paths that could not be read.
	Problems []string
	// Unreadable counts paths that could not be read (nothing recorded).
	Unreadable int
}

// source is one thing to read: a file, an mbox, or standard input.
type source struct {
	path string // "-" for stdin
}

type prepared struct {
	in  store.Input
	err error // a read error: nothing to record
	at  string
}

// Import reads every input under opts.Paths, parses them in parallel and
// stores them in batches. It returns an error only when the store fails or
// ctx ends; unreadable paths and invalid inputs are counted in the stats.
func Import(ctx context.Context, st store.Store, p *parse.Parser, opts ImportOptions) (ImportStats, error) {
	var stats ImportStats
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2048
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	sources, problems := collect(opts.Paths, opts.Skip)
	for _, pr := range problems {
		stats.Unreadable++
		stats.Problems = append(stats.Problems, pr)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	jobs := make(chan source)
	out := make(chan prepared, opts.Workers*16)
	go func() {
		defer close(jobs)
		for _, s := range sources {
			select {
			case jobs <- s:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				readSource(ctx, s, opts.Stdin, p, now, out)
			}
		}()
	}
	go func() { wg.Wait(); close(out) }()

	// The collector fills the next batch while the writer commits the last
	// one, so parsing does not stop during a commit.
	batches := make(chan []store.Input, 1)
	writeErr := make(chan error, 1)
	go func() {
		defer close(writeErr)
		done := 0
		for batch := range batches {
			results, err := st.Ingest(ctx, batch)
			if err != nil {
				writeErr <- err
				cancel()
				for range batches { // let the collector finish
				}
				return
			}
			stats.add(batch, results)
			done += len(batch)
			if opts.Progress != nil {
				opts.Progress(done+len(problems), len(sources)+len(problems))
			}
		}
	}()

	var batch []store.Input
	var batchBytes int
	var readProblems []string
	for pr := range out {
		if pr.err != nil {
			readProblems = append(readProblems, pr.at+": "+pr.err.Error())
			continue
		}
		batch = append(batch, pr.in)
		batchBytes += len(pr.in.Data)
		if len(batch) >= opts.BatchSize || batchBytes >= 32<<20 {
			batches <- batch
			batch, batchBytes = nil, 0
		}
	}
	if len(batch) > 0 && ctx.Err() == nil {
		batches <- batch
	}
	close(batches)
	err := <-writeErr
	// stats is the writer's until writeErr is closed.
	stats.Unreadable += len(readProblems)
	stats.Problems = append(stats.Problems, readProblems...)
	if err != nil {
		return stats, err
	}
	return stats, ctx.Err()
}

// collect expands paths into sources, in a stable order.
func collect(paths, skip []string) ([]source, []string) {
	var out []source
	var problems []string
	skipped := map[string]bool{}
	for _, p := range skip {
		if abs, err := filepath.Abs(p); err == nil {
			skipped[abs] = true
		}
	}
	isSkipped := func(p string) bool {
		abs, err := filepath.Abs(p)
		return err == nil && skipped[abs]
	}
	maildirs := map[string]bool{}
	isMaildir := func(dir string) bool {
		v, ok := maildirs[dir]
		if !ok {
			v = isMaildir(dir)
			maildirs[dir] = v
		}
		return v
	}
	for _, p := range paths {
		if p == "-" {
			out = append(out, source{path: "-"})
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", p, unwrapPath(err)))
			continue
		}
		if !fi.IsDir() {
			if !isSkipped(p) {
				out = append(out, source{path: p})
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", path, unwrapPath(err)))
				return nil
			}
			if d.IsDir() {
				// In a Maildir, tmp/ holds deliveries not yet complete.
				if d.Name() == "tmp" && isMaildir(filepath.Dir(path)) {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			// A Maildir's own files (dovecot-uidlist, indexes) are not mail.
			if isMaildir(filepath.Dir(path)) || isSkipped(path) {
				return nil
			}
			out = append(out, source{path: path})
			return nil
		})
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", p, err))
		}
	}
	return out, problems
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readSource reads one source and sends one prepared input per message.
func readSource(ctx context.Context, s source, stdin io.Reader, p *parse.Parser, now func() time.Time, out chan<- prepared) {
	send := func(pr prepared) {
		select {
		case out <- pr:
		case <-ctx.Done():
		}
	}
	max := p.Limits().MaxInput
	var r io.Reader
	origin := s.path
	if s.path == "-" {
		if stdin == nil {
			send(prepared{at: "-", err: errors.New("no standard input")})
			return
		}
		r, origin = stdin, "stdin"
	} else {
		data, ok, err := readSmall(s.path, max)
		if err != nil {
			send(prepared{at: s.path, err: err})
			return
		}
		if ok && !bytes.HasPrefix(data, []byte("From ")) { // an mbox is split below
			send(prepared{in: Prepare(p, data, "import", origin, now())})
			return
		}
		f, err := os.Open(s.path)
		if err != nil {
			send(prepared{at: s.path, err: unwrapPath(err)})
			return
		}
		defer f.Close()
		r = f
	}
	// Read one byte past the limit to know whether it was exceeded.
	head := make([]byte, 5)
	n, _ := io.ReadFull(r, head)
	head = head[:n]
	if bytes.Equal(head, []byte("From ")) {
		if err := splitMboxOrOne(io.MultiReader(bytes.NewReader(head), r), origin, max, p, now, send); err != nil {
			send(prepared{at: origin, err: err})
		}
		return
	}
	data, err := io.ReadAll(io.LimitReader(io.MultiReader(bytes.NewReader(head), r), max+1))
	if err != nil {
		send(prepared{at: origin, err: err})
		return
	}
	if int64(len(data)) > max {
		in := store.Input{Data: nil, Source: "import", Origin: origin, ReceivedAt: now(),
			Errors: []string{(&parse.LimitError{What: "input", Limit: max}).Error()}}
		send(prepared{in: in})
		return
	}
	send(prepared{in: Prepare(p, data, "import", origin, now())})
}

// splitMboxOrOne reads an mbox; a file with a single message is one input
// named by its path, several are named path#N.
func splitMboxOrOne(r io.Reader, origin string, max int64, p *parse.Parser, now func() time.Time, send func(prepared)) error {
	var first *prepared
	err := splitMbox(r, max, func(n int, msg []byte, err error) error {
		at := fmt.Sprintf("%s#%d", origin, n)
		var pr prepared
		if err != nil {
			pr = prepared{in: store.Input{Source: "import", Origin: at, ReceivedAt: now(), Errors: []string{err.Error()}}}
		} else {
			pr = prepared{in: Prepare(p, msg, "import", at, now())}
		}
		if n == 1 {
			first = &pr
			return nil
		}
		if first != nil {
			send(*first)
			first = nil
		}
		send(pr)
		return nil
	})
	if first != nil {
		first.in.Origin = origin
		send(*first)
	}
	return err
}
