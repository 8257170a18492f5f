package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Status is how a step of a check went, and the check's verdict: the
// worst of its steps.
type Status string

// Step statuses and verdicts.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// CheckOptions point the check at a domain's setup; zero values mean what a
// sender on the internet would use.
type CheckOptions struct {
	Resolver  string         // DNS server host:port; empty: the system's
	RootCAs   *x509.CertPool // nil: the system's
	HTTPSPort int            // default 443
	SMTPPort  int            // default 25
	Timeout   time.Duration  // per network step, default 10 s
	Now       func() time.Time
}

// Step is one thing a careful sender checks.
type Step struct {
	Name   string `json:"step"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
}

// CheckReport is the result of Check. Its JSON form is for scripts.
type CheckReport struct {
	Domain  string `json:"domain"`
	Verdict Status `json:"verdict"`
	Steps   []Step `json:"steps"`
}

func (r *CheckReport) add(name string, status Status, format string, args ...any) {
	r.Steps = append(r.Steps, Step{name, status, fmt.Sprintf(format, args...)})
	switch {
	case status == Fail:
		r.Verdict = Fail
	case status == Warn && r.Verdict == Pass:
		r.Verdict = Warn
	}
}

type checker struct {
	o        CheckOptions
	resolver *net.Resolver
	// silent is the error of a resolver that did not answer at all.
	silent error
}

// ErrResolver is Check's error when the resolver did not answer at all
// (a timeout, a refused or unreachable server): a failure of the check,
// not a verdict on the domain.
var ErrResolver = errors.New("mtasts: the resolver did not answer")

// unanswered reports whether a lookup's error says the resolver did not
// answer, rather than answering no or failing for the name (SERVFAIL).
// Go's resolver keeps only the text of a dial or read error.
func unanswered(err error) bool {
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) {
		return false
	}
	return dnsErr.IsTimeout || strings.Contains(dnsErr.Err, "connection refused") ||
		strings.Contains(dnsErr.Err, "network is unreachable") || strings.Contains(dnsErr.Err, "no route to host")
}

// Check does, step by step, what a sender does before delivering to domain
// under MTA-STS (RFC 8461) and what a reporter needs (RFC 8460). The error,
// ErrResolver, says the resolver did not answer: the report then holds
// the steps so far, and no verdict on the domain.
func Check(ctx context.Context, domain string, o CheckOptions) (*CheckReport, error) {
	if o.HTTPSPort == 0 {
		o.HTTPSPort = 443
	}
	if o.SMTPPort == 0 {
		o.SMTPPort = 25
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &checker{o: o, resolver: net.DefaultResolver}
	if o.Resolver != "" {
		c.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, o.Resolver)
		}}
	}
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	r := &CheckReport{Domain: domain, Verdict: Pass}

	mxs := c.mx(ctx, r, domain)
	if c.silent != nil {
		return r, fmt.Errorf("%w: %v", ErrResolver, c.silent)
	}
	c.stsRecord(ctx, r, domain)
	c.tlsrptRecord(ctx, r, domain)
	policy := c.fetchPolicy(ctx, r, domain)
	if policy != nil && len(mxs) > 0 {
		var unmatched []string
		for _, mx := range mxs {
			if !slices.ContainsFunc(policy.MX, func(p string) bool { return MatchMX(p, mx) }) {
				unmatched = append(unmatched, mx)
			}
		}
		if len(unmatched) > 0 {
			r.add("mx match", Fail, "%s not matched by the policy's mx patterns (%s): under enforce, senders refuse to deliver there",
				strings.Join(unmatched, ", "), strings.Join(policy.MX, ", "))
		} else {
			r.add("mx match", Pass, "every MX matches the policy's mx patterns (%s)", strings.Join(policy.MX, ", "))
		}
	}
	for _, mx := range mxs {
		c.smtp(ctx, r, mx)
	}
	return r, nil
}

func (c *checker) mx(ctx context.Context, r *CheckReport, domain string) []string {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	records, err := c.resolver.LookupMX(ctx, domain)
	err = c.named(err)
	if unanswered(err) {
		c.silent = err
		return nil
	}
	if err != nil || len(records) == 0 {
		r.add("mx records", Fail, "no MX records for %s: %v", domain, err)
		return nil
	}
	var hosts []string
	for _, m := range records {
		hosts = append(hosts, strings.TrimSuffix(strings.ToLower(m.Host), "."))
	}
	r.add("mx records", Pass, "%s", strings.Join(hosts, ", "))
	return hosts
}

func (c *checker) txt(ctx context.Context, name, prefix string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	txts, err := c.resolver.LookupTXT(ctx, name)
	err = c.named(err)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		err = nil
	}
	var out []string
	for _, t := range txts {
		if strings.HasPrefix(t, prefix) {
			out = append(out, t)
		}
	}
	return out, err
}

// named makes a lookup error name the server asked: Go's resolver names
// the system's even when dialling --resolver instead.
func (c *checker) named(err error) error {
	var dnsErr *net.DNSError
	if c.o.Resolver != "" && errors.As(err, &dnsErr) {
		dnsErr.Server = c.o.Resolver
	}
	return err
}

// fields reads "k=v; k=v" TXT records.
func fields(txt string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Split(txt, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(f), "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

func (c *checker) stsRecord(ctx context.Context, r *CheckReport, domain string) {
	name := "_mta-sts." + domain
	recs, err := c.txt(ctx, name, "v=STSv1")
	switch {
	case err != nil:
		r.add("_mta-sts record", Fail, "looking up %s: %v", name, err)
	case len(recs) == 0:
		r.add("_mta-sts record", Fail, "no v=STSv1 TXT record at %s: senders see no MTA-STS policy", name)
	case len(recs) > 1:
		r.add("_mta-sts record", Fail, "%d v=STSv1 TXT records at %s: RFC 8461 section 3.1 has senders treat that as no policy", len(recs), name)
	default:
		id := fields(recs[0])["id"]
		ok := len(id) >= 1 && len(id) <= 32
		for _, ch := range id {
			ok = ok && (ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z')
		}
		if !ok {
			r.add("_mta-sts record", Fail, "id %q at %s: want 1 to 32 letters and digits", id, name)
			return
		}
		r.add("_mta-sts record", Pass, "id=%s", id)
	}
}

func (c *checker) tlsrptRecord(ctx context.Context, r *CheckReport, domain string) {
	name := "_smtp._tls." + domain
	recs, err := c.txt(ctx, name, "v=TLSRPTv1")
	switch {
	case err != nil:
		r.add("_smtp._tls record", Fail, "looking up %s: %v", name, err)
	case len(recs) == 0:
		r.add("_smtp._tls record", Fail, "no v=TLSRPTv1 TXT record at %s: no sender will send you TLS reports", name)
	case len(recs) > 1:
		r.add("_smtp._tls record", Fail, "%d v=TLSRPTv1 TXT records at %s: senders may ignore them all", len(recs), name)
	default:
		rua := fields(recs[0])["rua"]
		if rua == "" {
			r.add("_smtp._tls record", Fail, "no rua= in %q", recs[0])
			return
		}
		for _, u := range strings.Split(rua, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil || !(pu.Scheme == "mailto" && strings.Contains(pu.Opaque, "@") || pu.Scheme == "https" && pu.Host != "") {
				r.add("_smtp._tls record", Fail, "rua %q is not a mailto: or https: URI", u)
				return
			}
		}
		r.add("_smtp._tls record", Pass, "rua=%s", rua)
	}
}

// dialer resolves names through the chosen resolver and dials port.
func (c *checker) dial(ctx context.Context, host string, port int) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	addrs, err := c.resolver.LookupHost(ctx, host)
	err = c.named(err)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	var last error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a, strconv.Itoa(port)))
		if err == nil {
			return conn, nil
		}
		last = err
	}
	return nil, last
}

// fetchPolicy fetches the policy as RFC 8461 section 3.3 requires: HTTPS to
// mta-sts.<domain> with a certificate valid for that name, status 200 only,
// no redirect followed, text/plain, a bounded size.
func (c *checker) fetchPolicy(ctx context.Context, r *CheckReport, domain string) *Policy {
	host := "mta-sts." + domain
	client := &http.Client{
		Timeout: c.o.Timeout,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: c.o.RootCAs, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return c.dial(ctx, host, c.o.HTTPSPort)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get("https://" + host + WellKnownPath)
	if err != nil {
		r.add("policy fetch", Fail, "https://%s%s: %v", host, WellKnownPath, err)
		return nil
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		r.add("policy fetch", Fail, "status %d redirecting to %s: senders must not follow redirects (RFC 8461 section 3.3)",
			resp.StatusCode, resp.Header.Get("Location"))
		return nil
	case resp.StatusCode != http.StatusOK:
		r.add("policy fetch", Fail, "status %d: only 200 serves a policy", resp.StatusCode)
		return nil
	}
	if ct := strings.TrimSpace(strings.Split(resp.Header.Get("Content-Type"), ";")[0]); !strings.EqualFold(ct, "text/plain") {
		r.add("policy fetch", Fail, "media type %q: the policy must be served as text/plain", ct)
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10+1))
	if err != nil {
		r.add("policy fetch", Fail, "reading the policy: %v", err)
		return nil
	}
	if len(body) > 64<<10 {
		r.add("policy fetch", Fail, "the policy is larger than 64 KiB")
		return nil
	}
	p, notes, err := ParseAsSender(body)
	if err != nil {
		r.add("policy fetch", Fail, "%v", err)
		return nil
	}
	tlsv := tls.VersionName(resp.TLS.Version)
	r.add("policy fetch", Pass, "mode %s, mx %s, max_age %d, over %s", p.Mode, strings.Join(p.MX, " "), p.MaxAge, tlsv)
	for _, n := range notes {
		r.add("policy fields", Warn, "%s", n)
	}
	if p.Mode != ModeEnforce {
		r.add("policy mode", Warn, "mode %s: senders deliver even when TLS fails (tlsrpt readiness says when to enforce)", p.Mode)
	}
	return p
}

// smtp checks an MX as a sending MTA under an enforced policy would.
func (c *checker) smtp(ctx context.Context, r *CheckReport, mx string) {
	name := "smtp " + mx
	conn, err := c.dial(ctx, mx, c.o.SMTPPort)
	if err != nil {
		r.add(name, Fail, "connecting to port %d: %v", c.o.SMTPPort, err)
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(c.o.Timeout))
	client, err := smtp.NewClient(conn, mx)
	if err != nil {
		r.add(name, Fail, "no SMTP banner: %v", err)
		return
	}
	defer client.Close()
	if err := client.Hello("tlsrpt-check.localhost"); err != nil {
		r.add(name, Fail, "EHLO refused: %v", err)
		return
	}
	if ok, _ := client.Extension("STARTTLS"); !ok {
		r.add(name, Fail, "STARTTLS not offered: under enforce, senders will not deliver here (starttls-not-supported)")
		return
	}
	if err := client.StartTLS(&tls.Config{ServerName: mx, RootCAs: c.o.RootCAs, MinVersion: tls.VersionTLS12}); err != nil {
		r.add(name, Fail, "TLS handshake: %v", err)
		return
	}
	state, _ := client.TLSConnectionState()
	leaf := state.PeerCertificates[0]
	days := int(leaf.NotAfter.Sub(c.o.Now()).Hours() / 24)
	status := Pass
	if days < 14 {
		status = Warn
	}
	r.add(name, status, "STARTTLS, %s, certificate valid for %s, expires in %d days", tls.VersionName(state.Version), mx, days)
	client.Quit()
}
