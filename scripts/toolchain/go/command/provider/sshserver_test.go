package provider

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"io"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// testServer is an in-process SSH server: exec requests run under /bin/sh -c on this machine (as
// a login shell would), env requests are refused (an sshd without AcceptEnv), and the sftp
// subsystem serves this machine's file system.
type testServer struct {
	t        *testing.T
	ln       net.Listener
	hostKey  ssh.Signer
	cfg      *ssh.ServerConfig
	noSFTP   bool
	failNext int // close this many of the next connections before the handshake

	mu       sync.Mutex
	accepts  []time.Time
	execs    []string
	envReqs  []string
	sessions int
}

type clientKey struct {
	signer ssh.Signer
	pem    string
}

func newKey(t *testing.T) clientKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{signer: signer, pem: string(pem.EncodeToMemory(block))}
}

func encryptedKey(t *testing.T, passphrase string) clientKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{signer: signer, pem: string(pem.EncodeToMemory(block))}
}

const testPassword = "correct horse battery staple"

func startServer(t *testing.T, authorized ...ssh.PublicKey) *testServer {
	t.Helper()
	host := newKey(t)
	s := &testServer{t: t, hostKey: host.signer}
	s.cfg = &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			for _, k := range authorized {
				if string(k.Marshal()) == string(key.Marshal()) {
					return nil, nil
				}
			}
			return nil, io.EOF
		},
		PasswordCallback: func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if string(pw) == testPassword {
				return nil, nil
			}
			return nil, io.EOF
		},
	}
	s.cfg.AddHostKey(host.signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	t.Cleanup(func() { ln.Close() })
	go s.serve()
	return s
}

func (s *testServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *testServer) hostKeyLine() string {
	return string(ssh.MarshalAuthorizedKey(s.hostKey.PublicKey()))
}

func (s *testServer) snapshot() (accepts []time.Time, execs, envReqs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time{}, s.accepts...), append([]string{}, s.execs...), append([]string{}, s.envReqs...)
}

func (s *testServer) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.accepts = append(s.accepts, time.Now())
		fail := s.failNext > 0
		if fail {
			s.failNext--
		}
		s.mu.Unlock()
		if fail {
			conn.Close()
			continue
		}
		go s.handle(conn)
	}
}

func (s *testServer) handle(conn net.Conn) {
	sc, chans, reqs, err := ssh.NewServerConn(conn, s.cfg)
	if err != nil {
		conn.Close()
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		go s.session(ch, requests)
	}
}

func (s *testServer) session(ch ssh.Channel, requests <-chan *ssh.Request) {
	defer ch.Close()
	for req := range requests {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			_ = ssh.Unmarshal(req.Payload, &kv)
			s.mu.Lock()
			s.envReqs = append(s.envReqs, kv.Name)
			s.mu.Unlock()
			_ = req.Reply(false, nil) // no AcceptEnv
		case "subsystem":
			var sub struct{ Name string }
			_ = ssh.Unmarshal(req.Payload, &sub)
			if sub.Name != "sftp" || s.noSFTP {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			srv, err := sftp.NewServer(ch)
			if err != nil {
				return
			}
			_ = srv.Serve()
			srv.Close()
			sendExit(ch, 0)
			return
		case "exec":
			var ex struct{ Command string }
			_ = ssh.Unmarshal(req.Payload, &ex)
			s.mu.Lock()
			s.execs = append(s.execs, ex.Command)
			s.mu.Unlock()
			_ = req.Reply(true, nil)
			cmd := exec.Command("/bin/sh", "-c", ex.Command)
			cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp"}
			stdin, _ := cmd.StdinPipe()
			cmd.Stdout = ch
			cmd.Stderr = ch.Stderr()
			if err := cmd.Start(); err != nil {
				sendExit(ch, 127)
				return
			}
			go func() {
				_, _ = io.Copy(stdin, ch)
				stdin.Close()
			}()
			err := cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					code = 128 + int(ws.Signal())
				}
			}
			sendExit(ch, code)
			return
		default:
			_ = req.Reply(req.WantReply && req.Type == "pty-req", nil)
		}
	}
}

func sendExit(ch ssh.Channel, code int) {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, uint32(code))
	_, _ = ch.SendRequest("exit-status", false, b)
}
