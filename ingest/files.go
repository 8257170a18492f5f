package ingest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

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
	// MaxInFlight bounds the bytes of input read and not yet committed
	// (parsed, queued or in a batch being written); 0 means 96 MiB. A
	// Maildir anyone can mail into may hold files of the input limit each:
	// memory must not grow with them.
	MaxInFlight int64
	// Progress, when set, is called after each batch with the number of
	// inputs done and of sources (files, standard input) found so far, and
	// whether that total is final: the walk goes on beside the import, and
	// its total only grows until it is over.
	Progress func(done, total int, final bool)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Skip are files never read, such as the database itself and its WAL
	// when a directory that holds them is imported.
	Skip []string
	// DKIM verifies mailed reports (--dkim).
	DKIM DKIM
}

// ImportStats counts what an import did.
type ImportStats struct {
	Inputs     int // inputs recorded
	Stored     int // new reports
	Duplicates int // reports stored before
	// Known counts the inputs whose bytes were kept already: noted as
	// arrivals, not kept again.
	Known int
	// Reused counts the new reports stored under a report-id stored
	// before with other figures (another report, not a duplicate).
	Reused   int
	Invalid  int // inputs with a refused report
	NoReport int // inputs without a report
	// Problems are one line each, "where: what", for invalid inputs and for
	// paths that could not be read: the first thousand, with the number of
	// lines left out in MoreProblems.
	Problems     []string
	MoreProblems int
	// Unreadable counts paths that could not be read (nothing recorded).
	Unreadable int
	// Skipped counts files of the directories imported that are clearly
	// no reports by name and content (notes, a README): not recorded.
	Skipped int
	// Unauthenticated counts mails whose reports were refused for want of
	// a DKIM signature of the reporter (--dkim require); kept, reprocessable.
	Unauthenticated int
	// Deferred counts mails not recorded at all because their DKIM keys
	// could not be looked up for now (--dkim require): try again later.
	Deferred int
}

// keepProblems bounds the problem lines an import keeps.
const keepProblems = 1000

// source is one thing to read: a file, an mbox, or standard input.
type source struct {
	path string // "-" for stdin
	// inDir is set for a file found in a directory, not named: one that
	// is clearly no report (notReport) is skipped, not refused.
	inDir bool
}

type prepared struct {
	in store.Input
	// skipped is a file of a directory that is clearly no report.
	skipped bool
	// deferred is a mail left for a later run (DKIM.authenticate).
	deferred bool
	// weight is the bytes admitted (Import's in-flight budget) for this
	// input, given back once its batch is committed.
	weight int64
	err    error // a read error: nothing to record
	at     string
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
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 48 << 20
	}
	// A batch is written once it holds a third of what may be in flight:
	// two batches being written and one being filled fit. Each input is
	// admitted, its size counted, before it is read.
	batchBytesMax := int(opts.MaxInFlight / 3)
	inFlight := semaphore.NewWeighted(opts.MaxInFlight)
	admit := func(size int64) (int64, bool) {
		w := min(size, opts.MaxInFlight)
		return w, inFlight.Acquire(ctx, w) == nil
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The walk hands over paths as it finds them: memory does not grow with
	// the number of files.
	jobs := make(chan source, 256)
	var found atomic.Int64
	var walkDone atomic.Bool
	walked := make(chan walker, 1) // the walk's problems, when it is over
	go func() {
		defer close(jobs)
		w := walker{skip: opts.Skip, emit: func(s source) bool {
			found.Add(1)
			select {
			case jobs <- s:
				return true
			case <-ctx.Done():
				return false
			}
		}}
		w.walk(opts.Paths)
		walkDone.Store(true)
		walked <- w
	}()
	out := make(chan prepared, opts.Workers*16)
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range jobs {
				readSource(ctx, s, opts.Stdin, p, now, admit, func(pr prepared) {
					if pr.err == nil && !pr.skipped && !opts.DKIM.authenticate(&pr.in) {
						pr.deferred = true
					}
					select {
					case out <- pr:
					case <-ctx.Done():
					}
				})
			}
		}()
	}
	go func() { wg.Wait(); close(out) }()

	// The collector fills the next batch while the writers store the last
	// ones. Two writers: the store assembles one's batch (hashes, rows,
	// rollups) while the other's is being written and committed.
	batches := make(chan importBatch, 1)
	writeErr := make(chan error, 2)
	var writers sync.WaitGroup
	var statsMu sync.Mutex
	done := 0
	for range 2 {
		writers.Go(func() {
			for batch := range batches {
				results, err := st.Ingest(ctx, batch.inputs)
				inFlight.Release(batch.weight)
				if err != nil {
					writeErr <- err
					cancel()
					for range batches { // let the collector finish
					}
					return
				}
				statsMu.Lock()
				stats.add(batch.inputs, results)
				done += len(batch.inputs)
				if opts.Progress != nil {
					// An mbox is one source and many inputs: the total is
					// never less than what is done.
					final := walkDone.Load()
					opts.Progress(done, max(done, int(found.Load())), final)
				}
				statsMu.Unlock()
			}
		})
	}

	var batch importBatch
	var batchBytes int
	var readProblems []string
	unreadable, skipped, deferred := 0, 0, 0
	for pr := range out {
		batch.weight += pr.weight
		if pr.skipped {
			skipped++
			continue
		}
		if pr.deferred {
			deferred++
			if len(readProblems) < keepProblems {
				readProblems = append(readProblems, deferredError(&pr.in))
			}
			continue
		}
		if pr.err != nil {
			unreadable++
			if len(readProblems) < keepProblems {
				readProblems = append(readProblems, pr.at+": "+pr.err.Error())
			}
			continue
		}
		batch.inputs = append(batch.inputs, pr.in)
		batchBytes += len(pr.in.Data)
		if len(batch.inputs) >= opts.BatchSize || batchBytes >= batchBytesMax {
			batches <- batch
			batch, batchBytes = importBatch{}, 0
		}
	}
	if len(batch.inputs) > 0 && ctx.Err() == nil {
		batches <- batch
	} else {
		inFlight.Release(batch.weight)
	}
	close(batches)
	writers.Wait()
	close(writeErr)
	err := <-writeErr
	// stats is the writers' until they are done.
	w := <-walked
	stats.Unreadable += w.unreadable + unreadable
	stats.Skipped += skipped
	stats.Deferred += deferred
	stats.problem(w.problems...)
	stats.problem(readProblems...)
	stats.MoreProblems += w.unreadable - len(w.problems) + unreadable + deferred - len(readProblems)
	if err != nil {
		return stats, err
	}
	return stats, ctx.Err()
}

// walker expands paths into sources as it goes, depth first, so that the
// tree is never held whole. A directory is read a lot of entries at a time
// (65,536 unless set), each lot in name order: named as senders and tools
// name them, files in name order bring the same domains together, whose
// rollup rows share pages (100,000 files in directory order took 60% longer
// to import).
type walker struct {
	lot  int
	skip []string
	emit func(source) bool // false: stop
	// problems are the first keepProblems of the unreadable paths.
	problems   []string
	unreadable int
	skipped    map[string]bool
	stopped    bool
}

func (w *walker) walk(paths []string) {
	w.skipped = map[string]bool{}
	for _, p := range w.skip {
		if abs, err := filepath.Abs(p); err == nil {
			w.skipped[abs] = true
		}
	}
	for _, p := range paths {
		if w.stopped {
			return
		}
		if p == "-" {
			w.file("-")
			continue
		}
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			w.problem(p, unwrapPath(err))
		case fi.IsDir():
			w.dir(p)
		case !w.isSkipped(p):
			w.file(p)
		}
	}
}

func (w *walker) file(path string) { w.source(source{path: path}) }

func (w *walker) source(s source) {
	if !w.stopped && !w.emit(s) {
		w.stopped = true
	}
}

func (w *walker) problem(path string, err error) {
	w.unreadable++
	if len(w.problems) < keepProblems {
		w.problems = append(w.problems, fmt.Sprintf("%s: %v", path, err))
	}
}

func (w *walker) isSkipped(path string) bool {
	abs, err := filepath.Abs(path)
	return err == nil && w.skipped[abs]
}

func (w *walker) dir(path string) {
	f, err := os.Open(path)
	if err != nil {
		w.problem(path, unwrapPath(err))
		return
	}
	defer f.Close()
	// In a Maildir, tmp/ holds deliveries not yet complete, and the files
	// beside cur/ and new/ (dovecot-uidlist, indexes) are not mail.
	maildir := isMaildir(path)
	// The directory's absolute path, worked out once: filepath.Abs of a
	// relative path asks the system for the working directory, and for
	// every file of a large import that was 0.4 s of 6.
	absDir, absErr := filepath.Abs(path)
	skipped := func(name string) bool {
		return len(w.skipped) > 0 && absErr == nil && w.skipped[filepath.Join(absDir, name)]
	}
	for !w.stopped {
		entries, err := f.ReadDir(cmp.Or(w.lot, 1<<16))
		slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
		for _, e := range entries {
			child := filepath.Join(path, e.Name())
			switch {
			case e.IsDir():
				if !(maildir && e.Name() == "tmp") {
					w.dir(child)
				}
			case e.Type().IsRegular() && !maildir && !skipped(e.Name()):
				w.source(source{path: child, inDir: true})
			}
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			w.problem(path, unwrapPath(err))
			return
		}
	}
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

// notReport reports whether a file found in a directory is clearly no
// report, by its name and its content: notes, a README, a picture beside
// the reports. Its name's extension is none a report or mail comes with,
// and its bytes are neither JSON, gzip, zip nor a mail message.
func notReport(path string, data []byte) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case "", ".json", ".gz", ".gzip", ".zip", ".eml", ".msg", ".mbox", ".mail":
		return false
	}
	return parse.Sniff(data) == parse.FormatUnknown
}

// importBatch is inputs committed together and the bytes admitted for them.
type importBatch struct {
	inputs []store.Input
	weight int64
}

// errAdmit is a read not admitted: the import is ending.
var errAdmit = errors.New("import ended")

// readSource reads one source and sends one prepared input per message.
// admit is asked before bytes are read, with how many (or the most a
// stream may give); the first input sent carries the weight admitted.
func readSource(ctx context.Context, s source, stdin io.Reader, p *parse.Parser, now func() time.Time,
	admit func(size int64) (int64, bool), emit func(prepared)) {
	var weight int64
	send := func(pr prepared) {
		// The messages of an mbox after its first are admitted as they
		// come.
		if weight == 0 && pr.err == nil && len(pr.in.Data) > 0 {
			w, ok := admit(int64(len(pr.in.Data)))
			if !ok {
				return
			}
			weight = w
		}
		pr.weight, weight = weight, 0
		emit(pr)
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
		data, ok, err := readSmall(s.path, max, func(size int64) bool {
			w, ok := admit(size)
			weight += w
			return ok
		})
		switch {
		case errors.Is(err, errAdmit):
			return
		case err != nil:
			send(prepared{at: s.path, err: err})
			return
		case ok && s.inDir && notReport(s.path, data):
			send(prepared{at: s.path, skipped: true})
			return
		case ok && !bytes.HasPrefix(data, []byte("From ")):
			send(prepared{in: Prepare(p, data, "import", origin, now())})
			return
		case ok:
			r = bytes.NewReader(data) // an mbox, split below from what was read
		default:
			f, err := os.Open(s.path)
			if err != nil {
				send(prepared{at: s.path, err: unwrapPath(err)})
				return
			}
			defer f.Close()
			r = f
		}
	}
	// A stream may give up to the limit.
	if weight == 0 {
		w, ok := admit(max)
		if !ok {
			return
		}
		weight = w
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
