package parse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/emersion/go-message"
)

// reportTypes are the media types a report attachment is labelled with:
// the registered ones (RFC 8460 section 5.3) and those real senders use.
var reportTypes = map[string]bool{
	"application/tlsrpt+gzip": true,
	"application/tlsrpt+json": true,
	// QUIRK: senders label the report with generic types (FIELD-GUIDE
	// "What real senders do"); the bytes are sniffed, not the label trusted.
	"application/gzip":             true,
	"application/x-gzip":           true,
	"application/octet-stream":     true,
	"application/zip":              true,
	"application/x-zip-compressed": true,
	"application/json":             true,
}

// message walks a mail message's MIME tree (RFC 8460 section 5.3) and decodes
// every part that holds a report, however it is labelled, including inside
// forwarded messages (message/rfc822).
func (p *Parser) message(data []byte, b *budget) ([]Item, error) {
	// An mbox "From " separator before the header is not part of the message.
	if bytes.HasPrefix(data, []byte("From ")) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	w := walker{p: p, budget: b}
	e, err := message.ReadWithOptions(bytes.NewReader(data), &message.ReadOptions{MaxHeaderBytes: 1 << 20})
	if err != nil && !isLenient(err) {
		return nil, fmt.Errorf("%w: malformed mail message: %s", ErrNotReport, oneLine(err.Error()))
	}
	if err := w.entity(e, 0); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, err
		}
		if len(w.items) == 0 {
			return nil, fmt.Errorf("%w: malformed mail message: %s", ErrInvalid, oneLine(err.Error()))
		}
		w.items = append(w.items, Item{Err: fmt.Errorf("%w: rest of the message unreadable: %s", ErrInvalid, oneLine(err.Error()))})
	}
	if len(w.items) == 0 {
		return nil, ErrNoReport
	}
	return w.items, nil
}

// isLenient tells the errors go-message returns alongside a usable entity.
func isLenient(err error) bool {
	return message.IsUnknownCharset(err) || message.IsUnknownEncoding(err)
}

type walker struct {
	p      *Parser
	budget *budget
	parts  int
	items  []Item
}

func (w *walker) entity(e *message.Entity, nest int) error {
	w.parts++
	if w.parts > w.p.lim.MaxParts {
		return &LimitError{What: "MIME parts in one message", Limit: int64(w.p.lim.MaxParts)}
	}
	if nest > w.p.lim.MaxNesting {
		return &LimitError{What: "MIME nesting", Limit: int64(w.p.lim.MaxNesting)}
	}
	mediaType, _, _ := e.Header.ContentType()
	mediaType = strings.ToLower(mediaType)
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil && isUnterminated(err) {
				// QUIRK: Mail.ru (2023) ends its multipart/report without the
				// closing boundary (RFC 2046 section 5.1.1): the parts before
				// the end are complete, so the end of input ends the multipart.
				return nil
			}
			if err != nil && (part == nil || !isLenient(err)) {
				if message.IsUnknownEncoding(err) {
					continue
				}
				return err
			}
			if err := w.entity(part, nest+1); err != nil {
				return err
			}
		}
	}
	switch mediaType {
	case "message/rfc822", "message/global":
		// QUIRK: a person forwards the report as an attachment.
		inner, err := message.ReadWithOptions(e.Body, &message.ReadOptions{MaxHeaderBytes: 1 << 20})
		if err != nil && !isLenient(err) {
			return nil // a forwarded message we cannot read holds no report we can find
		}
		return w.entity(inner, nest+1)
	}
	return w.leaf(e, mediaType, nest)
}

func (w *walker) leaf(e *message.Entity, mediaType string, nest int) error {
	name := attachmentName(e)
	labelled := reportTypes[mediaType]
	named := hasReportSuffix(name)
	if !labelled && !named {
		return nil
	}
	if len(w.items) >= w.p.lim.MaxReports {
		return &LimitError{What: "reports in one input", Limit: int64(w.p.lim.MaxReports)}
	}
	br := bufio.NewReaderSize(e.Body, 512)
	if !named && !strings.HasPrefix(mediaType, "application/tlsrpt+") {
		// A generic type (octet-stream, say) may be any attachment: one
		// whose first bytes are neither JSON, gzip nor zip is not read on.
		if head, _ := br.Peek(512); !slices.Contains([]Format{FormatJSON, FormatGzip, FormatZip}, Sniff(head)) {
			return nil
		}
	}
	body, err := io.ReadAll(io.LimitReader(br, w.p.lim.MaxInput+1))
	// QUIRK: a sender ends the message inside its last part, the report,
	// without the closing boundary (RFC 2046 section 5.1.1). What was read
	// is the whole part when it decodes to a complete report; when it
	// does not, the report's own error says so.
	unclosed := err != nil && isUnterminated(err)
	if unclosed {
		err = nil
	}
	if err != nil {
		w.items = append(w.items, Item{Name: name, Err: fmt.Errorf("%w: reading %s part %q: %s", ErrInvalid, mediaType, name, oneLine(err.Error()))})
		return nil
	}
	if int64(len(body)) > w.p.lim.MaxInput {
		return &LimitError{What: "attachment", Limit: w.p.lim.MaxInput}
	}
	items, err := w.p.payload(body, name, nest+1, w.budget)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		// A generic type (octet-stream, say) may be any attachment: only a
		// part labelled as a TLS report is an error when it holds none.
		if strings.HasPrefix(mediaType, "application/tlsrpt+") {
			w.items = append(w.items, Item{Name: name, Err: fieldErr("", "part labelled %s holds neither JSON nor gzip (starts with %q)", mediaType, head(body))})
		}
		return nil
	}
	if unclosed {
		for i := range items {
			if items[i].Err != nil {
				items[i].Err = fmt.Errorf("%w (the %s part ends with the message, without its closing boundary)", items[i].Err, mediaType)
			} else if r := items[i].Report; r != nil {
				r.Warnings = append(r.Warnings, fmt.Sprintf("the %s part ends with the message, without its closing MIME boundary (RFC 2046 section 5.1.1): the report in it is complete and was kept", mediaType))
			}
		}
	}
	w.items = append(w.items, items...)
	return nil
}

func attachmentName(e *message.Entity) string {
	if _, params, err := e.Header.ContentDisposition(); err == nil && params["filename"] != "" {
		return params["filename"]
	}
	if _, params, err := e.Header.ContentType(); err == nil {
		return params["name"]
	}
	return ""
}

func hasReportSuffix(name string) bool {
	name = strings.ToLower(name)
	for _, s := range []string{".json", ".json.gz", ".gz", ".zip"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// isUnterminated reports whether err is the end of input where a multipart
// boundary was expected. go-message formats that error with %v, so its text
// is all there is to match; the Mail.ru corpus test pins it.
func isUnterminated(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "multipart: NextPart: ") && strings.HasSuffix(msg, "EOF")
}
