package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// A Sink keeps what the reporting endpoint accepts.
type Sink interface {
	// Submit keeps in and returns its result once it is committed to the
	// store. A sink that spools returns ErrSpooled instead when in is kept
	// on disk but not committed within wait (0: it does not wait); any
	// other error means in was not kept and must not be acknowledged.
	Submit(ctx context.Context, in store.Input, wait time.Duration) (store.Result, error)
}

// ErrSpooled says an input is kept durably in the spool and will be
// stored, but was not committed in the time given: it may be
// acknowledged.
var ErrSpooled = errors.New("ingest: kept in the spool, not yet stored")

// ErrSpoolFull says the spool holds its limit: nothing more can be kept
// until the store takes what it holds.
var ErrSpoolFull = errors.New("ingest: spool full")

// SpoolOptions configure a Spool. Zero fields take the defaults beside
// them.
type SpoolOptions struct {
	// Dir holds the spooled inputs, one file each; created if missing.
	Dir string
	// MaxBytes bounds the bytes the spool holds; default 1 GiB. Past it,
	// Submit fails with ErrSpoolFull.
	MaxBytes int64
	// MaxMemory bounds the bytes of raw input the queue keeps parsed in
	// memory; the rest are read back from disk when their turn comes.
	// Default 64 MiB.
	MaxMemory int64
	// MaxBatch bounds the inputs of one transaction; default 256.
	MaxBatch int
	// RetryMin and RetryMax bound the wait between attempts while the
	// store is unavailable; default 100 ms and 5 s.
	RetryMin, RetryMax time.Duration
	Logger             *slog.Logger
	// Registry receives the spool's Prometheus metrics; nil: none.
	Registry prometheus.Registerer
}

// Spool keeps each input durably on disk (written and synced) before it is
// stored, and stores the inputs from there in the order they came, as
// soon as the store can take them: an input the spool has kept may be
// acknowledged even while the database is locked or down. A crash between
// the spool and the store loses nothing and stores nothing twice: when the
// spool opens, an input already committed (recorded with the same bytes,
// source, origin and time) is dropped, the others are stored.
//
// An input whose storing fails for good (not store.ErrUnavailable) is
// moved to the spool's failed/ folder and logged, so that it neither
// blocks those behind it nor is lost.
type Spool struct {
	o  SpoolOptions
	st store.Store
	p  *parse.Parser
	m  *spoolMetrics

	mu        sync.Mutex
	wake      chan struct{} // signalled when the queue grows or the spool closes
	queue     []*spoolEntry
	bytes     int64 // on disk
	memory    int64 // of the queue's parsed inputs
	seq       uint64
	lastInput int64 // the largest input id committed, for the recovery's look-up
	closed    bool
	done      chan struct{}
}

// spoolEntry is one spooled input.
type spoolEntry struct {
	name string // the file's name in Dir
	size int64  // the file's size
	hdr  spoolHeader
	in   *store.Input // nil: read back from the file when its turn comes
	// checked is set once the entry is known not to be stored yet.
	checked bool
	result  store.Result
	err     error
	done    chan struct{}
}

// spoolHeader is the first line of a spool file, JSON; the input's bytes
// follow it.
type spoolHeader struct {
	Source   string `json:"source"`
	Origin   string `json:"origin"`
	Received int64  `json:"received_ms"`
	// After is the largest input id committed when the input was spooled:
	// once committed, the input has a larger one.
	After int64 `json:"after_input"`
}

// OpenSpool opens the spool in o.Dir, queues what an earlier run left in
// it (dropping what that run had committed already) and starts storing.
// Close stops it.
func OpenSpool(ctx context.Context, st store.Store, p *parse.Parser, o SpoolOptions) (*Spool, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if o.MaxMemory <= 0 {
		o.MaxMemory = 64 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "failed"), 0o700); err != nil {
		return nil, fmt.Errorf("ingest: spool: %w", err)
	}
	s := &Spool{o: o, st: st, p: p, m: newSpoolMetrics(o.Registry), wake: make(chan struct{}, 1), done: make(chan struct{})}
	newest, err := st.Inputs(ctx, store.InputFilter{Newest: true, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("ingest: spool: %w", err)
	}
	if len(newest) > 0 {
		s.lastInput = newest[0].ID
	}
	if err := s.recover(ctx); err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

// recover queues the files an earlier run left, in order, and removes
// half-written ones.
func (s *Spool) recover(ctx context.Context) error {
	entries, err := os.ReadDir(s.o.Dir)
	if err != nil {
		return fmt.Errorf("ingest: spool: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir():
			continue
		case strings.HasSuffix(name, ".tmp"):
			// Never acknowledged: the rename makes an input kept.
			os.Remove(filepath.Join(s.o.Dir, name))
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".input"), 10, 64)
		if err != nil || !strings.HasSuffix(name, ".input") {
			continue
		}
		s.seq = max(s.seq, seq)
		hdr, data, err := s.read(name)
		if err != nil {
			s.o.Logger.Error("spool: unreadable file moved aside", "file", name, "error", err)
			s.fail(name)
			continue
		}
		stored, err := s.stored(ctx, hdr, data)
		if err != nil {
			return fmt.Errorf("ingest: spool: %w", err)
		}
		if stored {
			os.Remove(filepath.Join(s.o.Dir, name))
			continue
		}
		size := int64(len(data))
		s.queue = append(s.queue, &spoolEntry{name: name, size: size, hdr: hdr, checked: true, done: make(chan struct{})})
		s.bytes += size
	}
	if len(s.queue) > 0 {
		s.o.Logger.Info("spool: storing inputs an earlier run kept", "inputs", len(s.queue), "dir", s.o.Dir)
	}
	s.m.set(len(s.queue), s.bytes)
	return nil
}

// stored reports whether the input in a spool file is committed already:
// an input recorded after hdr.After with the same bytes, source, origin
// and time.
func (s *Spool) stored(ctx context.Context, hdr spoolHeader, data []byte) (bool, error) {
	sum := sha256.Sum256(data)
	found, err := s.st.Inputs(ctx, store.InputFilter{AfterID: hdr.After, SHA256: sum[:]})
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(found, func(in store.InputInfo) bool {
		return in.Source == hdr.Source && in.Origin == hdr.Origin && in.ReceivedAt.UnixMilli() == hdr.Received
	}), nil
}

// Submit writes in to the spool and syncs it, queues it to be stored, and
// waits up to wait for its commit.
func (s *Spool) Submit(ctx context.Context, in store.Input, wait time.Duration) (store.Result, error) {
	e, err := s.keep(in)
	if err != nil {
		return store.Result{}, err
	}
	if wait <= 0 {
		return store.Result{}, ErrSpooled
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-e.done:
		return e.result, e.err
	case <-t.C:
	case <-ctx.Done():
	}
	return store.Result{}, ErrSpooled
}

// keep writes in durably and queues it.
func (s *Spool) keep(in store.Input) (*spoolEntry, error) {
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = time.Now()
	}
	size := int64(len(in.Data))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if s.bytes+size > s.o.MaxBytes {
		s.mu.Unlock()
		s.m.refused.Inc()
		return nil, fmt.Errorf("%w: it holds %d bytes, the limit is %d", ErrSpoolFull, s.bytes, s.o.MaxBytes)
	}
	s.seq++
	e := &spoolEntry{name: fmt.Sprintf("%020d.input", s.seq), size: size, checked: true, done: make(chan struct{}),
		hdr: spoolHeader{Source: in.Source, Origin: in.Origin, Received: in.ReceivedAt.UnixMilli(), After: s.lastInput}}
	s.bytes += size // held while it is written: concurrent writers share the limit
	s.mu.Unlock()
	if err := s.write(e, in.Data); err != nil {
		s.mu.Lock()
		s.bytes -= size
		s.mu.Unlock()
		s.m.refused.Inc()
		return nil, fmt.Errorf("ingest: spool: %w", err)
	}
	in.ReceivedAt = time.UnixMilli(e.hdr.Received) // as recorded in the spool, to the millisecond
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		// Kept on disk: the next run stores it.
		return e, nil
	}
	if s.memory+size <= s.o.MaxMemory {
		e.in = &in
		s.memory += size
	}
	s.queue = append(s.queue, e)
	s.m.set(len(s.queue), s.bytes)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return e, nil
}

// write writes e's file: into a temporary file, synced, renamed to its
// name, and the directory synced, so that a kept input survives a crash
// or power loss, and a half-written one never looks kept.
func (s *Spool) write(e *spoolEntry, data []byte) error {
	hdr, err := json.Marshal(e.hdr)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.o.Dir, e.name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(append(hdr, '\n'), data...))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.o.Dir, e.name))
	}
	if err == nil {
		err = syncDir(s.o.Dir)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// read reads a spool file back.
func (s *Spool) read(name string) (spoolHeader, []byte, error) {
	var hdr spoolHeader
	b, err := os.ReadFile(filepath.Join(s.o.Dir, name))
	if err != nil {
		return hdr, nil, err
	}
	line, data, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return hdr, nil, errors.New("no header line")
	}
	if err := json.Unmarshal(line, &hdr); err != nil {
		return hdr, nil, fmt.Errorf("header: %w", err)
	}
	return hdr, data, nil
}

// fail moves a spool file aside, into failed/.
func (s *Spool) fail(name string) {
	if err := os.Rename(filepath.Join(s.o.Dir, name), filepath.Join(s.o.Dir, "failed", name)); err != nil {
		s.o.Logger.Error("spool: moving a file aside", "file", name, "error", err)
	}
}

// run stores the queue's inputs in order until the spool is closed and
// its queue is empty, or closed and the store unavailable.
func (s *Spool) run() {
	defer close(s.done)
	backoff := time.Duration(0)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return
		}
		batch := slices.Clone(s.queue[:min(len(s.queue), s.o.MaxBatch)])
		closed := s.closed
		s.mu.Unlock()
		err := s.store(batch)
		if err == nil {
			backoff = 0
			continue
		}
		if closed {
			s.o.Logger.Warn("spool: the store is unavailable at shutdown; what is left is stored at the next start",
				"inputs", len(s.queue), "dir", s.o.Dir, "error", err)
			return
		}
		if backoff == 0 {
			s.o.Logger.Warn("spool: the store is unavailable; inputs stay in the spool and are retried", "error", err)
		}
		backoff = min(max(2*backoff, s.o.RetryMin), s.o.RetryMax)
		s.m.retries.Inc()
		select {
		case <-time.After(backoff):
		case <-s.wake:
			// A new input or Close: with Close, one more try, then stop.
			s.mu.Lock()
			if !s.closed {
				s.mu.Unlock()
				time.Sleep(backoff)
			} else {
				s.mu.Unlock()
			}
		}
	}
}

// store commits batch, the queue's first entries. It returns an error only
// when the store is unavailable: the batch stays at the queue's front.
func (s *Spool) store(batch []*spoolEntry) error {
	inputs := make([]store.Input, 0, len(batch))
	ready := batch[:0:0]
	for _, e := range batch {
		in, err := s.input(e)
		if errors.Is(err, store.ErrUnavailable) {
			return err
		}
		if err != nil {
			s.o.Logger.Error("spool: input moved aside", "file", e.name, "error", err)
			s.fail(e.name)
			s.finish([]*spoolEntry{e}, nil, err)
			continue
		}
		if in == nil { // committed before the crash or error that left it here
			os.Remove(filepath.Join(s.o.Dir, e.name))
			s.finish([]*spoolEntry{e}, nil, nil)
			continue
		}
		inputs = append(inputs, *in)
		ready = append(ready, e)
	}
	if len(ready) == 0 {
		return nil
	}
	results, err := s.st.Ingest(context.Background(), inputs)
	switch {
	case err == nil:
		for _, e := range ready {
			if err := os.Remove(filepath.Join(s.o.Dir, e.name)); err != nil {
				s.o.Logger.Warn("spool: removing a stored input", "file", e.name, "error", err)
			}
		}
		s.finish(ready, results, nil)
		return nil
	case errors.Is(err, store.ErrUnavailable):
		// The commit may have happened before the error (the WAL's sync
		// failed): look before the next try.
		for _, e := range ready {
			e.checked = false
		}
		return err
	case len(ready) > 1:
		// One input the store refuses for good: find it alone.
		for _, e := range ready {
			if err := s.store([]*spoolEntry{e}); err != nil {
				return err
			}
		}
		return nil
	}
	e := ready[0]
	s.o.Logger.Error("spool: the store refused an input; moved aside", "file", e.name, "error", err)
	s.fail(e.name)
	s.finish(ready, nil, err)
	return nil
}

// input returns e's input, read back from its file when the queue did not
// keep it; nil when e turns out to be stored already.
func (s *Spool) input(e *spoolEntry) (*store.Input, error) {
	if e.in != nil && e.checked {
		return e.in, nil
	}
	hdr, data, err := s.read(e.name)
	if err != nil {
		return nil, err
	}
	if !e.checked {
		stored, err := s.stored(context.Background(), hdr, data)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		if stored {
			return nil, nil
		}
		e.checked = true
	}
	if e.in != nil {
		return e.in, nil
	}
	in, _ := prepare(s.p, data, hdr.Source, hdr.Origin, time.UnixMilli(hdr.Received))
	return &in, nil
}

// finish takes entries off the queue's front and tells their waiters.
func (s *Spool) finish(entries []*spoolEntry, results []store.Result, err error) {
	s.mu.Lock()
	for i, e := range entries {
		j := slices.Index(s.queue, e)
		if j >= 0 {
			s.queue = slices.Delete(s.queue, j, j+1)
		}
		s.bytes -= e.size
		if e.in != nil {
			s.memory -= e.size
		}
		if results != nil {
			e.result = results[i]
			s.lastInput = max(s.lastInput, results[i].InputID)
			s.m.reused.Add(float64(results[i].Reused))
		}
		e.err = err
		close(e.done)
	}
	s.m.set(len(s.queue), s.bytes)
	s.mu.Unlock()
}

// Len is the number of inputs waiting to be stored.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Close stops taking inputs and stores those queued, unless the store is
// unavailable: they stay on disk for the next start. It returns when done
// or when ctx ends.
func (s *Spool) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ingest: spool: %d inputs not yet stored, kept in %s: %w", s.Len(), s.o.Dir, ctx.Err())
	}
}

// spoolMetrics are the spool's Prometheus series.
type spoolMetrics struct {
	entries, bytes   prometheus.Gauge
	retries, refused prometheus.Counter
	reused           prometheus.Counter
}

func newSpoolMetrics(reg prometheus.Registerer) *spoolMetrics {
	m := &spoolMetrics{
		entries: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tlsrpt_spool_inputs",
			Help: "Inputs kept in the spool, not yet stored."}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tlsrpt_spool_bytes",
			Help: "Bytes of input kept in the spool, not yet stored."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "tlsrpt_spool_store_retries_total",
			Help: "Attempts to store spooled inputs that found the store unavailable."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "tlsrpt_spool_refused_total",
			Help: "Inputs that could not be kept in the spool (full, or the disk failed): answered 503."}),
		reused: prometheus.NewCounter(prometheus.CounterOpts{Name: "tlsrpt_reports_reused_id_total",
			Help: "Reports stored under a report-id stored before with other figures (another report, flagged)."}),
	}
	if reg != nil {
		reg.MustRegister(m.entries, m.bytes, m.retries, m.refused, m.reused)
	}
	return m
}

func (m *spoolMetrics) set(entries int, bytes int64) {
	m.entries.Set(float64(entries))
	m.bytes.Set(float64(bytes))
}
