// Package jsonout writes the JSON every tlsrpt interface answers with: the
// command line's --format json and the web API write the same bytes for the
// same answer, through this package. Two-space indent, a newline at the end.
package jsonout

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
)

// Value writes v indented, as json.Encoder with a two-space indent does.
func Value(w *bufio.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// List is a JSON answer made mostly of one long list: an object whose last
// member is the list ({"by": "day", "rows": [...]}), or a bare array. It
// is written an element at a time, byte for byte as json.Encoder with a
// two-space indent writes the whole, so that a view of a million rows never
// sits in memory as one buffer.
type List struct {
	head []Member // members before the list; none for a bare array
	key  string   // the list's member name; "" for a bare array
	n    int
	item func(i int) any
}

// Member is a member of an object written before its list.
type Member struct {
	Name  string
	Value any
}

// ListOf is the object {head..., key: items}; with key "", the bare array.
func ListOf[T any](key string, items []T, head ...Member) List {
	return List{head: head, key: key, n: len(items), item: func(i int) any { return items[i] }}
}

// Encode writes the list to bw; the caller flushes.
func (l List) Encode(bw *bufio.Writer) error {
	indent := ""
	if l.key != "" {
		bw.WriteString("{\n")
		for _, m := range l.head {
			if err := writeMember(bw, m.Name, m.Value); err != nil {
				return err
			}
			bw.WriteString(",\n")
		}
		name, _ := json.Marshal(l.key)
		fmt.Fprintf(bw, "  %s: ", name)
		indent = "  "
	}
	if l.n == 0 {
		bw.WriteString("[]")
	} else {
		bw.WriteString("[\n")
		if err := l.encodeItems(bw, indent+"  "); err != nil {
			return err
		}
		bw.WriteString(indent + "]")
	}
	if l.key != "" {
		bw.WriteString("\n}")
	}
	return bw.WriteByte('\n')
}

// encodeItems writes the list's elements, each on its lines after prefix
// and all but the last followed by a comma. Chunks of elements are encoded
// by one goroutine per CPU and written in order: encoding is most of the
// time of a large answer. At most two chunks per CPU wait to be written,
// and their buffers are reused.
func (l List) encodeItems(w *bufio.Writer, prefix string) error {
	const chunk = 256
	chunks := (l.n + chunk - 1) / chunk
	type encoded struct {
		b   []byte
		err error
	}
	results := make([]chan encoded, chunks)
	for i := range results {
		results[i] = make(chan encoded, 1)
	}
	workers := min(runtime.GOMAXPROCS(0), chunks)
	next := make(chan int)
	window := make(chan struct{}, 2*workers)
	free := make(chan []byte, 2*workers) // written chunks' buffers, reused
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(next)
		for c := range chunks {
			select {
			case window <- struct{}{}:
			case <-done:
				return
			}
			select {
			case next <- c:
			case <-done:
				return
			}
		}
	}()
	for range workers {
		go func() {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetIndent(prefix, "  ")
			for c := range next {
				var out []byte
				select {
				case out = <-free:
				default:
				}
				var err error
				for i := c * chunk; i < min((c+1)*chunk, l.n) && err == nil; i++ {
					buf.Reset()
					err = enc.Encode(l.item(i))
					out = append(out, prefix...)
					out = append(out, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
					if i < l.n-1 {
						out = append(out, ',')
					}
					out = append(out, '\n')
				}
				results[c] <- encoded{out, err}
			}
		}()
	}
	for c := range chunks {
		r := <-results[c]
		if r.err != nil {
			return r.err
		}
		if _, err := w.Write(r.b); err != nil {
			return err
		}
		select {
		case free <- r.b[:0]:
		default:
		}
		<-window
	}
	return nil
}

func writeMember(w *bufio.Writer, name string, value any) error {
	n, err := json.Marshal(name)
	if err != nil {
		return err
	}
	v, err := json.MarshalIndent(value, "  ", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  %s: %s", n, v)
	return nil
}
