// Package mtasts reads, validates and writes MTA-STS policies (RFC 8461
// section 3.2) and the DNS records that announce them.
package mtasts

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Modes (RFC 8461 section 5).
const (
	ModeEnforce = "enforce"
	ModeTesting = "testing"
	ModeNone    = "none"
)

// MaxMaxAge is the largest max_age allowed: 31557600 seconds, a year
// (RFC 8461 section 3.2).
const MaxMaxAge = 31557600

// Policy is an MTA-STS policy.
type Policy struct {
	Version string
	Mode    string
	MX      []string
	MaxAge  int64
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("mtasts: invalid policy")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// problems gathers what is wrong with a policy, to say it all at once.
type problems []string

func (ps *problems) add(format string, args ...any) { *ps = append(*ps, fmt.Sprintf(format, args...)) }

// err is nil without problems, else one error wrapping ErrInvalid that
// names every problem, on one line.
func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(ps, "; "))
}

// Parse reads a policy: "key: value" lines ended by CRLF or LF. Unknown
// keys are ignored, as RFC 8461 section 3.2 asks; the result is validated.
// The error names every problem found, not only the first. A field other
// than mx given twice is refused: tlsrpt does not publish a policy senders
// may read two ways.
func Parse(text []byte) (*Policy, error) {
	p, _, err := parse(text, false)
	return p, err
}

// ParseAsSender reads a policy as a conforming sender does (RFC 8461
// section 3.2): a field other than mx given twice keeps its first value.
// Each such field is named in the notes, with what a sender reading the
// last value would apply instead: senders do not all agree.
func ParseAsSender(text []byte) (*Policy, []string, error) { return parse(text, true) }

func parse(text []byte, firstWins bool) (*Policy, []string, error) {
	p := &Policy{MaxAge: -1}
	var ps problems
	var notes []string
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.ReplaceAll(string(text), "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			ps.add("line %d %q is not \"key: value\"", i+1, line)
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k != "mx" && seen[k] {
			if firstWins {
				notes = append(notes, fmt.Sprintf("%s given twice (line %d: %q): RFC 8461 section 3.2 applies the first; some senders apply the last", k, i+1, v))
			} else {
				ps.add("line %d: %s given twice", i+1, k)
			}
			continue
		}
		seen[k] = true
		switch k {
		case "version":
			p.Version = v
		case "mode":
			p.Mode = v
		case "mx":
			p.MX = append(p.MX, v)
		case "max_age":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				ps.add("max_age %q is not a whole number of seconds", v)
				continue
			}
			p.MaxAge = n
		}
	}
	if !seen["max_age"] {
		ps.add("max_age missing")
	}
	p.check(&ps, !seen["max_age"] || p.MaxAge < 0)
	if err := ps.err(); err != nil {
		return nil, notes, err
	}
	return p, notes, nil
}

// Validate checks every field against RFC 8461 section 3.2; the error
// names every problem.
func (p *Policy) Validate() error {
	var ps problems
	p.check(&ps, false)
	return ps.err()
}

// check adds what is wrong with p's fields to ps; the max_age is left
// alone when Parse has said what is wrong with it.
func (p *Policy) check(ps *problems, maxAgeSaid bool) {
	if p.Version != "STSv1" {
		ps.add("version %q: must be exactly STSv1", p.Version)
	}
	switch p.Mode {
	case ModeEnforce, ModeTesting, ModeNone:
	default:
		ps.add("mode %q: want enforce, testing or none", p.Mode)
	}
	if len(p.MX) == 0 && p.Mode != ModeNone {
		ps.add("no mx: a policy in mode %s names at least one MX pattern", p.Mode)
	}
	for _, mx := range p.MX {
		if err := checkPattern(mx); err != nil {
			ps.add("%s", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
		}
	}
	if !maxAgeSaid && (p.MaxAge < 0 || p.MaxAge > MaxMaxAge) {
		ps.add("max_age %d: must be 0 to %d seconds", p.MaxAge, MaxMaxAge)
	}
}

// checkPattern accepts a host name, or "*." and a host name: the wildcard
// only as the whole leftmost label.
func checkPattern(mx string) error {
	name := strings.TrimPrefix(mx, "*.")
	if strings.Contains(name, "*") {
		return invalid("mx %q: a wildcard may only be the whole leftmost label, as in *.example.com", mx)
	}
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	if len(labels) < 2 {
		return invalid("mx %q: not a fully qualified host name", mx)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return invalid("mx %q: label %q is not a host name label", mx, l)
		}
		for _, c := range l {
			if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return invalid("mx %q: %q is not allowed in a host name", mx, c)
			}
		}
	}
	return nil
}

// String is the policy as served: CRLF-ended lines, version first.
func (p *Policy) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: %s\r\nmode: %s\r\n", p.Version, p.Mode)
	for _, mx := range p.MX {
		fmt.Fprintf(&b, "mx: %s\r\n", mx)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", p.MaxAge)
	return b.String()
}

// MatchMX reports whether host matches an mx pattern: exactly, or, for
// "*.example.com", with exactly one more label (RFC 8461 section 4.1).
func MatchMX(pattern, host string) bool {
	pattern, host = strings.ToLower(strings.TrimSuffix(pattern, ".")), strings.ToLower(strings.TrimSuffix(host, "."))
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		label, parent, ok := strings.Cut(host, ".")
		return ok && label != "" && parent == rest
	}
	return pattern == host
}

// NewID is a policy id for the _mta-sts record: the UTC time to the
// microsecond, 20 digits (RFC 8461 section 3.1 allows 1 to 32
// alphanumerics), so that two changes within a second get two ids.
func NewID(t time.Time) string {
	t = t.UTC()
	return t.Format("20060102150405") + fmt.Sprintf("%06d", t.Nanosecond()/1000)
}

// STSRecord is the TXT record at _mta-sts.<domain> (RFC 8461 section 3.1).
func STSRecord(domain, id string) string {
	return fmt.Sprintf("_mta-sts.%s. 3600 IN TXT \"v=STSv1; id=%s\"", domain, id)
}

// TLSRPTRecord is the TXT record at _smtp._tls.<domain> (RFC 8460 section
// 3); every rua must be a mailto: or https: URI.
func TLSRPTRecord(domain string, rua []string) (string, error) {
	if len(rua) == 0 {
		return "", errors.New("mtasts: at least one rua (mailto: or https: URI) is needed")
	}
	for _, r := range rua {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "mailto" && u.Scheme != "https") || (u.Scheme == "mailto" && !strings.Contains(u.Opaque, "@")) ||
			(u.Scheme == "https" && u.Host == "") {
			return "", fmt.Errorf("mtasts: rua %q: want mailto:address or https://host/path", r)
		}
	}
	return fmt.Sprintf("_smtp._tls.%s. 3600 IN TXT \"v=TLSRPTv1; rua=%s\"", domain, strings.Join(rua, ",")), nil
}

// WriteFile writes the policy to path atomically: a reader (tlsrpt serve
// re-reads the file when it changes) never sees half a policy.
func WriteFile(path string, p *Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(p.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadFile reads and validates a policy file.
func ReadFile(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > 64<<10 {
		return nil, invalid("%s is larger than 64 KiB", path)
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}
