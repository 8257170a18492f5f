package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// keyCache looks up DKIM key records (TXT at selector._domainkey.domain) and
// keeps each answer for its TTL (at most a day); a name that does not
// exist, or has no TXT record, is kept for five minutes. Failures to get an
// answer (timeouts, SERVFAIL) are not kept: they are temporary.
type keyCache struct {
	servers []string
	client  *dns.Client
	timeout time.Duration
	now     func() time.Time
	lookups atomic.Int64

	mu      sync.Mutex
	entries map[string]keyEntry
}

type keyEntry struct {
	txts    []string
	err     error
	expires time.Time
}

const (
	maxKeyTTL      = 24 * time.Hour
	negativeKeyTTL = 5 * time.Minute
	maxKeyEntries  = 10000
)

func newKeyCache(server string, timeout time.Duration) (*keyCache, error) {
	c := &keyCache{client: &dns.Client{Timeout: timeout}, timeout: timeout, now: time.Now, entries: map[string]keyEntry{}}
	if server != "" {
		if _, _, err := net.SplitHostPort(server); err != nil {
			return nil, fmt.Errorf("resolver %q: want host:port", server)
		}
		c.servers = []string{server}
		return c, nil
	}
	// A machine without a resolver can still import report files: the
	// lack is a temporary error of the look-ups that need one (query).
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return c, nil
	}
	for _, s := range conf.Servers {
		c.servers = append(c.servers, net.JoinHostPort(s, conf.Port))
	}
	return c, nil
}

// tempError is a lookup that got no answer for now; go-msgauth takes a
// net.Error that is Temporary for a temperror.
type tempError struct{ msg string }

func (e tempError) Error() string   { return e.msg }
func (e tempError) Timeout() bool   { return false }
func (e tempError) Temporary() bool { return true }

var _ net.Error = tempError{}

// lookupTXT is go-msgauth's LookupTXT: the records at name, each record's
// strings joined, with their s= tags read for TLS reports (tlsrpt).
func (c *keyCache) lookupTXT(name string) ([]string, error) {
	key := strings.ToLower(strings.TrimSuffix(name, "."))
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.txts, e.err
	}
	txts, ttl, err := c.query(key)
	if _, temporary := err.(tempError); temporary {
		return nil, err
	}
	for i, t := range txts {
		txts[i] = forTLSReports(t)
	}
	c.mu.Lock()
	if len(c.entries) >= maxKeyEntries {
		for k, e := range c.entries {
			if !now.Before(e.expires) || len(c.entries) >= maxKeyEntries {
				delete(c.entries, k)
			}
		}
	}
	c.entries[key] = keyEntry{txts: txts, err: err, expires: now.Add(ttl)}
	c.mu.Unlock()
	return txts, err
}

// query asks the servers in turn, over TCP when an answer is truncated.
func (c *keyCache) query(name string) ([]string, time.Duration, error) {
	c.lookups.Add(1)
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	m.SetEdns0(4096, false)
	if len(c.servers) == 0 {
		return nil, 0, tempError{"no DNS resolver to look up " + name + ": /etc/resolv.conf names none (give --resolver host:port)"}
	}
	var last error
	for _, server := range c.servers {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		resp, _, err := c.client.ExchangeContext(ctx, m, server)
		if err == nil && resp.Truncated {
			tcp := &dns.Client{Net: "tcp", Timeout: c.timeout}
			resp, _, err = tcp.ExchangeContext(ctx, m, server)
		}
		cancel()
		if err != nil {
			last = tempError{fmt.Sprintf("looking up %s at %s: %v", name, server, err)}
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			return nil, negativeKeyTTL, errors.New("no key record at " + name + " (NXDOMAIN)")
		default:
			last = tempError{fmt.Sprintf("looking up %s at %s: %s", name, server, dns.RcodeToString[resp.Rcode])}
			continue
		}
		var txts []string
		ttl := maxKeyTTL
		for _, rr := range resp.Answer {
			if t, ok := rr.(*dns.TXT); ok {
				txts = append(txts, strings.Join(t.Txt, ""))
				ttl = min(ttl, time.Duration(t.Hdr.Ttl)*time.Second)
			}
		}
		if len(txts) == 0 {
			return nil, negativeKeyTTL, errors.New("no key record at " + name)
		}
		return txts, ttl, nil
	}
	return nil, 0, last
}

// forTLSReports makes a key whose services (s=) name tlsrpt usable for
// verifying TLS reports. RFC 8460 section 5.3 asks reporters to publish
// s=tlsrpt; go-msgauth takes only keys whose services include email (or
// *), so such a key's s= is read as * here: it is only ever used to verify
// TLS reports. Keys for other services (s=x only) stay refused.
func forTLSReports(record string) string {
	tags := strings.Split(record, ";")
	for i, tag := range tags {
		name, value, ok := strings.Cut(tag, "=")
		if !ok || strings.TrimSpace(name) != "s" {
			continue
		}
		for s := range strings.SplitSeq(value, ":") {
			if strings.EqualFold(strings.TrimSpace(s), "tlsrpt") {
				tags[i] = " s=*"
				return strings.Join(tags, ";")
			}
		}
	}
	return record
}
