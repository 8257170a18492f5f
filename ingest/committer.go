package ingest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/tlsrpt/tlsrpt/store"
)

// ErrClosed is returned by Committer.Submit once the committer is closed.
var ErrClosed = errors.New("ingest: committer closed")

var _ Sink = (*Committer)(nil)

// Committer commits inputs from many goroutines in shared transactions
// (group commit): whatever has queued while one transaction commits goes
// into the next. Submit returns only once its input is durably committed,
// so a caller may acknowledge it then, and not before.
type Committer struct {
	st       store.Store
	maxBatch int
	queue    chan *pending
	done     chan struct{}
	once     sync.Once
	mu       sync.RWMutex // held for reading while submitting, for writing to close
	closed   bool
}

type pending struct {
	in     store.Input
	result store.Result
	err    error
	done   chan struct{}
}

// NewCommitter starts a committer; maxBatch bounds a transaction's inputs
// (0: 256).
func NewCommitter(st store.Store, maxBatch int) *Committer {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	c := &Committer{st: st, maxBatch: maxBatch, queue: make(chan *pending, maxBatch), done: make(chan struct{})}
	go c.run()
	return c
}

// Submit queues in and waits for its commit, however long (a Committer
// keeps nothing on disk of its own, so it ignores wait). If ctx ends first
// the input may still be committed; the caller must then not acknowledge
// it.
func (c *Committer) Submit(ctx context.Context, in store.Input, _ time.Duration) (store.Result, error) {
	p := &pending{in: in, done: make(chan struct{})}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return store.Result{}, ErrClosed
	}
	select {
	case c.queue <- p:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return store.Result{}, ctx.Err()
	}
	select {
	case <-p.done:
		return p.result, p.err
	case <-ctx.Done():
		return store.Result{}, ctx.Err()
	}
}

func (c *Committer) run() {
	defer close(c.done)
	for first := range c.queue {
		batch := []*pending{first}
	collect:
		for len(batch) < c.maxBatch {
			select {
			case p, ok := <-c.queue:
				if !ok {
					break collect
				}
				batch = append(batch, p)
			default:
				break collect
			}
		}
		inputs := make([]store.Input, len(batch))
		for i, p := range batch {
			inputs[i] = p.in
		}
		// Not the requests' contexts: once begun, a commit is finished.
		results, err := c.st.Ingest(context.Background(), inputs)
		for i, p := range batch {
			if err != nil {
				p.err = err
			} else {
				p.result = results[i]
			}
			close(p.done)
		}
	}
}

// Close stops accepting inputs, commits those queued, and returns when done.
func (c *Committer) Close() {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		close(c.queue)
		c.mu.Unlock()
	})
	<-c.done
}
