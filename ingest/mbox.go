package ingest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// splitMbox calls fn with each message of an mbox stream (the "From "
// separated format of RFC 4155), with ">From " lines unquoted (mboxrd). A
// message larger than max is passed as an error instead of being read whole.
func splitMbox(r io.Reader, max int64, fn func(n int, msg []byte, err error) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var msg bytes.Buffer
	n := 0
	tooBig := false
	prevBlank := true
	flush := func() error {
		if n == 0 {
			return nil
		}
		if tooBig {
			return fn(n, nil, fmt.Errorf("mbox message %d exceeds the limit of %d bytes", n, max))
		}
		return fn(n, bytes.Clone(msg.Bytes()), nil)
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A very long line: keep reading it in pieces.
			err = nil
		}
		if len(line) > 0 {
			if prevBlank && bytes.HasPrefix(line, []byte("From ")) {
				if ferr := flush(); ferr != nil {
					return ferr
				}
				n++
				msg.Reset()
				tooBig = false
			} else if n > 0 && !tooBig {
				if unq := bytes.TrimLeft(line, ">"); len(unq) < len(line) && bytes.HasPrefix(unq, []byte("From ")) {
					line = line[1:]
				}
				if int64(msg.Len()+len(line)) > max {
					tooBig = true
					msg.Reset()
				} else {
					msg.Write(line)
				}
			}
			prevBlank = len(bytes.TrimRight(line, "\r\n")) == 0
		}
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return err
		}
	}
}
