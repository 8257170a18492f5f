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
	"sync"
	"sync/atomic"
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
	// Dir holds the spool's segment files; created if missing.
	Dir string
	// MaxBytes bounds the bytes of input the spool holds; default 1 GiB.
	// Past it, Submit fails with ErrSpoolFull.
	MaxBytes int64
	// MaxMemory bounds the bytes of raw input the queue keeps parsed in
	// memory; the rest are read back from disk when their turn comes.
	// Default 64 MiB.
	MaxMemory int64
	// MaxBatch bounds the inputs of one transaction; default 256.
	MaxBatch int
	// SegmentSize is the size past which a new segment file is begun;
	// default 16 MiB.
	SegmentSize int64
	// RetryMin and RetryMax bound the wait between attempts while the
	// store is unavailable; default 100 ms and 5 s.
	RetryMin, RetryMax time.Duration
	Logger             *slog.Logger
	// Registry receives the spool's Prometheus metrics; nil: none.
	Registry prometheus.Registerer
}

// Spool keeps each input durably on disk before it is stored, and stores
// the inputs from there in the order they came, as soon as the store can
// take them: an input the spool has kept may be acknowledged even while
// the database is locked or down. Inputs are records of a log (spoolLog)
// synced in groups.
//
// A crash between the spool and the store loses nothing and stores nothing
// twice: when the spool opens, an input already committed (recorded with
// the same bytes, source, origin and time, after the input id its record
// notes) is dropped, the others are stored.
//
// An input whose storing fails for good (not store.ErrUnavailable) is
// written to the spool's failed/ folder and logged, so that it neither
// blocks those behind it nor is lost.
type Spool struct {
	o   SpoolOptions
	st  store.Store
	p   *parse.Parser
	m   *spoolMetrics
	log *spoolLog

	mu        sync.Mutex
	wake      chan struct{} // signalled when the queue grows or the spool closes
	queue     []*spoolEntry
	bytes     int64 // of input in the queue
	memory    int64 // of the queue's parsed inputs
	lastInput int64 // the largest input id committed, for the look-up
	closed    bool
	// stalled is set while the store is unavailable (between a failed
	// attempt and the next that succeeds): Submit does not wait for a
	// commit that cannot come.
	stalled atomic.Bool
	// attempt is when the store's current attempt began (unix
	// nanoseconds), 0 between attempts: one that has taken longer than a
	// request's wait (the database locked, SQLite's busy wait) will not
	// commit that request in time either.
	attempt atomic.Int64
	closing chan struct{} // closed by Close
	done    chan struct{}
}

// spoolEntry is one spooled input.
type spoolEntry struct {
	ref  recordRef
	size int64        // of the input
	in   *store.Input // nil: read back from the log when its turn comes
	// checked is set once the entry is known not to be stored yet.
	checked bool
	result  store.Result
	err     error
	done    chan struct{}
}

// spoolHeader is the first line of a record's payload, JSON; the input's
// bytes follow it.
type spoolHeader struct {
	Source   string `json:"source"`
	Origin   string `json:"origin"`
	Received int64  `json:"received_ms"`
	// After is the largest input id committed when the input was spooled:
	// once committed, the input has a larger one.
	After int64 `json:"after_input"`
}

func (h spoolHeader) payload(data []byte) []byte {
	b, _ := json.Marshal(h) // strings and numbers: cannot fail
	return append(append(b, '\n'), data...)
}

func splitPayload(payload []byte) (spoolHeader, []byte, error) {
	var h spoolHeader
	line, data, ok := bytes.Cut(payload, []byte("\n"))
	if !ok {
		return h, nil, errors.New("spool record without a header line")
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return h, nil, fmt.Errorf("spool record header: %w", err)
	}
	return h, data, nil
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
	if o.SegmentSize <= 0 {
		o.SegmentSize = 16 << 20
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
	s := &Spool{o: o, st: st, p: p, m: newSpoolMetrics(o.Registry), log: newSpoolLog(o.Dir, o.SegmentSize),
		wake: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{})}
	newest, err := st.Inputs(ctx, store.InputFilter{Newest: true, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("ingest: spool: %w", err)
	}
	if len(newest) > 0 {
		s.lastInput = newest[0].ID
	}
	err = s.log.recover(func(ref recordRef, payload []byte) (bool, error) {
		hdr, data, err := splitPayload(payload)
		if err != nil {
			s.o.Logger.Error("spool: a damaged record moved aside", "error", err)
			s.moveAside(fmt.Sprintf("recovered-%d-%d", ref.seg.id, ref.off), payload)
			return false, nil
		}
		stored, err := s.stored(ctx, hdr, data)
		if err != nil || stored {
			return false, err
		}
		size := int64(len(data))
		s.queue = append(s.queue, &spoolEntry{ref: ref, size: size, checked: true, done: make(chan struct{})})
		s.bytes += size
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: spool: %w", err)
	}
	if len(s.queue) > 0 {
		s.o.Logger.Info("spool: storing inputs an earlier run kept", "inputs", len(s.queue), "dir", s.o.Dir)
	}
	s.m.set(len(s.queue), s.bytes)
	go s.run()
	return s, nil
}

// stored reports whether a spooled input is committed already: an input
// recorded after hdr.After with the same bytes, source, origin and time.
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

// Submit keeps in durably in the spool, queues it to be stored, and waits
// up to wait for its commit.
func (s *Spool) Submit(ctx context.Context, in store.Input, wait time.Duration) (store.Result, error) {
	e, seq, err := s.keep(in)
	if err == nil {
		err = s.log.sync(seq)
	}
	if err != nil {
		s.m.refused.Inc()
		return store.Result{}, err
	}
	if wait <= 0 || s.stalled.Load() {
		return store.Result{}, ErrSpooled
	}
	if a := s.attempt.Load(); a != 0 && time.Since(time.Unix(0, a)) > wait {
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

// keep appends in to the log and queues it, in the log's order. It is
// durable once the log is synced up to the number keep returns.
func (s *Spool) keep(in store.Input) (*spoolEntry, uint64, error) {
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = time.Now()
	}
	// Recorded to the millisecond, as the store records it: the look-up
	// after a crash compares them.
	in.ReceivedAt = time.UnixMilli(in.ReceivedAt.UnixMilli())
	size := int64(len(in.Data))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, ErrClosed
	}
	if s.bytes+size > s.o.MaxBytes {
		return nil, 0, fmt.Errorf("%w: it holds %d bytes, the limit is %d", ErrSpoolFull, s.bytes, s.o.MaxBytes)
	}
	hdr := spoolHeader{Source: in.Source, Origin: in.Origin, Received: in.ReceivedAt.UnixMilli(), After: s.lastInput}
	ref, seq, err := s.log.append(hdr.payload(in.Data))
	if err != nil {
		return nil, 0, fmt.Errorf("ingest: spool: %w", err)
	}
	e := &spoolEntry{ref: ref, size: size, checked: true, done: make(chan struct{})}
	if s.memory+size <= s.o.MaxMemory {
		e.in = &in
		s.memory += size
	}
	s.queue = append(s.queue, e)
	s.bytes += size
	s.m.set(len(s.queue), s.bytes)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return e, seq, nil
}

// moveAside writes an input's bytes to failed/NAME.input, as they
// arrived, so that "tlsrpt import <spool>/failed" takes them again once
// the cause is fixed; where they came from is logged. A payload whose
// header cannot be read is written whole.
func (s *Spool) moveAside(name string, payload []byte) {
	path := filepath.Join(s.o.Dir, "failed", name+".input")
	data := payload
	if hdr, body, err := splitPayload(payload); err == nil {
		data = body
		s.o.Logger.Error("spool: input set aside", "file", path, "source", hdr.Source, "origin", hdr.Origin,
			"received", time.UnixMilli(hdr.Received).UTC())
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		s.o.Logger.Error("spool: writing an input aside", "file", path, "error", err)
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
		s.stalled.Store(err != nil)
		if err == nil {
			backoff = 0
			continue
		}
		if closed {
			s.o.Logger.Warn("spool: the store is unavailable at shutdown; what is left is stored at the next start",
				"inputs", s.Len(), "dir", s.o.Dir, "error", err)
			return
		}
		if backoff == 0 {
			s.o.Logger.Warn("spool: the store is unavailable; inputs stay in the spool and are retried", "error", err)
		}
		backoff = min(max(2*backoff, s.o.RetryMin), s.o.RetryMax)
		s.m.retries.Inc()
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.closing:
		}
		t.Stop()
	}
}

// store commits batch, the queue's first entries. It returns an error only
// when the store is unavailable: the batch stays at the queue's front.
func (s *Spool) store(batch []*spoolEntry) error {
	inputs := make([]store.Input, 0, len(batch))
	ready := batch[:0:0]
	for _, e := range batch {
		in, payload, err := s.input(e)
		if errors.Is(err, store.ErrUnavailable) {
			return err
		}
		if err != nil {
			s.o.Logger.Error("spool: an unreadable input moved aside", "error", err)
			s.moveAside(fmt.Sprintf("%d-%d", e.ref.seg.id, e.ref.off), payload)
			s.finish([]*spoolEntry{e}, nil, err)
			continue
		}
		if in == nil { // committed before the error that left it here
			s.finish([]*spoolEntry{e}, nil, ErrSpooled)
			continue
		}
		inputs = append(inputs, *in)
		ready = append(ready, e)
	}
	if len(ready) == 0 {
		return nil
	}
	s.attempt.Store(time.Now().UnixNano())
	results, err := s.st.Ingest(context.Background(), inputs)
	s.attempt.Store(0)
	switch {
	case err == nil:
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
	s.o.Logger.Error("spool: the store refused an input; moved aside", "origin", inputs[0].Origin, "error", err)
	hdr := spoolHeader{Source: inputs[0].Source, Origin: inputs[0].Origin, Received: inputs[0].ReceivedAt.UnixMilli()}
	s.moveAside(fmt.Sprintf("%d-%d", e.ref.seg.id, e.ref.off), hdr.payload(inputs[0].Data))
	s.finish(ready, nil, err)
	return nil
}

// input returns e's input, read back from the log when the queue did not
// keep it, or nil when e turns out to be stored already; with an error,
// the record's payload when it could be read.
func (s *Spool) input(e *spoolEntry) (*store.Input, []byte, error) {
	if e.in != nil && e.checked {
		return e.in, nil, nil
	}
	payload, err := s.log.read(e.ref)
	if err != nil {
		return nil, nil, err
	}
	hdr, data, err := splitPayload(payload)
	if err != nil {
		return nil, payload, err
	}
	if !e.checked {
		stored, err := s.stored(context.Background(), hdr, data)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		if stored {
			return nil, nil, nil
		}
		e.checked = true
	}
	if e.in != nil {
		return e.in, nil, nil
	}
	in, _ := prepare(s.p, data, hdr.Source, hdr.Origin, time.UnixMilli(hdr.Received))
	return &in, nil, nil
}

// finish takes entries off the queue, marks their records done and tells
// their waiters.
func (s *Spool) finish(entries []*spoolEntry, results []store.Result, err error) {
	s.mu.Lock()
	for i, e := range entries {
		if j := slices.Index(s.queue, e); j >= 0 {
			s.queue = slices.Delete(s.queue, j, j+1)
		}
		s.bytes -= e.size
		if e.in != nil {
			s.memory -= e.size
			e.in = nil // the queue's memory, not the waiter's result
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
	for _, e := range entries {
		s.log.done(e.ref)
	}
}

// Check fails while the store is found unavailable (the last attempt to
// store failed, or the current one has lasted over a minute): for
// server.Healthz.
func (s *Spool) Check() error {
	if s.stalled.Load() {
		return fmt.Errorf("the store is unavailable: %d inputs kept in the spool, not yet stored", s.Len())
	}
	if a := s.attempt.Load(); a != 0 && time.Since(time.Unix(0, a)) > time.Minute {
		return fmt.Errorf("the store has not answered for %v: %d inputs kept in the spool", time.Since(time.Unix(0, a)).Round(time.Second), s.Len())
	}
	return nil
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
		close(s.closing)
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		return s.log.close()
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
