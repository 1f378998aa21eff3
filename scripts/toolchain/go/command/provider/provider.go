// Package provider implements the resource provider plugin behind @pulumi/command 1.2.1:
// command:remote:Command, command:remote:CopyToRemote and command:local:Command, on Pulumi's raw
// provider protocol. See ../README.md for the semantics chosen where the SDK's docs are silent.
package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Name is the package name; Version the plugin version, set at build time to the SDK's version.
const Name = "command"

var Version = "1.2.1"

// Logger sends messages to the engine (the HostClient of pkg/resource/provider, or a test double).
type Logger interface {
	Log(ctx context.Context, sev diag.Severity, urn resource.URN, msg string) error
}

// Server is the provider's gRPC service.
type Server struct {
	pulumirpc.UnimplementedResourceProviderServer

	host   Logger
	dialer Dialer

	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
}

// New makes a provider; host may be nil (no engine log).
func New(host Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{host: host, ctx: ctx, cancel: cancel}
	s.dialer = Dialer{Pause: DefaultPause}
	return s
}

// WithDialer replaces the dialer (tests: shorter pauses).
func (s *Server) WithDialer(d Dialer) *Server {
	s.dialer = d
	return s
}

// opContext is cancelled when the request ends or the engine calls Cancel.
func (s *Server) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	s.mu.Lock()
	root := s.ctx
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(root, cancel)
	return ctx, func() { stop(); cancel() }
}

func (s *Server) log(ctx context.Context, sev diag.Severity, urn string, msg string) {
	if s.host != nil {
		_ = s.host.Log(ctx, sev, resource.URN(urn), msg)
	}
}

var unmarshalOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}

func unmarshal(st *structpb.Struct, label string) (resource.PropertyMap, error) {
	opts := unmarshalOpts
	opts.Label = label
	if st == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(st, opts)
}

func marshal(m resource.PropertyMap, label string) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, plugin.MarshalOptions{Label: label, KeepUnknowns: true, KeepSecrets: true})
}

func typeOf(urn string) (string, error) {
	if !resource.URN(urn).IsValid() {
		return "", fmt.Errorf("invalid URN %q", urn)
	}
	typ := string(resource.URN(urn).Type())
	switch typ {
	case RemoteCommand, LocalCommand, CopyToRemote:
		return typ, nil
	}
	return "", status.Errorf(codes.InvalidArgument,
		"resource type %s is not implemented by this build of the command plugin (it implements %s, %s and %s)",
		typ, RemoteCommand, CopyToRemote, LocalCommand)
}

// ---- plugin and provider configuration -----------------------------------------------------

func (s *Server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

// GetSchema: the engine does not ask during up or preview; a minimal schema serves tools that do.
func (s *Server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":%q,"version":%q}`, Name, Version)}, nil
}

func (s *Server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (s *Server) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	// The provider takes no configuration: nothing about it can change.
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (s *Server) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (s *Server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	s.mu.Lock()
	s.cancel()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Unlock()
	return &emptypb.Empty{}, nil
}

// ---- resources ---------------------------------------------------------------------------------

// validate parses the inputs as Create would, skipping what is not known yet.
func validate(typ string, news resource.PropertyMap) error {
	var err error
	switch typ {
	case CopyToRemote:
		_, err = parseCopy(news)
	default:
		_, err = parseCommand(typ, news)
	}
	if errors.Is(err, errUnknown) {
		return nil
	}
	return err
}

func (s *Server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	typ, err := typeOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	opts := unmarshalOpts
	opts.ComputeAssetHashes = true
	opts.Label = "check.news"
	news, err := plugin.UnmarshalProperties(req.GetNews(), opts)
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	if err := validate(typ, news); err != nil {
		failures = append(failures, &pulumirpc.CheckFailure{Reason: err.Error()})
	}
	inputs, err := marshal(news, "check.inputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

func (s *Server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	typ, err := typeOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds(), "diff.olds")
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "diff.news")
	if err != nil {
		return nil, err
	}
	plan := Diff(typ, inputsOf(typ, olds), news)
	resp := &pulumirpc.DiffResponse{
		Changes:             pulumirpc.DiffResponse_DIFF_NONE,
		DeleteBeforeReplace: plan.DeleteBeforeReplace,
		HasDetailedDiff:     true,
		DetailedDiff:        map[string]*pulumirpc.PropertyDiff{},
	}
	if !plan.HasChanges() {
		return resp, nil
	}
	resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	resp.Diffs = plan.Changed
	resp.Replaces = plan.Replaces
	replace := map[string]bool{}
	for _, k := range plan.Replaces {
		replace[k] = true
	}
	for _, k := range plan.Changed {
		_, had := lookup(olds, k)
		_, has := lookup(news, k)
		kind := pulumirpc.PropertyDiff_UPDATE
		switch {
		case !had:
			kind = pulumirpc.PropertyDiff_ADD
		case !has:
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if replace[k] {
			kind += pulumirpc.PropertyDiff_ADD_REPLACE - pulumirpc.PropertyDiff_ADD
		}
		resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	return resp, nil
}

// withOutputs returns the inputs plus stdout and stderr, secret when an input that shapes them is.
func withOutputs(typ string, inputs resource.PropertyMap, stdout, stderr resource.PropertyValue) resource.PropertyMap {
	out := inputs.Copy()
	if typ == CopyToRemote {
		return out
	}
	secret := outputsSecret(typ, inputs)
	for k, v := range map[string]resource.PropertyValue{keyStdout: stdout, keyStderr: stderr} {
		v = unwrap(v)
		if secret {
			v = resource.MakeSecret(v)
		}
		out[resource.PropertyKey(k)] = v
	}
	return out
}

var unknownString = resource.MakeComputed(resource.NewStringProperty(""))

func (s *Server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	typ, err := typeOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetProperties(), "create.news")
	if err != nil {
		return nil, err
	}
	id, err := resource.NewUniqueHex(resource.URN(req.GetUrn()).Name()+"-", 8, 0)
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		props, err := marshal(withOutputs(typ, news, unknownString, unknownString), "create.preview")
		return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
	}
	ctx, done := s.opContext(ctx)
	defer done()
	var res Result
	if typ == CopyToRemote {
		err = s.copy(ctx, req.GetUrn(), news)
	} else {
		res, err = s.runCommand(ctx, typ, req.GetUrn(), news, func(c *CommandSpec) *string { return c.Create }, nil)
	}
	if err != nil {
		// Nothing is recorded: the next update runs create again.
		return nil, err
	}
	props, err := marshal(withOutputs(typ, news, resource.NewStringProperty(res.Stdout), resource.NewStringProperty(res.Stderr)), "create.outs")
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
}

func (s *Server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	typ, err := typeOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds(), "update.olds")
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "update.news")
	if err != nil {
		return nil, err
	}
	plan := Diff(typ, inputsOf(typ, olds), news)
	stdout, stderr := olds[keyStdout], olds[keyStderr]
	if stdout.IsNull() {
		stdout = resource.NewStringProperty("")
	}
	if stderr.IsNull() {
		stderr = resource.NewStringProperty("")
	}
	switch {
	case !plan.Run:
		// Only inputs that matter for later runs changed (delete, logging, credentials, secretness).
	case req.GetPreview():
		stdout, stderr = unknownString, unknownString
	case typ == CopyToRemote:
		ctx, done := s.opContext(ctx)
		defer done()
		if err := s.copy(ctx, req.GetUrn(), news); err != nil {
			return nil, err
		}
	default:
		ctx, done := s.opContext(ctx)
		defer done()
		res, err := s.runCommand(ctx, typ, req.GetUrn(), news, func(c *CommandSpec) *string {
			if c.Update != nil {
				return c.Update
			}
			return c.Create
		}, olds)
		if err != nil {
			return nil, err
		}
		stdout, stderr = resource.NewStringProperty(res.Stdout), resource.NewStringProperty(res.Stderr)
	}
	props, err := marshal(withOutputs(typ, news, stdout, stderr), "update.outs")
	return &pulumirpc.UpdateResponse{Properties: props}, err
}

func (s *Server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	typ, err := typeOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	if typ == CopyToRemote {
		// Like upstream, the copied files stay on the remote host.
		return &emptypb.Empty{}, nil
	}
	olds, err := unmarshal(req.GetProperties(), "delete.olds")
	if err != nil {
		return nil, err
	}
	ctx, done := s.opContext(ctx)
	defer done()
	_, err = s.runCommand(ctx, typ, req.GetUrn(), olds, func(c *CommandSpec) *string { return c.Delete }, olds)
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Read (refresh) keeps the recorded state: a command's effects cannot be read back.
func (s *Server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if _, err := typeOf(req.GetUrn()); err != nil {
		return nil, err
	}
	if len(req.GetProperties().GetFields()) == 0 {
		return nil, status.Error(codes.Unimplemented, "command resources cannot be imported")
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

// runCommand runs the script that pick selects from the inputs (nothing when it selects none).
// prev, when given, is the state whose stdout/stderr go into the environment.
func (s *Server) runCommand(
	ctx context.Context, typ, urn string, inputs resource.PropertyMap,
	pick func(*CommandSpec) *string, prev resource.PropertyMap,
) (Result, error) {
	spec, err := parseCommand(typ, inputs)
	if err != nil {
		return Result{}, err
	}
	script := pick(spec)
	if script == nil || strings.TrimSpace(*script) == "" {
		return Result{}, nil
	}
	env := map[string]string{}
	for k, v := range spec.Environment {
		env[k] = v
	}
	if prev != nil && spec.AddPreviousOutputInEnv {
		for key, name := range map[string]string{keyStdout: envPrevStdout, keyStderr: envPrevStderr} {
			if v := unwrap(prev[resource.PropertyKey(key)]); v.IsString() {
				env[name] = v.StringValue()
			}
		}
	}
	mask := maskerFor(inputs, prev)
	e := &Execution{
		Script:  *script,
		Env:     env,
		Stdin:   spec.Stdin,
		Logging: spec.Logging,
		Mask:    mask,
		Log: func(_, line string) {
			s.log(ctx, diag.Info, urn, line)
		},
	}
	var runner Runner
	if typ == RemoteCommand {
		d := s.dialer
		d.Notify = func(msg string) { s.log(ctx, diag.Info, urn, mask.mask(msg)) }
		runner = RemoteRunner{Conn: spec.Connection, Dialer: d}
	} else {
		runner = LocalRunner{Dir: spec.Dir, Interpreter: spec.Interpreter}
	}
	return runner.Run(ctx, e)
}

func (s *Server) copy(ctx context.Context, urn string, inputs resource.PropertyMap) error {
	spec, err := parseCopy(inputs)
	if err != nil {
		return err
	}
	d := s.dialer
	mask := maskerFor(inputs, nil)
	d.Notify = func(msg string) { s.log(ctx, diag.Info, urn, mask.mask(msg)) }
	client, err := d.Dial(ctx, spec.Connection)
	if err != nil {
		return err
	}
	defer client.Close()
	st, err := Copy(ctx, client, spec)
	if err != nil {
		return fmt.Errorf("copying to %s:%s: %w", spec.Connection.Address(), spec.RemotePath, err)
	}
	s.log(ctx, diag.Debug, urn, fmt.Sprintf("copied %d file(s), created %d director(ies), to %s", st.Files, st.Dirs, st.Target))
	return nil
}
