package imaptest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/tlsrpt/tlsrpt/internal/testkit"
)

// Dovecot is Debian's Dovecot, run by the test from a throwaway config:
// IMAP on a free loopback port, passwd-file users, a maildir owned by an
// unprivileged uid (Dovecot will not run mail processes as root).
type Dovecot struct {
	Addr    string
	maildir string // the user's maildir root
	n       int
}

// The Dovecot user.
const (
	DovecotUser     = "reports"
	DovecotPassword = "s3cret"
)

const mailUID = 65534 // nobody

// StartDovecot starts Dovecot for the test, or skips it.
func StartDovecot(t testing.TB) *Dovecot {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("dovecot is not installed (apt-get install dovecot-imapd; .ci/run does)")
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("the Dovecot tests run as root, to give the mail store to an unprivileged uid")
	}
	// Not t.TempDir: the mail processes run as nobody and must reach it.
	dir, err := os.MkdirTemp("", "tlsrpt-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	_, port, _ := net.SplitHostPort(testkit.FreeAddr(t))

	home := filepath.Join(dir, "home")
	maildir := filepath.Join(home, "Maildir")
	for _, d := range []string{"run", "state"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(maildir, d), 0o755)
	}
	filepath.Walk(home, func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, mailUID, mailUID) })
	passwd := fmt.Sprintf("reports:{PLAIN}s3cret:%d:%d::%s::\n", mailUID, mailUID, home)
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`protocols = imap
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]s
  }
  inet_listener imaps {
    port = 0
  }
}
`, dir, port)
	confPath := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-F", "-c", confPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", port)
	for deadline := time.Now().Add(15 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Fatalf("dovecot did not listen on %s: %s %s", addr, out.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Dovecot{Addr: addr, maildir: maildir}
}

// Deliver drops a message into the maildir's new/, as an MDA would.
func (d *Dovecot) Deliver(t testing.TB, msg []byte) {
	t.Helper()
	d.n++
	msg = bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
	name := fmt.Sprintf("%d.M%dP1.tlsrpt-test", time.Now().Unix(), d.n)
	tmp, dst := filepath.Join(d.maildir, "tmp", name), filepath.Join(d.maildir, "new", name)
	if err := os.WriteFile(tmp, msg, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(tmp, mailUID, mailUID)
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// Count asks Dovecot how many messages a mailbox holds (-1: no mailbox).
func (d *Dovecot) Count(t testing.TB, mailbox string) int {
	t.Helper()
	c, err := imapclient.DialInsecure(d.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("reports", "s3cret").Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return -1
	}
	return int(*st.NumMessages)
}
