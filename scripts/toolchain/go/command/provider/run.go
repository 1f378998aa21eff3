package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Names of the previous outputs in the environment (addPreviousOutputInEnv).
const (
	envPrevStdout = "PULUMI_COMMAND_STDOUT"
	envPrevStderr = "PULUMI_COMMAND_STDERR"
)

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// LogFunc receives one line of a command's output for the engine's log.
type LogFunc func(stream, line string)

// lineWriter hands complete lines to log; Flush passes on a last line without a newline.
type lineWriter struct {
	mu     sync.Mutex
	stream string
	log    LogFunc
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.log(w.stream, strings.TrimSuffix(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.log(w.stream, string(w.buf))
		w.buf = nil
	}
}

// Execution is one run of a script: what to run, with what, and where its output goes.
type Execution struct {
	Script  string
	Env     map[string]string
	Stdin   *string
	Logging string
	Log     LogFunc // may be nil
	Mask    masker
}

// Result is what a script printed. Like upstream, one trailing newline is removed.
type Result struct {
	Stdout, Stderr string
}

// capture sets up the output buffers and the log streaming that the logging mode allows.
type capture struct {
	stdout, stderr   bytes.Buffer
	outLog, errLog   *lineWriter
	outW, errW       io.Writer
	logged           bytes.Buffer // the logged streams, interleaved, for error messages
	loggedMu         sync.Mutex
	logStdout, logSE bool
}

func newCapture(e *Execution) *capture {
	c := &capture{}
	c.logStdout = e.Logging == LogStdout || e.Logging == LogStdoutAndStderr
	c.logSE = e.Logging == LogStderr || e.Logging == LogStdoutAndStderr
	record := func(stream, line string) {
		line = e.Mask.mask(line)
		c.loggedMu.Lock()
		c.logged.WriteString(line + "\n")
		c.loggedMu.Unlock()
		if e.Log != nil {
			e.Log(stream, line)
		}
	}
	c.outW, c.errW = &c.stdout, &c.stderr
	if c.logStdout {
		c.outLog = &lineWriter{stream: "stdout", log: record}
		c.outW = io.MultiWriter(&c.stdout, c.outLog)
	}
	if c.logSE {
		c.errLog = &lineWriter{stream: "stderr", log: record}
		c.errW = io.MultiWriter(&c.stderr, c.errLog)
	}
	return c
}

func (c *capture) finish() Result {
	if c.outLog != nil {
		c.outLog.Flush()
	}
	if c.errLog != nil {
		c.errLog.Flush()
	}
	return Result{
		Stdout: strings.TrimSuffix(c.stdout.String(), "\n"),
		Stderr: strings.TrimSuffix(c.stderr.String(), "\n"),
	}
}

// failure describes a failed run without leaking what logging keeps out of the log: only the
// logged streams are quoted (masked), and the script text only when it holds no secret.
func (c *capture) failure(err error, what string) error {
	msg := fmt.Sprintf("%s failed: %v", what, err)
	c.loggedMu.Lock()
	out := strings.TrimSpace(c.logged.String())
	c.loggedMu.Unlock()
	if out != "" {
		const max = 4000
		if len(out) > max {
			out = "..." + out[len(out)-max:]
		}
		msg += "\noutput:\n" + out
	} else if !c.logStdout && !c.logSE {
		msg += " (output not shown: logging is \"none\")"
	}
	return errors.New(msg)
}

// Runner runs scripts somewhere.
type Runner interface {
	Run(ctx context.Context, e *Execution) (Result, error)
}

// LocalRunner runs scripts on this machine.
type LocalRunner struct {
	Dir         string
	Interpreter []string
}

var defaultInterpreter = []string{"/bin/sh", "-c"}

// scriptEnvVar carries the script to a shell interpreter, keeping it off the process list.
const scriptEnvVar = "__PULUMI_COMMAND_SCRIPT"

// shellTakesScriptFromEnv is true for interpreters like ["/bin/sh", "-c"] or ["bash", "-c"]: their
// script can come from the environment instead of the command line.
func shellTakesScriptFromEnv(interp []string) bool {
	if len(interp) < 2 || interp[len(interp)-1] != "-c" {
		return false
	}
	switch filepath.Base(interp[0]) {
	case "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash":
		return true
	}
	return false
}

// localCommand builds the process: the interpreter with the script as its last argument (upstream's
// semantics), except for POSIX shells, which read it from the environment.
func (r LocalRunner) localCommand(ctx context.Context, e *Execution) *exec.Cmd {
	interp := r.Interpreter
	if len(interp) == 0 {
		interp = defaultInterpreter
	}
	env := os.Environ()
	for _, k := range sortedKeys(e.Env) {
		env = append(env, k+"="+e.Env[k])
	}
	var cmd *exec.Cmd
	if shellTakesScriptFromEnv(interp) {
		loader := `__pulumi_command_script=$` + scriptEnvVar + `; unset ` + scriptEnvVar + `; eval "$__pulumi_command_script"`
		cmd = exec.CommandContext(ctx, interp[0], append(append([]string{}, interp[1:]...), loader)...)
		env = append(env, scriptEnvVar+"="+e.Script)
	} else {
		cmd = exec.CommandContext(ctx, interp[0], append(append([]string{}, interp[1:]...), e.Script)...)
	}
	cmd.Env = env
	cmd.Dir = r.Dir
	// On cancellation, stop the whole process group (the shell and what it started), and do not
	// wait for long for the output pipes of stragglers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if e.Stdin != nil {
		cmd.Stdin = strings.NewReader(*e.Stdin)
	}
	return cmd
}

func (r LocalRunner) Run(ctx context.Context, e *Execution) (Result, error) {
	c := newCapture(e)
	cmd := r.localCommand(ctx, e)
	cmd.Stdout, cmd.Stderr = c.outW, c.errW
	err := cmd.Run()
	res := c.finish()
	if err != nil {
		return res, c.failure(err, "local command")
	}
	return res, nil
}

// RemoteRunner runs scripts over SSH.
type RemoteRunner struct {
	Conn   *Connection
	Dialer Dialer
}

func (r RemoteRunner) Run(ctx context.Context, e *Execution) (Result, error) {
	client, err := r.Dialer.Dial(ctx, r.Conn)
	if err != nil {
		return Result{}, err
	}
	defer client.Close()
	return runOnClient(ctx, client, e, r.Conn.Address())
}

func runOnClient(ctx context.Context, client *ssh.Client, e *Execution, addr string) (Result, error) {
	session, err := client.NewSession()
	if err != nil {
		return Result{}, fmt.Errorf("opening an SSH session on %s: %w", addr, err)
	}
	defer session.Close()
	c := newCapture(e)
	session.Stdout, session.Stderr = c.outW, c.errW
	stdin := io.Reader(bytes.NewReader(remotePrelude(e.Script, e.Env)))
	if e.Stdin != nil {
		stdin = io.MultiReader(stdin, strings.NewReader(*e.Stdin))
	}
	session.Stdin = stdin
	stop := context.AfterFunc(ctx, func() {
		_ = session.Signal(ssh.SIGTERM)
		session.Close()
	})
	defer stop()
	err = session.Run(remoteBootstrap)
	res := c.finish()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return res, c.failure(err, "remote command on "+addr)
	}
	return res, nil
}
