package provider

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// expectedHostKey is a parsed connection.hostKey: a public key, or only its SHA256 fingerprint.
type expectedHostKey struct {
	key         ssh.PublicKey // nil when only a fingerprint was given
	fingerprint string        // "SHA256:..."
}

// parseHostKey accepts the forms people copy from OpenSSH:
//   - an authorized_keys / .pub line: "ssh-ed25519 AAAA... [comment]"
//   - a known_hosts line: "host[,host] ssh-ed25519 AAAA..." (the host names are ignored)
//   - a fingerprint as ssh-keygen -l prints it: "SHA256:..." (optionally with the bits and type around it)
func parseHostKey(s string) (*expectedHostKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("is empty")
	}
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "SHA256:") {
			return &expectedHostKey{fingerprint: f}, nil
		}
	}
	if key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s)); err == nil {
		return &expectedHostKey{key: key, fingerprint: ssh.FingerprintSHA256(key)}, nil
	}
	if _, _, key, _, _, err := ssh.ParseKnownHosts([]byte(s)); err == nil {
		return &expectedHostKey{key: key, fingerprint: ssh.FingerprintSHA256(key)}, nil
	}
	return nil, errors.New(`is not a public key ("ssh-ed25519 AAAA..."), a known_hosts line or a "SHA256:..." fingerprint`)
}

// HostKeyMismatchError: the server presented another key than connection.hostKey. Never retried.
type HostKeyMismatchError struct {
	Address  string
	Expected string
	Actual   string
}

func (e *HostKeyMismatchError) Error() string {
	return fmt.Sprintf("host key verification failed for %s: the server presented %s, but connection.hostKey expects %s; "+
		"nothing was run. If the host was legitimately re-keyed, update hostKey", e.Address, e.Actual, e.Expected)
}

func describeKey(k ssh.PublicKey) string {
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}

func hostKeyCallback(c *Connection) (ssh.HostKeyCallback, []string) {
	if c.HostKey == "" {
		return ssh.InsecureIgnoreHostKey(), nil
	}
	want, err := parseHostKey(c.HostKey)
	if err != nil { // checked before; keep the callback strict anyway
		return func(string, net.Addr, ssh.PublicKey) error { return fmt.Errorf("connection.hostKey %w", err) }, nil
	}
	expected := want.fingerprint
	var algos []string
	if want.key != nil {
		expected = describeKey(want.key)
		algos = hostKeyAlgorithms(want.key.Type())
	}
	return func(_ string, _ net.Addr, got ssh.PublicKey) error {
		ok := false
		if want.key != nil {
			ok = subtle.ConstantTimeCompare(want.key.Marshal(), got.Marshal()) == 1
		} else {
			ok = ssh.FingerprintSHA256(got) == want.fingerprint
		}
		if ok {
			return nil
		}
		return &HostKeyMismatchError{Address: c.Address(), Expected: expected, Actual: describeKey(got)}
	}, algos
}

// hostKeyAlgorithms makes the server present the key of the expected type when it has several.
func hostKeyAlgorithms(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	default:
		return []string{keyType}
	}
}

// clientConfig builds the SSH client settings: private key first (with its passphrase), then the
// password (also for keyboard-interactive), then the agent.
func clientConfig(c *Connection) (*ssh.ClientConfig, func(), error) {
	cb, algos := hostKeyCallback(c)
	cfg := &ssh.ClientConfig{User: c.User, HostKeyCallback: cb, HostKeyAlgorithms: algos, Timeout: c.PerDialTimeout}
	cleanup := func() {}
	if c.PrivateKey != nil && *c.PrivateKey != "" {
		var signer ssh.Signer
		var err error
		if c.PrivateKeyPassword != nil && *c.PrivateKeyPassword != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*c.PrivateKey), []byte(*c.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*c.PrivateKey))
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				err = errors.New("the private key is encrypted: set connection.privateKeyPassword")
			}
		}
		if err != nil {
			return nil, cleanup, fmt.Errorf("connection.privateKey: %w", err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.Password != nil && *c.Password != "" {
		pw := *c.Password
		cfg.Auth = append(cfg.Auth, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	sock := ""
	if c.AgentSocketPath != nil {
		sock = *c.AgentSocketPath
	} else {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock != "" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			if c.AgentSocketPath != nil {
				return nil, cleanup, fmt.Errorf("connection.agentSocketPath: %w", err)
			}
			// A stale SSH_AUTH_SOCK in the environment is not the program's fault: go without the agent.
		} else {
			cleanup = func() { conn.Close() }
			cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
		}
	}
	return cfg, cleanup, nil
}

// Dialer connects to remote hosts, retrying failed dials.
type Dialer struct {
	// Pause returns how long to wait after the given number of failed dials (1, 2, ...).
	Pause func(failures int) time.Duration
	// Notify, when set, hears about each failed dial that will be retried.
	Notify func(msg string)
}

// DefaultPause waits 1s, 2s, 4s, ... between dials, at most 10s.
func DefaultPause(failures int) time.Duration {
	d := time.Second
	for i := 1; i < failures && d < 10*time.Second; i++ {
		d *= 2
	}
	if d > 10*time.Second {
		d = 10 * time.Second
	}
	return d
}

// Dial opens an SSH connection, through the proxy when one is set. A failed dial (refused, timed
// out, handshake or authentication failed) is retried after a pause until connection.dialErrorLimit
// failures have been seen (-1: no limit); a host key mismatch or a bad private key fails at once.
func (d Dialer) Dial(ctx context.Context, c *Connection) (*ssh.Client, error) {
	pause := d.Pause
	if pause == nil {
		pause = DefaultPause
	}
	failures := 0
	for {
		client, err := dialOnce(ctx, c)
		if err == nil {
			return client, nil
		}
		var mismatch *HostKeyMismatchError
		var fatal *fatalDialError
		if errors.As(err, &mismatch) {
			return nil, err
		}
		if errors.As(err, &fatal) {
			return nil, fatal.err
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connecting to %s: %w", c.Address(), ctx.Err())
		}
		failures++
		if c.DialErrorLimit >= 0 && failures > c.DialErrorLimit {
			return nil, fmt.Errorf("connecting to %s as %s failed %d time(s), more than dialErrorLimit (%d) allows; last error: %w",
				c.Address(), c.User, failures, c.DialErrorLimit, err)
		}
		wait := pause(failures)
		if d.Notify != nil {
			d.Notify(fmt.Sprintf("connecting to %s failed (%v); retrying in %s", c.Address(), err, wait))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to %s: %w", c.Address(), ctx.Err())
		case <-time.After(wait):
		}
	}
}

type fatalDialError struct{ err error }

func (e *fatalDialError) Error() string { return e.err.Error() }

// dialOnce makes one attempt, bounded by perDialTimeout (TCP connect and SSH handshake).
func dialOnce(ctx context.Context, c *Connection) (*ssh.Client, error) {
	cfg, cleanup, err := clientConfig(c)
	if err != nil {
		cleanup()
		return nil, &fatalDialError{err}
	}
	var conn net.Conn
	var proxy *ssh.Client
	if c.Proxy != nil {
		proxy, err = dialOnce(ctx, c.Proxy)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("via proxy %s: %w", c.Proxy.Address(), err)
		}
		conn, err = proxy.Dial("tcp", c.Address())
		if err != nil {
			proxy.Close()
			cleanup()
			return nil, fmt.Errorf("via proxy %s: %w", c.Proxy.Address(), err)
		}
	} else {
		dctx := ctx
		if c.PerDialTimeout > 0 {
			var cancel context.CancelFunc
			dctx, cancel = context.WithTimeout(ctx, c.PerDialTimeout)
			defer cancel()
		}
		conn, err = (&net.Dialer{}).DialContext(dctx, "tcp", c.Address())
		if err != nil {
			cleanup()
			return nil, err
		}
	}
	if c.PerDialTimeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(c.PerDialTimeout))
	}
	// The handshake must also stop when the operation is cancelled.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, c.Address(), cfg)
	stop()
	if err != nil {
		conn.Close()
		if proxy != nil {
			proxy.Close()
		}
		cleanup()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("no SSH handshake within perDialTimeout (%s): %w", c.PerDialTimeout, err)
		}
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	client := ssh.NewClient(sc, chans, reqs)
	go func() {
		_ = client.Wait()
		if proxy != nil {
			proxy.Close()
		}
		cleanup()
	}()
	return client, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// remoteBootstrap is the only command line the remote shell sees. It reads a count of lines, then
// that many lines from standard input (the `read` builtin takes one byte at a time from a pipe, so
// nothing after them is consumed), and evaluates them in the login shell. The rest of standard input
// is the program's `stdin`. Secrets (environment values, the script itself) so never appear on a
// command line, and no `AcceptEnv` is needed on the server.
const remoteBootstrap = `IFS= read -r __pulumi_command_n || exit 125; __pulumi_command_script=; ` +
	`while [ "$__pulumi_command_n" -gt 0 ]; do IFS= read -r __pulumi_command_line || exit 125; ` +
	`__pulumi_command_script="$__pulumi_command_script$__pulumi_command_line
"; __pulumi_command_n=$((__pulumi_command_n - 1)); done; eval "$__pulumi_command_script"`

// remotePrelude is what remoteBootstrap reads: the line count, the exports, then the script.
func remotePrelude(script string, env map[string]string) []byte {
	var body bytes.Buffer
	for _, k := range sortedKeys(env) {
		fmt.Fprintf(&body, "export %s=%s\n", k, shellQuote(env[k]))
	}
	body.WriteString(script)
	if !strings.HasSuffix(script, "\n") {
		body.WriteByte('\n')
	}
	lines := bytes.Count(body.Bytes(), []byte("\n"))
	return append([]byte(strconv.Itoa(lines)+"\n"), body.Bytes()...)
}
