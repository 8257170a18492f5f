package mtasts

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseAndValidate(t *testing.T) {
	tests := []struct {
		name, text, err string
	}{
		{"good", "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: *.mx.example.com\r\nmax_age: 86400\r\n", ""},
		{"LF and unknown key", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 604800\nextension: yes\n", ""},
		{"mode none without mx", "version: STSv1\nmode: none\nmax_age: 86400\n", ""},
		{"version", "version: STSv2\nmode: testing\nmx: mx.example.com\nmax_age: 1\n", `version "STSv2": must be exactly STSv1`},
		{"version case", "version: stsv1\nmode: testing\nmx: mx.example.com\nmax_age: 1\n", "must be exactly STSv1"},
		{"mode", "version: STSv1\nmode: on\nmx: mx.example.com\nmax_age: 1\n", `mode "on": want enforce, testing or none`},
		{"no mx", "version: STSv1\nmode: enforce\nmax_age: 86400\n", "no mx"},
		{"wildcard inside", "version: STSv1\nmode: testing\nmx: mx*.example.com\nmax_age: 1\n", "wildcard may only be the whole leftmost label"},
		{"wildcard deeper", "version: STSv1\nmode: testing\nmx: a.*.example.com\nmax_age: 1\n", "wildcard may only be the whole leftmost label"},
		{"max_age too large", "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 31557601\n", "max_age 31557601: must be 0 to 31557600"},
		{"max_age at limit", "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 31557600\n", ""},
		{"max_age missing", "version: STSv1\nmode: testing\nmx: mx.example.com\n", "max_age missing"},
		{"max_age not a number", "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 1d\n", `max_age "1d"`},
		{"mode twice", "version: STSv1\nmode: testing\nmode: enforce\nmx: mx.example.com\nmax_age: 1\n", "mode given twice"},
		{"not key value", "version: STSv1\nhello\n", "is not \"key: value\""},
		{"bad host", "version: STSv1\nmode: testing\nmx: mx_1.example.com\nmax_age: 1\n", "not allowed in a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.text))
			if tt.err == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				again, err := Parse([]byte(p.String()))
				if err != nil || again.String() != p.String() {
					t.Errorf("round trip: %v %q", err, again)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestMatchMX(t *testing.T) {
	for _, tt := range []struct {
		pattern, host string
		want          bool
	}{
		{"mx.example.com", "MX.Example.com.", true},
		{"*.example.com", "mx.example.com", true},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "example.com", false},
		{"mx.example.com", "mx2.example.com", false},
	} {
		if got := MatchMX(tt.pattern, tt.host); got != tt.want {
			t.Errorf("MatchMX(%q, %q) = %v", tt.pattern, tt.host, got)
		}
	}
}

func TestRecords(t *testing.T) {
	if got := NewID(time.Date(2026, 11, 22, 16, 47, 5, 123456789, time.UTC)); got != "20261122164705123456" {
		t.Errorf("id = %s", got)
	}
	if got := STSRecord("example.com", "20261122164705"); got != `_mta-sts.example.com. 3600 IN TXT "v=STSv1; id=20261122164705"` {
		t.Errorf("sts record = %s", got)
	}
	got, err := TLSRPTRecord("example.com", []string{"mailto:tlsrpt@example.com", "https://reports.example.com/tlsrpt"})
	if err != nil || got != `_smtp._tls.example.com. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/tlsrpt"` {
		t.Errorf("tlsrpt record = %s, %v", got, err)
	}
	for _, bad := range []string{"tlsrpt@example.com", "http://reports.example.com/", "mailto:nobody", "https://"} {
		if _, err := TLSRPTRecord("example.com", []string{bad}); err == nil {
			t.Errorf("rua %q accepted", bad)
		}
	}
}
