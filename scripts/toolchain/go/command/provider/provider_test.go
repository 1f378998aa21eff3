package provider

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/ssh"
	"google.golang.org/protobuf/types/known/structpb"
)

type pulumirpcStruct = structpb.Struct

// ---- helpers -----------------------------------------------------------------------------------

type logLine struct {
	sev diag.Severity
	msg string
}

type recorder struct {
	mu    sync.Mutex
	lines []logLine
}

func (r *recorder) Log(_ context.Context, sev diag.Severity, _ resource.URN, msg string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, logLine{sev, msg})
	return nil
}

func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, l := range r.lines {
		if l.sev == diag.Info {
			b.WriteString(l.msg + "\n")
		}
	}
	return b.String()
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.lines = nil
	r.mu.Unlock()
}

func fastServer(log *recorder) *Server {
	return New(log).WithDialer(Dialer{Pause: func(int) time.Duration { return 20 * time.Millisecond }})
}

func urn(typ, name string) string {
	return fmt.Sprintf("urn:pulumi:test::proj::%s::%s", typ, name)
}

func str(s string) resource.PropertyValue { return resource.NewStringProperty(s) }

func secret(v resource.PropertyValue) resource.PropertyValue { return resource.MakeSecret(v) }

func obj(kv ...any) resource.PropertyValue {
	m := resource.PropertyMap{}
	for i := 0; i < len(kv); i += 2 {
		m[resource.PropertyKey(kv[i].(string))] = toValue(kv[i+1])
	}
	return resource.NewObjectProperty(m)
}

func toValue(v any) resource.PropertyValue {
	switch x := v.(type) {
	case resource.PropertyValue:
		return x
	case string:
		return str(x)
	case int:
		return resource.NewNumberProperty(float64(x))
	case bool:
		return resource.NewBoolProperty(x)
	}
	panic(fmt.Sprintf("toValue %T", v))
}

func props(kv ...any) resource.PropertyMap { return obj(kv...).ObjectValue() }

// connection as the SDK sends it: the whole object secret, with the SDK's defaults.
func connection(s *testServer, key clientKey, extra ...any) resource.PropertyValue {
	kv := []any{"host", "127.0.0.1", "port", s.port(), "user", "tester", "privateKey", key.pem,
		"dialErrorLimit", 10, "perDialTimeout", 15}
	kv = append(kv, extra...)
	return secret(obj(kv...))
}

func mustMarshal(t *testing.T, m resource.PropertyMap) *pulumirpcStruct {
	t.Helper()
	st, err := plugin.MarshalProperties(m, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustUnmarshal(t *testing.T, st *pulumirpcStruct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.UnmarshalProperties(st, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// check runs Check as the engine does before Create/Update, and fails the test on failures.
func check(t *testing.T, p *Server, typ string, news resource.PropertyMap) resource.PropertyMap {
	t.Helper()
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn(typ, "r"), News: mustMarshal(t, news)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) > 0 {
		t.Fatalf("check failures: %v", resp.Failures)
	}
	return mustUnmarshal(t, resp.Inputs)
}

func create(t *testing.T, p *Server, typ string, news resource.PropertyMap) (resource.PropertyMap, error) {
	t.Helper()
	news = check(t, p, typ, news)
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn(typ, "r"), Properties: mustMarshal(t, news)})
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(resp.Id, "r-") {
		t.Fatalf("id %q", resp.Id)
	}
	return mustUnmarshal(t, resp.Properties), nil
}

func update(t *testing.T, p *Server, typ string, olds, news resource.PropertyMap) (resource.PropertyMap, error) {
	t.Helper()
	news = check(t, p, typ, news)
	resp, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{
		Urn: urn(typ, "r"), Id: "r-1", Olds: mustMarshal(t, olds), News: mustMarshal(t, news),
	})
	if err != nil {
		return nil, err
	}
	return mustUnmarshal(t, resp.Properties), nil
}

func destroy(t *testing.T, p *Server, typ string, olds resource.PropertyMap) error {
	t.Helper()
	_, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{Urn: urn(typ, "r"), Id: "r-1", Properties: mustMarshal(t, olds)})
	return err
}

func diff(t *testing.T, p *Server, typ string, olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	t.Helper()
	news = check(t, p, typ, news)
	resp, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{
		Urn: urn(typ, "r"), Id: "r-1", Olds: mustMarshal(t, olds), News: mustMarshal(t, news),
	})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func outString(t *testing.T, m resource.PropertyMap, key string) string {
	t.Helper()
	v := unwrap(m[resource.PropertyKey(key)])
	if !v.IsString() {
		t.Fatalf("%s is %v, not a string", key, m[resource.PropertyKey(key)])
	}
	return v.StringValue()
}

// ---- remote.Command ----------------------------------------------------------------------------

func TestRemoteCommandStdinAndEnvironment(t *testing.T) {
	key := newKey(t)
	srv := startServer(t, key.signer.PublicKey())
	log := &recorder{}
	p := fastServer(log)

	tricky := "it's \"quoted\" $HOME `x`\nsecond line"
	state, err := create(t, p, RemoteCommand, props(
		"connection", connection(srv, key),
		"create", `printf 'env=%s\n' "$GREETING"; printf 'tricky=%s\n' "$TRICKY"; read -r line; echo "stdin=$line"; cat; echo oops >&2`,
		"environment", obj("GREETING", "hello world", "TRICKY", tricky),
		"stdin", "first\nrest of input\n",
	))
	if err != nil {
		t.Fatal(err)
	}
	want := "env=hello world\ntricky=" + tricky + "\nstdin=first\nrest of input"
	if got := outString(t, state, "stdout"); got != want {
		t.Fatalf("stdout:\n%q\nwant\n%q", got, want)
	}
	if got := outString(t, state, "stderr"); got != "oops" {
		t.Fatalf("stderr %q", got)
	}
	_, execs, envReqs := srv.snapshot()
	if len(envReqs) != 0 {
		t.Fatalf("the plugin sent env requests %v; they need AcceptEnv", envReqs)
	}
	if len(execs) != 1 || execs[0] != remoteBootstrap {
		t.Fatalf("the command line must be the fixed bootstrap only, got %q", execs)
	}
	if !strings.Contains(log.text(), "env=hello world\n") || !strings.Contains(log.text(), "oops\n") {
		t.Fatalf("stdout and stderr are logged by default; log:\n%s", log.text())
	}
}

func TestRemoteCommandUpdateDeleteAndPreviousOutput(t *testing.T) {
	key := newKey(t)
	srv := startServer(t, key.signer.PublicKey())
	p := fastServer(&recorder{})
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")

	base := []any{"connection", connection(srv, key),
		"create", "echo created; echo v1 > " + marker,
		"delete", `echo "deleting after: $PULUMI_COMMAND_STDOUT" > ` + marker + ".deleted; rm " + marker}
	state, err := create(t, p, RemoteCommand, props(base...))
	if err != nil {
		t.Fatal(err)
	}
	if outString(t, state, "stdout") != "created" {
		t.Fatal(state)
	}

	// No update script: a changed create script runs again.
	news := props(append(append([]any{}, base...), "create", "echo recreated; echo v2 > "+marker)...)
	if d := diff(t, p, RemoteCommand, state, news); d.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 0 {
		t.Fatalf("diff %v", d)
	}
	state, err = update(t, p, RemoteCommand, state, news)
	if err != nil {
		t.Fatal(err)
	}
	if outString(t, state, "stdout") != "recreated" {
		t.Fatal(state)
	}

	// With an update script, it runs instead, and sees the previous stdout.
	news = props(append(append([]any{}, base...), "create", "echo recreated; echo v2 > "+marker,
		"update", `echo "updated from: $PULUMI_COMMAND_STDOUT"`, "environment", obj("X", "1"))...)
	state, err = update(t, p, RemoteCommand, state, news)
	if err != nil {
		t.Fatal(err)
	}
	if got := outString(t, state, "stdout"); got != "updated from: recreated" {
		t.Fatalf("stdout %q", got)
	}

	// addPreviousOutputInEnv=false keeps the previous output out.
	news = props(append(append([]any{}, base...), "update", `echo "prev=[${PULUMI_COMMAND_STDOUT-unset}]"`,
		"environment", obj("X", "2"), "addPreviousOutputInEnv", false)...)
	state, err = update(t, p, RemoteCommand, state, news)
	if err != nil {
		t.Fatal(err)
	}
	if got := outString(t, state, "stdout"); got != "prev=[unset]" {
		t.Fatalf("stdout %q", got)
	}

	// Nothing changed: no-op.
	if d := diff(t, p, RemoteCommand, state, news); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("diff of identical inputs: %v", d)
	}

	// Delete runs the delete script with the previous output (addPreviousOutputInEnv back on).
	state[resource.PropertyKey("addPreviousOutputInEnv")] = resource.NewBoolProperty(true)
	if err := destroy(t, p, RemoteCommand, state); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("delete did not run: %v", err)
	}
	b, _ := os.ReadFile(marker + ".deleted")
	if string(b) != "deleting after: prev=[unset]\n" {
		t.Fatalf("delete saw %q", b)
	}
}

func TestRemoteCommandFailureReportsOutputAndExitCode(t *testing.T) {
	key := newKey(t)
	srv := startServer(t, key.signer.PublicKey())
	p := fastServer(&recorder{})
	_, err := create(t, p, RemoteCommand, props("connection", connection(srv, key), "create", "echo before; exit 3"))
	if err == nil || !strings.Contains(err.Error(), "status 3") || !strings.Contains(err.Error(), "before") {
		t.Fatalf("error %v", err)
	}
	_, err = create(t, p, RemoteCommand, props("connection", connection(srv, key), "create", "echo hidden; exit 4", "logging", "none"))
	if err == nil || strings.Contains(err.Error(), "hidden") {
		t.Fatalf("logging none must keep output out of the error: %v", err)
	}
}

func TestHostKeyMismatchRefusedBeforeRunning(t *testing.T) {
	key := newKey(t)
	srv := startServer(t, key.signer.PublicKey())
	other := newKey(t)
	p := fastServer(&recorder{})
	wrong := string(ssh.MarshalAuthorizedKey(other.signer.PublicKey()))
	start := time.Now()
	_, err := create(t, p, RemoteCommand, props("connection", connection(srv, key, "hostKey", wrong), "create", "touch /tmp/should-not-exist"))
	if err == nil || !strings.Contains(err.Error(), "host key verification failed") || !strings.Contains(err.Error(), "nothing was run") {
		t.Fatalf("error %v", err)
	}
	accepts, execs, _ := srv.snapshot()
	if len(execs) != 0 {
		t.Fatalf("commands ran despite the mismatch: %q", execs)
	}
	if len(accepts) != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("a mismatch is not retried: %d connections", len(accepts))
	}

	// The right key, as a .pub line, a known_hosts line or a fingerprint, is accepted.
	for _, hk := range []string{
		srv.hostKeyLine(),
		"[127.0.0.1]:22 " + srv.hostKeyLine(),
		"256 " + ssh.FingerprintSHA256(srv.hostKey.PublicKey()) + " host (ED25519)",
	} {
		state, err := create(t, p, RemoteCommand, props("connection", connection(srv, key, "hostKey", hk), "create", "echo ok"))
		if err != nil {
			t.Fatalf("hostKey %q: %v", hk, err)
		}
		if outString(t, state, "stdout") != "ok" {
			t.Fatal(state)
		}
	}
}

func TestDialRetriesWithPause(t *testing.T) {
	key := newKey(t)
	srv := startServer(t, key.signer.PublicKey())
	srv.failNext = 2
	const pause = 150 * time.Millisecond
	p := New(&recorder{}).WithDialer(Dialer{Pause: func(int) time.Duration { return pause }})
	state, err := create(t, p, RemoteCommand, props("connection", connection(srv, key, "dialErrorLimit", 3), "create", "echo up"))
	if err != nil {
		t.Fatal(err)
	}
	if outString(t, state, "stdout") != "up" {
		t.Fatal(state)
	}
	accepts, _, _ := srv.snapshot()
	if len(accepts) != 3 {
		t.Fatalf("%d connections, want 3 (2 failed + 1)", len(accepts))
	}
	for i := 1; i < len(accepts); i++ {
		if gap := accepts[i].Sub(accepts[i-1]); gap < pause {
			t.Fatalf("dial %d came %s after the previous one, before the %s pause", i+1, gap, pause)
		}
	}

	// More failures than dialErrorLimit allows: dialErrorLimit+1 dials, then an error.
	srv2 := startServer(t, key.signer.PublicKey())
	srv2.failNext = 100
	_, err = create(t, p, RemoteCommand, props("connection", connection(srv2, key, "dialErrorLimit", 2), "create", "echo never"))
	if err == nil || !strings.Contains(err.Error(), "dialErrorLimit (2)") {
		t.Fatalf("error %v", err)
	}
	if accepts, _, _ := srv2.snapshot(); len(accepts) != 3 {
		t.Fatalf("%d dials, want 3", len(accepts))
	}
}

func TestPerDialTimeout(t *testing.T) {
	// A server that accepts and never speaks.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	key := newKey(t)
	p := fastServer(&recorder{})
	start := time.Now()
	_, err = create(t, p, RemoteCommand, props(
		"connection", secret(obj("host", "127.0.0.1", "port", ln.Addr().(*net.TCPAddr).Port, "privateKey", key.pem,
			"perDialTimeout", 1, "dialErrorLimit", 1)),
		"create", "echo never"))
	if err == nil || !strings.Contains(err.Error(), "perDialTimeout") {
		t.Fatalf("error %v", err)
	}
	if took := time.Since(start); took < 2*time.Second || took > 6*time.Second {
		t.Fatalf("two dials of 1s each took %s", took)
	}
}

func TestPasswordAndEncryptedKeyAuthentication(t *testing.T) {
	enc := encryptedKey(t, "key passphrase")
	srv := startServer(t, enc.signer.PublicKey())
	p := fastServer(&recorder{})
	state, err := create(t, p, RemoteCommand, props(
		"connection", secret(obj("host", "127.0.0.1", "port", srv.port(), "user", "u", "password", testPassword, "dialErrorLimit", 0)),
		"create", "echo by-password"))
	if err != nil || outString(t, state, "stdout") != "by-password" {
		t.Fatalf("%v %v", err, state)
	}
	state, err = create(t, p, RemoteCommand, props(
		"connection", secret(obj("host", "127.0.0.1", "port", srv.port(), "privateKey", enc.pem, "privateKeyPassword", "key passphrase", "dialErrorLimit", 0)),
		"create", "echo by-key"))
	if err != nil || outString(t, state, "stdout") != "by-key" {
		t.Fatalf("%v %v", err, state)
	}
	_, err = create(t, p, RemoteCommand, props(
		"connection", secret(obj("host", "127.0.0.1", "port", srv.port(), "privateKey", enc.pem, "dialErrorLimit", 0)),
		"create", "echo no"))
	if err == nil || !strings.Contains(err.Error(), "privateKeyPassword") {
		t.Fatalf("error %v", err)
	}
}

func TestLoggingModes(t *testing.T) {
	key := newKey(t)
	srv := startServer(t, key.signer.PublicKey())
	log := &recorder{}
	p := fastServer(log)
	for mode, want := range map[string][]string{
		"stdout":          {"OUT"},
		"stderr":          {"ERR"},
		"stdoutAndStderr": {"OUT", "ERR"},
		"none":            {},
	} {
		log.reset()
		state, err := create(t, p, RemoteCommand, props("connection", connection(srv, key), "create", "echo OUT; echo ERR >&2", "logging", mode))
		if err != nil {
			t.Fatal(err)
		}
		if outString(t, state, "stdout") != "OUT" || outString(t, state, "stderr") != "ERR" {
			t.Fatalf("%s: outputs are captured whatever the logging: %v", mode, state)
		}
		// stdout and stderr are two streams: their lines reach the log in either order.
		got := strings.Fields(log.text())
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("logging %s logged %q, want %q", mode, got, want)
		}
	}
}

func TestSecretsInOutputs(t *testing.T) {
	key := newKey(t)
	srv := startServer(t, key.signer.PublicKey())
	log := &recorder{}
	p := fastServer(log)

	// Only the connection is secret (as always with the SDK): outputs stay plain.
	state, err := create(t, p, RemoteCommand, props("connection", connection(srv, key), "create", "echo plain"))
	if err != nil {
		t.Fatal(err)
	}
	if state["stdout"].IsSecret() || !state["connection"].IsSecret() {
		t.Fatalf("stdout secret %v, connection secret %v", state["stdout"].IsSecret(), state["connection"].IsSecret())
	}

	// A secret environment value makes stdout and stderr secret, and is masked in the log.
	state, err = create(t, p, RemoteCommand, props("connection", connection(srv, key),
		"create", `echo "token is $TOKEN"`, "environment", obj("TOKEN", secret(str("s3cr3t-t0ken")))))
	if err != nil {
		t.Fatal(err)
	}
	if !state["stdout"].IsSecret() || !state["stderr"].IsSecret() {
		t.Fatal("stdout/stderr must be secret when an input is")
	}
	if outString(t, state, "stdout") != "token is s3cr3t-t0ken" {
		t.Fatal(state)
	}
	if strings.Contains(log.text(), "s3cr3t-t0ken") || !strings.Contains(log.text(), "token is [secret]") {
		t.Fatalf("log:\n%s", log.text())
	}

	// A secret script (e.g. interpolated password), a secret stdin: the same; a secret trigger too.
	for _, in := range []resource.PropertyMap{
		props("connection", connection(srv, key), "create", secret(str("echo from-secret-script"))),
		props("connection", connection(srv, key), "create", "cat", "stdin", secret(str("from-secret-stdin"))),
		props("connection", connection(srv, key), "create", "echo x", "triggers", resource.NewArrayProperty([]resource.PropertyValue{secret(str("t"))})),
	} {
		state, err := create(t, p, RemoteCommand, in)
		if err != nil {
			t.Fatal(err)
		}
		if !state["stdout"].IsSecret() {
			t.Fatalf("stdout not secret for %v", in)
		}
	}

	// Local commands follow the same rule.
	state, err = create(t, p, LocalCommand, props("create", "echo local", "stdin", secret(str("x"))))
	if err != nil {
		t.Fatal(err)
	}
	if !state["stdout"].IsSecret() {
		t.Fatal("local stdout must be secret")
	}
}

// ---- previews and diffs ----------------------------------------------------------------------

func TestPreviewReturnsUnknownOutputs(t *testing.T) {
	p := fastServer(&recorder{})
	unknownConn := resource.MakeComputed(resource.NewStringProperty(""))
	news := props("connection", unknownConn, "create", "echo x")
	resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn(RemoteCommand, "r"), News: mustMarshal(t, news)})
	if err != nil || len(resp.Failures) > 0 {
		t.Fatalf("check with unknowns: %v %v", err, resp.GetFailures())
	}
	cr, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn(RemoteCommand, "r"), Properties: mustMarshal(t, news), Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	out := mustUnmarshal(t, cr.Properties)
	if !out["stdout"].IsComputed() || !out["stderr"].IsComputed() {
		t.Fatalf("preview outputs %v", out)
	}

	olds := props("create", "echo a", "stdout", "a", "stderr", "")
	ur, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: urn(LocalCommand, "r"),
		Olds: mustMarshal(t, olds), News: mustMarshal(t, props("create", "echo b")), Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	if out := mustUnmarshal(t, ur.Properties); !out["stdout"].IsComputed() {
		t.Fatalf("preview of a re-run: %v", out)
	}
	ur, err = p.Update(context.Background(), &pulumirpc.UpdateRequest{Urn: urn(LocalCommand, "r"),
		Olds: mustMarshal(t, olds), News: mustMarshal(t, props("create", "echo a", "logging", "none")), Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	if out := mustUnmarshal(t, ur.Properties); outString(t, out, "stdout") != "a" {
		t.Fatalf("a state-only update keeps stdout: %v", out)
	}
}

func TestDiffPlans(t *testing.T) {
	conn := secret(obj("host", "h", "port", 22, "user", "root", "privateKey", "k1"))
	base := props("connection", conn, "create", "c", "delete", "d", "environment", obj("A", "1"),
		"triggers", resource.NewArrayProperty([]resource.PropertyValue{str("t1")}))
	with := func(kv ...any) resource.PropertyMap {
		m := base.Copy()
		for i := 0; i < len(kv); i += 2 {
			m[resource.PropertyKey(kv[i].(string))] = toValue(kv[i+1])
		}
		return m
	}
	unknown := resource.MakeComputed(str(""))
	cases := []struct {
		name    string
		news    resource.PropertyMap
		changed string
		run     bool
		replace bool
	}{
		{"nothing", base.Copy(), "", false, false},
		{"create script", with("create", "c2"), "create", true, false},
		{"update script added", with("update", "u"), "update", true, false},
		{"environment", with("environment", obj("A", "2")), "environment", true, false},
		{"stdin", with("stdin", "in"), "stdin", true, false},
		{"trigger", with("triggers", resource.NewArrayProperty([]resource.PropertyValue{str("t2")})), "triggers", false, true},
		{"unknown trigger", with("triggers", unknown), "triggers", false, true},
		{"delete script only", with("delete", "d2"), "delete", false, false},
		{"logging only", with("logging", "none"), "logging", false, false},
		{"key rotated", with("connection", secret(obj("host", "h", "port", 22, "user", "root", "privateKey", "k2"))), "connection", false, false},
		{"other host", with("connection", secret(obj("host", "h2", "port", 22, "user", "root", "privateKey", "k1"))), "connection", true, false},
		{"secretness only", with("create", secret(str("c"))), "create", false, false},
		{"unknown create", with("create", unknown), "create", true, false},
	}
	for _, c := range cases {
		p := Diff(RemoteCommand, base, c.news)
		if got := strings.Join(p.Changed, ","); got != c.changed {
			t.Errorf("%s: changed %q, want %q", c.name, got, c.changed)
		}
		if p.Run != c.run || (len(p.Replaces) > 0) != c.replace {
			t.Errorf("%s: run %v replace %v, want %v %v", c.name, p.Run, p.Replaces, c.run, c.replace)
		}
		if c.replace && !p.DeleteBeforeReplace {
			t.Errorf("%s: a replacement with a delete script must delete first", c.name)
		}
	}
	noDelete := base.Copy()
	delete(noDelete, "delete")
	news := noDelete.Copy()
	news["triggers"] = resource.NewArrayProperty([]resource.PropertyValue{str("t2")})
	if p := Diff(RemoteCommand, noDelete, news); p.DeleteBeforeReplace || len(p.Replaces) != 1 {
		t.Errorf("without a delete script, the default order (create first) is kept: %+v", p)
	}
}

func TestDiffResponseReplacesOnTriggers(t *testing.T) {
	p := fastServer(&recorder{})
	olds := props("create", "c", "delete", "d", "triggers", resource.NewArrayProperty([]resource.PropertyValue{str("1")}), "stdout", "x", "stderr", "")
	news := props("create", "c", "delete", "d", "triggers", resource.NewArrayProperty([]resource.PropertyValue{str("2")}))
	d := diff(t, p, LocalCommand, olds, news)
	if d.Changes != pulumirpc.DiffResponse_DIFF_SOME || strings.Join(d.Replaces, ",") != "triggers" || !d.DeleteBeforeReplace {
		t.Fatalf("diff %v", d)
	}
	if d.DetailedDiff["triggers"].Kind != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Fatalf("detailed diff %v", d.DetailedDiff)
	}
	if d := diff(t, p, LocalCommand, olds, props("create", "c", "delete", "d", "triggers", resource.NewArrayProperty([]resource.PropertyValue{str("1")}))); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("no-op diff %v", d)
	}
}

func TestCheckFailures(t *testing.T) {
	p := fastServer(&recorder{})
	for name, c := range map[string]struct {
		typ  string
		news resource.PropertyMap
		want string
	}{
		"no host":        {RemoteCommand, props("connection", secret(obj("port", 22)), "create", "x"), "connection.host is required"},
		"no connection":  {RemoteCommand, props("create", "x"), "connection is required"},
		"bad env":        {LocalCommand, props("create", "x", "environment", obj("A-B", "1")), "not a valid variable name"},
		"bad logging":    {LocalCommand, props("create", "x", "logging", "loud"), "logging must be one of"},
		"bad host key":   {RemoteCommand, props("connection", secret(obj("host", "h", "hostKey", "nonsense")), "create", "x"), "connection.hostKey"},
		"asset paths":    {LocalCommand, props("create", "x", "assetPaths", resource.NewArrayProperty([]resource.PropertyValue{str("*")})), "assetPaths is not supported"},
		"no source":      {CopyToRemote, props("connection", secret(obj("host", "h")), "remotePath", "/x"), "source is required"},
		"no remote path": {CopyToRemote, props("connection", secret(obj("host", "h")), "source", resource.NewAssetProperty(mustText(t, "x"))), "remotePath is required"},
	} {
		resp, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn(c.typ, "r"), News: mustMarshal(t, c.news)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(resp.Failures) != 1 || !strings.Contains(resp.Failures[0].Reason, c.want) {
			t.Errorf("%s: failures %v, want %q", name, resp.Failures, c.want)
		}
	}
	if _, err := p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn("command:remote:CopyFile", "r")}); err == nil {
		t.Error("an unimplemented type must be refused")
	}
}

func mustText(t *testing.T, s string) *asset.Asset {
	t.Helper()
	a, err := asset.FromText(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// ---- remote.CopyToRemote -------------------------------------------------------------------------

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel != "." {
				out[rel+"/"] = ""
			}
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func equalTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func pathArchive(t *testing.T, p string) resource.PropertyValue {
	t.Helper()
	a, err := archive.FromPath(p)
	if err != nil {
		t.Fatal(err)
	}
	return resource.NewArchiveProperty(a)
}

func pathAsset(t *testing.T, p string) resource.PropertyValue {
	t.Helper()
	a, err := asset.FromPath(p)
	if err != nil {
		t.Fatal(err)
	}
	return resource.NewAssetProperty(a)
}

func TestCopyToRemote(t *testing.T) {
	key := newKey(t)
	srv := startServer(t, key.signer.PublicKey())
	p := fastServer(&recorder{})
	local, remote := t.TempDir(), t.TempDir()

	// A file asset into a directory that does not exist yet (parents created), keeping its mode.
	writeFiles(t, local, map[string]string{"run.sh": "#!/bin/sh\necho hi\n"})
	if err := os.Chmod(filepath.Join(local, "run.sh"), 0o750); err != nil {
		t.Fatal(err)
	}
	state, err := create(t, p, CopyToRemote, props("connection", connection(srv, key),
		"source", pathAsset(t, filepath.Join(local, "run.sh")), "remotePath", filepath.Join(remote, "a/b/run.sh")))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Join(remote, "a/b/run.sh")); err != nil || info.Mode().Perm() != 0o750 {
		t.Fatalf("copied file: %v %v", info, err)
	}
	if _, ok := state["stdout"]; ok {
		t.Fatal("CopyToRemote has no stdout")
	}
	// Into an existing directory: the file keeps its name.
	if _, err := create(t, p, CopyToRemote, props("connection", connection(srv, key),
		"source", pathAsset(t, filepath.Join(local, "run.sh")), "remotePath", filepath.Join(remote, "a"))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(remote, "a/run.sh")); err != nil {
		t.Fatal(err)
	}

	// A string asset overwrites an existing file.
	for _, text := range []string{"first version, longer\n", "second\n"} {
		if _, err := create(t, p, CopyToRemote, props("connection", connection(srv, key),
			"source", resource.NewAssetProperty(mustText(t, text)), "remotePath", filepath.Join(remote, "conf/app.conf"))); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(remote, "conf/app.conf")); string(b) != text {
			t.Fatalf("app.conf %q, want %q", b, text)
		}
	}
	// ... but not a directory.
	if _, err := create(t, p, CopyToRemote, props("connection", connection(srv, key),
		"source", resource.NewAssetProperty(mustText(t, "x")), "remotePath", filepath.Join(remote, "conf"))); err == nil ||
		!strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("error %v", err)
	}

	// A directory, then an update of it: changed and added files land in the same place.
	payload := filepath.Join(local, "payload")
	writeFiles(t, payload, map[string]string{"one.txt": "1", "sub/two.txt": "2"})
	if err := os.MkdirAll(filepath.Join(payload, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(remote, "deep/dest")
	olds, err := create(t, p, CopyToRemote, props("connection", connection(srv, key), "source", pathArchive(t, payload), "remotePath", dest))
	if err != nil {
		t.Fatal(err)
	}
	equalTree(t, "directory copy", readTree(t, dest), map[string]string{
		"payload/": "", "payload/empty/": "", "payload/one.txt": "1", "payload/sub/": "", "payload/sub/two.txt": "2",
	})
	writeFiles(t, payload, map[string]string{"one.txt": "1 changed", "sub/three.txt": "3"})
	news := props("connection", connection(srv, key), "source", pathArchive(t, payload), "remotePath", dest)
	if d := diff(t, p, CopyToRemote, olds, news); d.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 0 {
		t.Fatalf("a changed directory is an update: %v", d)
	}
	if _, err := update(t, p, CopyToRemote, olds, news); err != nil {
		t.Fatal(err)
	}
	equalTree(t, "directory update", readTree(t, dest), map[string]string{
		"payload/": "", "payload/empty/": "", "payload/one.txt": "1 changed", "payload/sub/": "",
		"payload/sub/two.txt": "2", "payload/sub/three.txt": "3",
	})
	// Unchanged directory: no-op.
	again := props("connection", connection(srv, key), "source", pathArchive(t, payload), "remotePath", dest)
	if d := diff(t, p, CopyToRemote, news, again); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("unchanged directory: %v", d)
	}

	// "dir/" copies the contents.
	contents := filepath.Join(remote, "contents")
	if _, err := create(t, p, CopyToRemote, props("connection", connection(srv, key), "source", pathArchive(t, payload+"/"), "remotePath", contents)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(contents, "sub/three.txt")); err != nil {
		t.Fatal(err)
	}

	// An AssetArchive: files, text and a directory under their keys.
	aa, err := archive.FromAssets(map[string]interface{}{
		"config/app.yaml": mustText(t, "a: 1\n"),
		"run.sh":          mustAsset(t, filepath.Join(local, "run.sh")),
		"data":            mustArchive(t, payload),
	})
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(remote, "bundle")
	if _, err := create(t, p, CopyToRemote, props("connection", connection(srv, key), "source", resource.NewArchiveProperty(aa), "remotePath", bundle)); err != nil {
		t.Fatal(err)
	}
	tree := readTree(t, bundle)
	for _, f := range []string{"config/app.yaml", "run.sh", "data/one.txt", "data/sub/three.txt"} {
		if _, ok := tree[f]; !ok {
			t.Fatalf("bundle lacks %s: %v", f, tree)
		}
	}
	if info, _ := os.Stat(filepath.Join(bundle, "run.sh")); info.Mode().Perm() != 0o750 {
		t.Fatalf("mode %v", info.Mode())
	}

	// A directory onto an existing file fails.
	if _, err := create(t, p, CopyToRemote, props("connection", connection(srv, key), "source", pathArchive(t, payload),
		"remotePath", filepath.Join(remote, "conf/app.conf"))); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("error %v", err)
	}

	// Delete leaves the files (as upstream).
	if err := destroy(t, p, CopyToRemote, news); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dest, "payload/one.txt")); err != nil {
		t.Fatal(err)
	}
}

func mustAsset(t *testing.T, p string) *asset.Asset {
	t.Helper()
	a, err := asset.FromPath(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustArchive(t *testing.T, p string) *archive.Archive {
	t.Helper()
	a, err := archive.FromPath(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCopyWithoutSFTPSubsystem(t *testing.T) {
	found := false
	for _, p := range []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/lib/ssh/sftp-server"} {
		if _, err := os.Stat(p); err == nil {
			found = true
		}
	}
	if !found {
		t.Skip("no sftp-server binary on this machine")
	}
	key := newKey(t)
	srv := startServer(t, key.signer.PublicKey())
	srv.noSFTP = true
	p := fastServer(&recorder{})
	remote := t.TempDir()
	if _, err := create(t, p, CopyToRemote, props("connection", connection(srv, key),
		"source", resource.NewAssetProperty(mustText(t, "via sftp-server")), "remotePath", filepath.Join(remote, "x/f.txt"))); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(remote, "x/f.txt")); string(b) != "via sftp-server" {
		t.Fatalf("%q", b)
	}
}

// ---- local.Command -------------------------------------------------------------------------------

func TestLocalCommand(t *testing.T) {
	log := &recorder{}
	p := fastServer(log)
	dir := t.TempDir()
	marker := filepath.Join(dir, "state")

	state, err := create(t, p, LocalCommand, props(
		"create", `echo "$GREETING from $(pwd)"; cat > state; tr '\0' ' ' < /proc/$$/cmdline >&2`,
		"delete", `echo "bye $PULUMI_COMMAND_STDOUT" > state.deleted; rm state`,
		"dir", dir,
		"environment", obj("GREETING", "hello"),
		"stdin", "written by stdin",
	))
	if err != nil {
		t.Fatal(err)
	}
	if got := outString(t, state, "stdout"); got != "hello from "+dir {
		t.Fatalf("stdout %q", got)
	}
	if b, _ := os.ReadFile(marker); string(b) != "written by stdin" {
		t.Fatalf("stdin: %q", b)
	}
	if cmdline := outString(t, state, "stderr"); strings.Contains(cmdline, "GREETING") {
		t.Fatalf("the script is on the process's command line: %q", cmdline)
	}
	if !strings.Contains(log.text(), "hello from") {
		t.Fatalf("log %q", log.text())
	}

	// Update: the update script, with the previous output.
	news := props("create", "echo created", "update", `echo "updated after [$PULUMI_COMMAND_STDOUT]"`,
		"delete", `echo "bye $PULUMI_COMMAND_STDOUT" > state.deleted; rm state`, "dir", dir)
	state, err = update(t, p, LocalCommand, state, news)
	if err != nil {
		t.Fatal(err)
	}
	if got := outString(t, state, "stdout"); got != "updated after [hello from "+dir+"]" {
		t.Fatalf("stdout %q", got)
	}

	// Another interpreter gets the script as its last argument.
	bash, err := create(t, p, LocalCommand, props("create", `echo "${BASH_VERSION:+bash}"`, "interpreter",
		resource.NewArrayProperty([]resource.PropertyValue{str("/bin/bash"), str("-c")})))
	if err != nil || outString(t, bash, "stdout") != "bash" {
		t.Fatalf("bash interpreter: %v %v", err, bash)
	}
	argv, err := create(t, p, LocalCommand, props("create", `echo "$0"`, "interpreter",
		resource.NewArrayProperty([]resource.PropertyValue{str("/usr/bin/env"), str("sh"), str("-c")})))
	if err != nil || outString(t, argv, "stdout") != "sh" {
		t.Fatalf("env interpreter: %v %v", err, argv)
	}

	// Delete runs the delete script with the previous output.
	if err := destroy(t, p, LocalCommand, state); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(marker + ".deleted"); string(b) != "bye updated after [hello from "+dir+"]\n" {
		t.Fatalf("delete saw %q", b)
	}

	// A failing command reports its exit status.
	if _, err := create(t, p, LocalCommand, props("create", "echo nope >&2; exit 7")); err == nil ||
		!strings.Contains(err.Error(), "exit status 7") || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("error %v", err)
	}
}

func TestCancelStopsARunningCommand(t *testing.T) {
	p := fastServer(&recorder{})
	done := make(chan error, 1)
	go func() {
		_, err := create(t, p, LocalCommand, props("create", "sleep 30"))
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := p.Cancel(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled command must fail")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Cancel did not stop the command")
	}
}
