package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/tlsrpt/tlsrpt/parse"
	"github.com/tlsrpt/tlsrpt/store"
)

// TLS modes of FetchOptions.TLS.
const (
	TLSImplicit = "implicit" // TLS from the first byte (port 993)
	TLSStartTLS = "starttls" // STARTTLS on the plain port (143)
	TLSNone     = "none"     // no TLS: loopback only, unless Insecure
)

// FetchOptions say which mailbox to drain and what to do with each message.
type FetchOptions struct {
	Server   string // host:port
	User     string
	Password string
	TLS      string      // TLSImplicit (default), TLSStartTLS or TLSNone
	TLSConf  *tls.Config // certificates are verified; nil means system roots
	// Insecure allows TLSNone to a server that is not on a loopback address.
	Insecure bool

	Mailbox   string // default INBOX
	MoveTo    string // processed messages, default TLSRPT/Processed
	InvalidTo string // messages without a valid report, default TLSRPT/Invalid
	// Delete deletes processed messages instead of moving them; Keep leaves
	// them in place and remembers them (UIDVALIDITY and UID) in the store.
	Delete, Keep bool
	// DryRun lists what would be done and changes nothing.
	DryRun bool
	// DKIM verifies each message's signatures (--dkim): under require,
	// mail not authenticated goes to InvalidTo with its reports unstored,
	// and mail whose keys could not be looked up stays for the next run.
	DKIM DKIM

	// BatchBytes bounds the messages fetched, parsed and committed at once;
	// default 16 MiB. BatchMessages bounds their number; default 200.
	BatchBytes    int64
	BatchMessages int

	Logger *slog.Logger
	Now    func() time.Time
	// Dialer connects; nil means a net.Dialer with a 30 s timeout.
	Dialer *net.Dialer
}

// SeenStore is a store that also keeps which messages of a mailbox fetch
// --keep has processed and left in place.
type SeenStore interface {
	store.Store
	// SeenUIDs returns the UIDs MarkSeen recorded for a mailbox at a
	// UIDVALIDITY (RFC 3501 section 2.3.1.1); MarkSeen records more.
	SeenUIDs(ctx context.Context, mailbox string, uidValidity uint32) (map[uint32]bool, error)
	MarkSeen(ctx context.Context, mailbox string, uidValidity uint32, uids []uint32) error
}

// FetchStats count what a pass did.
type FetchStats struct {
	Messages   int // messages looked at
	Stored     int // new reports
	Duplicates int // reports stored before
	// Reused counts the new reports stored under a report-id stored
	// before with other figures.
	Reused   int
	Invalid  int // messages with a refused report
	NoReport int // messages without a report
	Skipped  int // messages --keep had already processed
	// Unauthenticated counts messages whose reports were refused for want
	// of a DKIM signature of the reporter (--dkim require).
	Unauthenticated int
	// Deferred counts messages left in the mailbox because their DKIM keys
	// could not be looked up (--dkim require): the next run tries again.
	Deferred int
	// Plan lists, with DryRun, what would be done: one line per message.
	Plan []string
	// DryRun says the pass changed nothing: the counts are what it saw.
	DryRun bool
	// Busy says another fetch (another machine's, on the same database)
	// was draining the mailbox: this pass left it to that one.
	Busy bool
}

// Locker is a store whose database holds locks every process on it
// shares (PostgreSQL's advisory locks): fetches on several machines take
// turns on a mailbox.
type Locker interface {
	// TryLock takes the lock named key if it is free.
	TryLock(ctx context.Context, key string) (unlock func(), ok bool, err error)
}

func (s FetchStats) String() string {
	if s.Busy {
		return "another fetch on this database is draining the mailbox: left to it"
	}
	if s.DryRun {
		return fmt.Sprintf("dry run: %s looked at, nothing stored, moved or marked (the lines above say what would be done)",
			plural(s.Messages, "message", "messages"))
	}
	line := fmt.Sprintf("fetched %s: %s stored, %s, %d invalid, %d without a report",
		plural(s.Messages, "message", "messages"), plural(s.Stored, "report", "reports"),
		plural(s.Duplicates, "duplicate", "duplicates"), s.Invalid, s.NoReport)
	if s.Unauthenticated > 0 {
		line += fmt.Sprintf(", %d not authenticated (reports not stored)", s.Unauthenticated)
	}
	if s.Deferred > 0 {
		line += fmt.Sprintf(", %s left for the next run (DKIM keys not found for now)", plural(s.Deferred, "message", "messages"))
	}
	if s.Reused > 0 {
		line += fmt.Sprintf(" (%s stored under a report-id used before with other figures: see their warnings)",
			plural(s.Reused, "report", "reports"))
	}
	return line
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// ErrLogin means the server refused the credentials; retrying will not help.
var ErrLogin = errors.New("ingest: IMAP login refused")

// loginError names the server and user, and is ErrLogin.
type loginError struct {
	server, user string
	err          error
}

func (e *loginError) Error() string {
	return fmt.Sprintf("logging in to %s as %s: %v", e.server, e.user, e.err)
}

func (e *loginError) Is(target error) bool { return target == ErrLogin }

// ErrInsecure refuses plain IMAP to a server that is not on loopback.
var ErrInsecure = errors.New("ingest: refusing IMAP without TLS to a server that is not on a loopback address (use --tls implicit or starttls, or --insecure)")

func (o *FetchOptions) defaults() {
	if o.TLS == "" {
		o.TLS = TLSImplicit
	}
	if o.Mailbox == "" {
		o.Mailbox = "INBOX"
	}
	if o.MoveTo == "" {
		o.MoveTo = "TLSRPT/Processed"
	}
	if o.InvalidTo == "" {
		o.InvalidTo = "TLSRPT/Invalid"
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 16 << 20
	}
	if o.BatchMessages <= 0 {
		o.BatchMessages = 200
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// isLoopback reports whether host:port names a loopback address.
func isLoopback(server string) bool {
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		host = server
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// connect dials, authenticates (AUTHENTICATE PLAIN where offered, LOGIN
// otherwise) and returns the client.
func connect(ctx context.Context, o *FetchOptions, handler *imapclient.UnilateralDataHandler) (*imapclient.Client, error) {
	if o.TLS == TLSNone && !o.Insecure && !isLoopback(o.Server) {
		return nil, ErrInsecure
	}
	dialer := o.Dialer
	if dialer == nil {
		dialer = &net.Dialer{Timeout: 30 * time.Second}
	}
	copts := &imapclient.Options{TLSConfig: o.TLSConf, Dialer: dialer, UnilateralDataHandler: handler}
	var c *imapclient.Client
	var err error
	switch o.TLS {
	case TLSImplicit:
		c, err = imapclient.DialTLS(o.Server, copts)
	case TLSStartTLS:
		c, err = imapclient.DialStartTLS(o.Server, copts)
	case TLSNone:
		c, err = imapclient.DialInsecure(o.Server, copts)
	default:
		return nil, fmt.Errorf("ingest: --tls %q: want implicit, starttls or none", o.TLS)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to %s (%s): %w", o.Server, o.TLS, err)
	}
	// Closing the connection is how a cancelled context stops a command.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	go func() { <-c.Closed(); stop() }()
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("connecting to %s: %w", o.Server, err)
	}
	if c.Caps().Has(imap.AuthCap(sasl.Plain)) {
		err = c.Authenticate(sasl.NewPlainClient("", o.User, o.Password))
	} else {
		err = c.Login(o.User, o.Password).Wait()
	}
	if err != nil {
		c.Close()
		var refused *imap.Error
		if errors.As(err, &refused) {
			return nil, &loginError{o.Server, o.User, err}
		}
		return nil, fmt.Errorf("logging in to %s as %s: %w", o.Server, o.User, err)
	}
	return c, nil
}

// Fetch drains the mailbox once: every message is fetched without being
// marked seen, parsed, stored, and only once the store has committed moved
// (or deleted, or remembered). A run stopped at any point and run again
// stores nothing twice and loses nothing.
func Fetch(ctx context.Context, st SeenStore, p *parse.Parser, o FetchOptions) (FetchStats, error) {
	o.defaults()
	c, err := connect(ctx, &o, nil)
	if err != nil {
		return FetchStats{}, err
	}
	defer c.Logout()
	return drain(ctx, c, st, p, &o)
}

// drain processes every message of the selected mailbox on c.
func drain(ctx context.Context, c *imapclient.Client, st SeenStore, p *parse.Parser, o *FetchOptions) (FetchStats, error) {
	var stats FetchStats
	if l, ok := st.(Locker); ok && !o.DryRun {
		// Fetches on several machines share the database: one drains the
		// mailbox at a time, so that no message is moved twice.
		unlock, got, err := l.TryLock(ctx, "fetch "+o.Server+" "+o.User+" "+o.Mailbox)
		if err != nil {
			return stats, err
		}
		if !got {
			stats.Busy = true
			return stats, nil
		}
		defer unlock()
	}
	if !o.DryRun && !o.Keep {
		folders := []string{o.InvalidTo}
		if !o.Delete {
			folders = append(folders, o.MoveTo)
		}
		if err := ensureMailboxes(c, folders); err != nil {
			return stats, err
		}
	}
	canMove := c.Caps().Has(imap.CapMove)
	if !canMove && !c.Caps().Has(imap.CapUIDPlus) && !o.Keep && !o.DryRun {
		return stats, fmt.Errorf("%s offers neither MOVE nor UIDPLUS: moving would expunge other deleted messages too; use --keep", o.Server)
	}
	sel, err := c.Select(o.Mailbox, nil).Wait()
	if err != nil {
		return stats, fmt.Errorf("selecting %s: %w", o.Mailbox, err)
	}
	search, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return stats, fmt.Errorf("searching %s: %w", o.Mailbox, err)
	}
	uids := search.AllUIDs()
	seenKey := o.User + "@" + o.Server + "/" + o.Mailbox
	if o.Keep {
		seen, err := st.SeenUIDs(ctx, seenKey, sel.UIDValidity)
		if err != nil {
			return stats, err
		}
		uids = slices.DeleteFunc(uids, func(u imap.UID) bool {
			if seen[uint32(u)] {
				stats.Skipped++
				return true
			}
			return false
		})
	}
	sizes, err := messageSizes(c, uids, o.BatchMessages)
	if err != nil {
		return stats, err
	}
	limit := p.Limits().MaxInput
	for len(uids) > 0 {
		// A batch: at most BatchMessages messages and BatchBytes bytes
		// (but always at least one message).
		n, bytes := 0, int64(0)
		for n < len(uids) && n < o.BatchMessages {
			sz := min(sizes[uids[n]], limit)
			if n > 0 && bytes+sz > o.BatchBytes {
				break
			}
			bytes += sz
			n++
		}
		if err := processBatch(ctx, c, st, p, o, sel.UIDValidity, seenKey, uids[:n], sizes, &stats); err != nil {
			return stats, err
		}
		uids = uids[n:]
	}
	return stats, nil
}

// messageSizes fetches RFC822.SIZE for the UIDs, so batches can be bounded
// in bytes before any body is fetched.
func messageSizes(c *imapclient.Client, uids []imap.UID, per int) (map[imap.UID]int64, error) {
	sizes := make(map[imap.UID]int64, len(uids))
	for i := 0; i < len(uids); i += per * 10 {
		set := imap.UIDSetNum(uids[i:min(i+per*10, len(uids))]...)
		msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
		if err != nil {
			return nil, fmt.Errorf("fetching message sizes: %w", err)
		}
		for _, m := range msgs {
			sizes[m.UID] = m.RFC822Size
		}
	}
	return sizes, nil
}

func processBatch(ctx context.Context, c *imapclient.Client, st SeenStore, p *parse.Parser, o *FetchOptions,
	uidValidity uint32, seenKey string, uids []imap.UID, sizes map[imap.UID]int64, stats *FetchStats) error {
	limit := p.Limits().MaxInput
	var small, large []imap.UID
	for _, u := range uids {
		if sizes[u] > limit {
			large = append(large, u)
		} else {
			small = append(small, u)
		}
	}
	var bodies map[imap.UID][]byte
	var oversize map[imap.UID]int64
	if len(small) > 0 {
		var err error
		if bodies, oversize, err = fetchBodies(c, small, limit); err != nil {
			return fmt.Errorf("fetching %d messages: %w", len(small), err)
		}
	}
	inputs := make([]store.Input, 0, len(uids))
	order := make([]imap.UID, 0, len(uids))
	for _, u := range uids {
		origin := fmt.Sprintf("%s;UIDVALIDITY=%d;UID=%d", seenKey, uidValidity, u)
		body, ok := bodies[u]
		switch {
		case slices.Contains(large, u) || oversize[u] > 0:
			size := max(sizes[u], oversize[u])
			inputs = append(inputs, store.Input{Source: "imap", Origin: origin, ReceivedAt: o.Now(),
				Errors: []string{fmt.Sprintf("message of %d bytes exceeds the limit of %d", size, limit)}})
		case !ok:
			continue // expunged by someone else since the search
		default:
			in := Prepare(p, body, "imap", origin, o.Now())
			if !o.DKIM.authenticate(&in) {
				stats.Messages++
				stats.Deferred++
				o.Logger.Warn("message left for the next run", "origin", origin, "dkim", in.Auth.Reason)
				continue
			}
			inputs = append(inputs, in)
		}
		order = append(order, u)
	}
	stats.Messages += len(inputs)
	if o.DryRun {
		stats.DryRun = true
		for i, in := range inputs {
			stats.Plan = append(stats.Plan, planLine(order[i], in, o))
		}
		return nil
	}
	results, err := st.Ingest(ctx, inputs)
	if err != nil {
		return err
	}
	// Committed: only now may the messages leave the mailbox.
	var processed, invalid []imap.UID
	for i, r := range results {
		stats.Stored += r.Stored
		stats.Duplicates += r.Duplicates
		stats.Reused += r.Reused
		switch r.Outcome {
		case store.OutcomeStored, store.OutcomeDuplicate:
			processed = append(processed, order[i])
		case store.OutcomeNoReport:
			stats.NoReport++
			invalid = append(invalid, order[i])
		case store.OutcomeUnauthenticated:
			stats.Unauthenticated++
			invalid = append(invalid, order[i])
			o.Logger.Warn("reports not stored: not authenticated", "origin", inputs[i].Origin, "dkim", inputs[i].Auth.Reason)
		default:
			stats.Invalid++
			invalid = append(invalid, order[i])
			if r.Stored > 0 || r.Duplicates > 0 {
				processed = append(processed, order[i])
			}
		}
		if r.Invalid > 0 {
			o.Logger.Warn("invalid report", "origin", inputs[i].Origin, "error", strings.Join(inputs[i].Errors, "; "))
		}
	}
	if o.Keep {
		all := make([]uint32, len(order))
		for i, u := range order {
			all[i] = uint32(u)
		}
		return st.MarkSeen(ctx, seenKey, uidValidity, all)
	}
	// A message with both stored and refused reports goes to the invalid
	// folder, where a person will look.
	processed = slices.DeleteFunc(processed, func(u imap.UID) bool { return slices.Contains(invalid, u) })
	if err := moveOut(c, invalid, o.InvalidTo, false); err != nil {
		return err
	}
	return moveOut(c, processed, o.MoveTo, o.Delete)
}

// fetchBodies fetches the whole messages uids with BODY.PEEK[], so that
// they stay unseen, each read up to limit bytes: a message the server sends
// larger than that (whatever size it announced) is returned in oversize
// with its size instead.
//
// It reads the FETCH responses itself rather than with go-imap's Collect:
// when the connection breaks inside a message (a cut, or a cancelled
// context closing it), Collect goes on reading that message to discard it
// while the client's reader goroutine, released by the error, reads the
// connection too, a data race in go-imap v2.0.0-beta.8 that -race reports
// in TestFetchConnectionCutThenRerun. Here a failed read closes the client
// and nothing touches the command again.
func fetchBodies(c *imapclient.Client, uids []imap.UID, limit int64) (bodies map[imap.UID][]byte, oversize map[imap.UID]int64, err error) {
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	bodies, oversize = make(map[imap.UID][]byte, len(uids)), map[imap.UID]int64{}
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var uid imap.UID
		var body []byte
		var size int64
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = item.UID
			case imapclient.FetchItemDataBodySection:
				if item.Literal == nil || !item.MatchCommand(section) {
					continue
				}
				if size = item.Literal.Size(); size > limit {
					continue // go-imap reads past it on the next item
				}
				// A connection that ends inside the message ends its
				// reader as if the message were whole: the length tells.
				body, err = io.ReadAll(item.Literal)
				if err == nil && int64(len(body)) != size {
					err = fmt.Errorf("the connection ended after %d of its %d bytes", len(body), size)
				}
				if err != nil {
					c.Close()
					return nil, nil, fmt.Errorf("reading a message: %w", err)
				}
			}
		}
		switch {
		case uid == 0:
		case size > limit:
			oversize[uid] = size
		case body != nil:
			bodies[uid] = body
		}
	}
	return bodies, oversize, cmd.Close()
}

func planLine(uid imap.UID, in store.Input, o *FetchOptions) string {
	switch {
	case in.NoReport:
		return fmt.Sprintf("UID %d: no report; would move to %s", uid, o.InvalidTo)
	case len(in.Errors) > 0:
		return fmt.Sprintf("UID %d: invalid (%s); would move to %s", uid, in.Errors[0], o.InvalidTo)
	}
	action := "move to " + o.MoveTo
	if o.Delete {
		action = "delete"
	} else if o.Keep {
		action = "keep"
	}
	var ids []string
	for _, r := range in.Reports {
		ids = append(ids, fmt.Sprintf("%s %q", r.OrganizationName, r.ReportID))
	}
	return fmt.Sprintf("UID %d: %d report(s) (%s); would store, then %s", uid, len(in.Reports), strings.Join(ids, ", "), action)
}

// moveOut moves messages to a mailbox, or deletes them: UID MOVE where the
// server has MOVE (RFC 6851), else UID COPY, STORE \Deleted and UID EXPUNGE
// (RFC 4315), which expunges these messages and no other.
func moveOut(c *imapclient.Client, uids []imap.UID, to string, del bool) error {
	if len(uids) == 0 {
		return nil
	}
	set := imap.UIDSetNum(uids...)
	if !del && c.Caps().Has(imap.CapMove) {
		// Another fetch on the mailbox (a second machine's watcher) may
		// have moved some of them first, after storing them too: those
		// are done; the rest are moved again.
		for attempt := 0; ; attempt++ {
			_, err := c.Move(set, to).Wait()
			if err == nil {
				return nil
			}
			if imapCode(err) != "EXPUNGEISSUED" || attempt == 3 {
				return fmt.Errorf("moving %d messages to %s: %w", len(uids), to, err)
			}
			left, serr := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
			if serr != nil {
				return fmt.Errorf("moving %d messages to %s: %w (and looking for those left: %v)", len(uids), to, err, serr)
			}
			rest := left.AllUIDs()
			if len(rest) == 0 {
				return nil
			}
			set = imap.UIDSetNum(rest...)
		}
	}
	if !del {
		if _, err := c.Copy(set, to).Wait(); err != nil {
			return fmt.Errorf("copying %d messages to %s: %w", len(uids), to, err)
		}
	}
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := c.Store(set, store, nil).Close(); err != nil {
		return fmt.Errorf("flagging %d messages deleted: %w", len(uids), err)
	}
	if err := c.UIDExpunge(set).Close(); err != nil {
		return fmt.Errorf("expunging %d messages: %w", len(uids), err)
	}
	return nil
}

// imapCode is the response code of an IMAP error, "" for other errors.
func imapCode(err error) imap.ResponseCode {
	var e *imap.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ensureMailboxes creates the folders that do not exist yet.
func ensureMailboxes(c *imapclient.Client, names []string) error {
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return fmt.Errorf("listing mailboxes: %w", err)
	}
	for _, name := range names {
		if slices.ContainsFunc(list, func(l *imap.ListData) bool { return l.Mailbox == name }) {
			continue
		}
		// Another fetch may create it at the same time.
		if err := c.Create(name, nil).Wait(); err != nil && imapCode(err) != imap.ResponseCodeAlreadyExists {
			return fmt.Errorf("creating mailbox %s: %w", name, err)
		}
	}
	return nil
}

// Watch drains the mailbox, then waits for new mail (IDLE, RFC 2177, or a
// poll every interval where the server lacks it) and drains again, until ctx
// ends. A dropped connection is reopened with backoff, from 1 s to 5 min.
// report is called after each pass.
func Watch(ctx context.Context, st SeenStore, p *parse.Parser, o FetchOptions, interval time.Duration, report func(FetchStats)) error {
	o.defaults()
	if interval <= 0 {
		interval = time.Minute
	}
	backoff := time.Second
	for {
		err := watchOnce(ctx, st, p, &o, interval, report)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrLogin) || errors.Is(err, ErrInsecure) {
			return err // these do not heal with retries
		}
		o.Logger.Warn("IMAP connection lost, reconnecting", "server", o.Server, "error", err, "in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(backoff*2, 5*time.Minute)
	}
}

func watchOnce(ctx context.Context, st SeenStore, p *parse.Parser, o *FetchOptions, interval time.Duration, report func(FetchStats)) error {
	newMail := make(chan struct{}, 1)
	handler := &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
		if d.NumMessages != nil {
			select {
			case newMail <- struct{}{}:
			default:
			}
		}
	}}
	c, err := connect(ctx, o, handler)
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		stats, err := drain(ctx, c, st, p, o)
		if err != nil {
			return err
		}
		if report != nil {
			report(stats)
		}
		if err := wait(ctx, c, newMail, interval); err != nil {
			return err
		}
	}
}

// wait returns when new mail may have arrived: an EXISTS during IDLE, or
// the poll interval, which also bounds an IDLE (RFC 2177 section 3 asks to
// renew it within 29 minutes) so a missed notification costs one interval.
func wait(ctx context.Context, c *imapclient.Client, newMail chan struct{}, interval time.Duration) error {
	// Mail that arrived during the pass is reported by a NOOP; a server may
	// not repeat it when IDLE starts.
	select {
	case <-newMail:
	default:
	}
	if err := c.Noop().Wait(); err != nil {
		return err
	}
	select {
	case <-newMail:
		return nil
	default:
	}
	if !c.Caps().Has(imap.CapIdle) {
		select {
		case <-time.After(interval):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	idle, err := c.Idle()
	if err != nil {
		return err
	}
	select {
	case <-newMail:
	case <-time.After(min(interval, 29*time.Minute)):
	case <-ctx.Done():
	case <-c.Closed():
	}
	if err := idle.Close(); err != nil {
		return err
	}
	if err := idle.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
