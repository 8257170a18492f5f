package web

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Auth says who may see the dashboard. The zero Auth lets anyone who
// reaches the listener in, which Listen allows on a loopback address only.
type Auth struct {
	// BasicFile is an htpasswd file of bcrypt hashes (htpasswd -B, or
	// tlsrpt web passwd): HTTP basic authentication.
	BasicFile string
	// TrustedHeader names the header in which a reverse proxy that
	// authenticates gives the user (X-Forwarded-User, say). It is believed
	// only from a TrustedProxies address.
	TrustedHeader  string
	TrustedProxies []netip.Prefix
}

// Configured reports whether the Auth lets only some people in.
func (a Auth) Configured() bool { return a.BasicFile != "" || a.TrustedHeader != "" }

// authenticator checks requests against an Auth.
type authenticator struct {
	Auth
	users map[string][]byte // user -> bcrypt hash
	// verified remembers the user and password pairs bcrypt accepted, by
	// their SHA-256, so that a page polling every few seconds does not cost
	// a bcrypt each time. Bounded: cleared when it grows past 1,024.
	mu       sync.Mutex
	verified map[[sha256.Size]byte]bool
	// bcrypts bounds the bcrypt comparisons run at once: guessing
	// passwords cannot take every CPU.
	bcrypts chan struct{}
}

func newAuthenticator(a Auth) (*authenticator, error) {
	if a.TrustedHeader != "" && len(a.TrustedProxies) == 0 {
		return nil, errors.New("a trusted authentication header needs the trusted proxies' addresses (--trusted-proxy)")
	}
	au := &authenticator{Auth: a, verified: map[[sha256.Size]byte]bool{}, bcrypts: make(chan struct{}, 2)}
	if a.BasicFile != "" {
		users, err := ReadPasswords(a.BasicFile)
		if err != nil {
			return nil, err
		}
		if len(users) == 0 {
			return nil, fmt.Errorf("%s: no user in it: add one with tlsrpt web passwd USER --basic-auth-file %s", a.BasicFile, a.BasicFile)
		}
		au.users = users
	}
	return au, nil
}

// user returns who made the request, "" with ok when no authentication is
// configured; ok is false when the request may not see the dashboard.
func (a *authenticator) user(r *http.Request) (string, bool) {
	if !a.Configured() {
		return "", true
	}
	if a.TrustedHeader != "" && a.fromProxy(r) {
		if u := r.Header.Get(a.TrustedHeader); u != "" {
			return u, true
		}
	}
	if a.users != nil {
		if u, p, ok := r.BasicAuth(); ok && a.checkPassword(u, p) {
			return u, true
		}
	}
	return "", false
}

func (a *authenticator) fromProxy(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range a.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (a *authenticator) checkPassword(user, password string) bool {
	hash, ok := a.users[user]
	if !ok {
		// Compare anyway: an unknown user takes as long as a wrong password.
		hash = unknownUserHash()
	}
	key := sha256.Sum256([]byte(user + "\x00" + password))
	a.mu.Lock()
	known := a.verified[key]
	a.mu.Unlock()
	if known && ok {
		return true
	}
	a.bcrypts <- struct{}{}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	<-a.bcrypts
	if err != nil || !ok {
		return false
	}
	a.mu.Lock()
	if len(a.verified) >= 1024 {
		clear(a.verified)
	}
	a.verified[key] = true
	a.mu.Unlock()
	return true
}

// unknownUserHash is a bcrypt hash no password matches in practice, made
// when first needed: a bcrypt costs 60 ms, which every command would pay
// at start-up as a package variable.
var unknownUserHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("no user has this password\x00"), bcrypt.DefaultCost)
	return h
})

// challenge answers a request that may not see the dashboard.
func (a *authenticator) challenge(w http.ResponseWriter) {
	if a.users != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="tlsrpt", charset="UTF-8"`)
	}
}

// ReadPasswords reads an htpasswd file of bcrypt hashes: "user:$2y$..."
// per line; blank lines and lines starting with # are skipped.
func ReadPasswords(path string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the password file: %w", err)
	}
	users := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: want USER:HASH", path, n)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: not a bcrypt hash (make one with tlsrpt web passwd, or htpasswd -B)", path, n, user)
		}
		users[user] = []byte(hash)
	}
	return users, sc.Err()
}

// SetPassword adds user to the htpasswd file at path with a bcrypt hash of
// password, or replaces the user's line; it creates the file (mode 0600)
// when missing and replaces it whole, so a reader never sees half of it.
// It reports whether the user was there before.
func SetPassword(path, user, password string) (replaced bool, err error) {
	if user == "" || strings.ContainsAny(user, ":\r\n") || strings.TrimSpace(user) != user {
		return false, fmt.Errorf("user name %q: it may not be empty, contain a colon or a line break, or start or end with a space", user)
	}
	if password == "" {
		return false, errors.New("the password is empty")
	}
	if len(password) > 72 {
		return false, errors.New("the password is longer than 72 bytes, which bcrypt cannot hash")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), 12)
	if err != nil {
		return false, err
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("reading the password file: %w", err)
	}
	var out bytes.Buffer
	for line := range strings.Lines(string(old)) {
		if u, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && u == user {
			if !replaced {
				fmt.Fprintf(&out, "%s:%s\n", user, hash)
			}
			replaced = true
			continue
		}
		out.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			out.WriteByte('\n')
		}
	}
	if !replaced {
		fmt.Fprintf(&out, "%s:%s\n", user, hash)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".passwd-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	return replaced, os.Rename(tmp.Name(), path)
}
