package provider

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
)

// Resource type tokens of @pulumi/command 1.2.1 that this plugin implements.
const (
	RemoteCommand = "command:remote:Command"
	CopyToRemote  = "command:remote:CopyToRemote"
	LocalCommand  = "command:local:Command"
)

// Logging modes (enums.remote.Logging / enums.local.Logging).
const (
	LogStdout          = "stdout"
	LogStderr          = "stderr"
	LogStdoutAndStderr = "stdoutAndStderr"
	LogNone            = "none"
)

// Connection is remote.ConnectionArgs (and, for Proxy, remote.ProxyConnectionArgs).
type Connection struct {
	Host               string
	Port               int
	User               string
	Password           *string
	PrivateKey         *string
	PrivateKeyPassword *string
	AgentSocketPath    *string
	HostKey            string
	// DialErrorLimit: failed dials allowed before giving up; -1 means no limit.
	DialErrorLimit int
	// PerDialTimeout: the most one dial (TCP connect and SSH handshake) may take; 0 means no limit.
	PerDialTimeout time.Duration
	Proxy          *Connection
}

// Address is host:port.
func (c *Connection) Address() string {
	return joinHostPort(c.Host, c.Port)
}

// Defaults of the SDK's connectionArgsProvideDefaults, applied again here for programs that bypass it.
const (
	defaultPort           = 22
	defaultUser           = "root"
	defaultDialErrorLimit = 10
	defaultPerDialTimeout = 15
)

func parseConnection(v resource.PropertyValue, what string) (*Connection, error) {
	v = unwrap(v)
	if v.ContainsUnknowns() {
		return nil, fmt.Errorf("%s: %w", what, errUnknown)
	}
	if !v.IsObject() {
		return nil, fmt.Errorf("%s must be an object", what)
	}
	m := plainMap(v.ObjectValue())
	c := &Connection{}
	host, err := getString(m, "host")
	if err != nil {
		return nil, fmt.Errorf("%s.%w", what, err)
	}
	if host == nil || *host == "" {
		return nil, fmt.Errorf("%s.host is required", what)
	}
	c.Host = *host
	port, err := getNumber(m, "port", defaultPort)
	if err != nil {
		return nil, fmt.Errorf("%s.%w", what, err)
	}
	if port != math.Trunc(port) || port < 1 || port > 65535 {
		return nil, fmt.Errorf("%s.port must be a whole number from 1 to 65535, not %v", what, port)
	}
	c.Port = int(port)
	user, err := getString(m, "user")
	if err != nil {
		return nil, fmt.Errorf("%s.%w", what, err)
	}
	c.User = defaultUser
	if user != nil && *user != "" {
		c.User = *user
	}
	for key, dst := range map[string]**string{
		"password":           &c.Password,
		"privateKey":         &c.PrivateKey,
		"privateKeyPassword": &c.PrivateKeyPassword,
		"agentSocketPath":    &c.AgentSocketPath,
	} {
		s, err := getString(m, key)
		if err != nil {
			return nil, fmt.Errorf("%s.%w", what, err)
		}
		*dst = s
	}
	hostKey, err := getString(m, "hostKey")
	if err != nil {
		return nil, fmt.Errorf("%s.%w", what, err)
	}
	if hostKey != nil {
		if _, err := parseHostKey(*hostKey); err != nil {
			return nil, fmt.Errorf("%s.hostKey: %w", what, err)
		}
		c.HostKey = *hostKey
	}
	limit, err := getNumber(m, "dialErrorLimit", defaultDialErrorLimit)
	if err != nil {
		return nil, fmt.Errorf("%s.%w", what, err)
	}
	if limit != math.Trunc(limit) || limit < -1 {
		return nil, fmt.Errorf("%s.dialErrorLimit must be a whole number >= -1, not %v", what, limit)
	}
	c.DialErrorLimit = int(limit)
	timeout, err := getNumber(m, "perDialTimeout", defaultPerDialTimeout)
	if err != nil {
		return nil, fmt.Errorf("%s.%w", what, err)
	}
	if timeout < 0 {
		return nil, fmt.Errorf("%s.perDialTimeout must not be negative, not %v", what, timeout)
	}
	c.PerDialTimeout = time.Duration(timeout * float64(time.Second))
	if p, ok := get(m, "proxy"); ok {
		c.Proxy, err = parseConnection(p, what+".proxy")
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// CommandSpec holds the inputs of remote.Command and local.Command.
type CommandSpec struct {
	Create, Update, Delete *string
	Stdin                  *string
	Environment            map[string]string
	AddPreviousOutputInEnv bool
	Logging                string
	Triggers               resource.PropertyValue

	// local.Command only
	Dir         string
	Interpreter []string

	// remote.Command only
	Connection *Connection
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseCommand reads the inputs (or the state, which holds them) of a command resource.
func parseCommand(typ string, m resource.PropertyMap) (*CommandSpec, error) {
	s := &CommandSpec{}
	var err error
	for key, dst := range map[string]**string{
		"create": &s.Create, "update": &s.Update, "delete": &s.Delete, "stdin": &s.Stdin,
	} {
		if *dst, err = getString(m, key); err != nil {
			return nil, err
		}
	}
	if s.Environment, err = getStringMap(m, "environment"); err != nil {
		return nil, err
	}
	for k := range s.Environment {
		if !envName.MatchString(k) {
			return nil, fmt.Errorf("environment: %q is not a valid variable name (letters, digits and _, not starting with a digit)", k)
		}
	}
	if s.AddPreviousOutputInEnv, err = getBool(m, "addPreviousOutputInEnv", true); err != nil {
		return nil, err
	}
	logging, err := getString(m, "logging")
	if err != nil {
		return nil, err
	}
	s.Logging = LogStdoutAndStderr
	if logging != nil {
		switch *logging {
		case LogStdout, LogStderr, LogStdoutAndStderr, LogNone:
			s.Logging = *logging
		default:
			return nil, fmt.Errorf("logging must be one of stdout, stderr, stdoutAndStderr, none, not %q", *logging)
		}
	}
	s.Triggers = m["triggers"]
	switch typ {
	case LocalCommand:
		dir, err := getString(m, "dir")
		if err != nil {
			return nil, err
		}
		if dir != nil {
			s.Dir = *dir
		}
		if s.Interpreter, err = getStringList(m, "interpreter"); err != nil {
			return nil, err
		}
		for _, unsupported := range []string{"assetPaths", "archivePaths"} {
			if _, ok := get(m, unsupported); ok {
				return nil, fmt.Errorf("%s is not supported by this build of the command plugin (see scripts/toolchain/go/command/README.md)", unsupported)
			}
		}
	case RemoteCommand:
		v, ok := m["connection"]
		if !ok || unwrap(v).IsNull() {
			return nil, errors.New("connection is required")
		}
		if s.Connection, err = parseConnection(v, "connection"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Source is CopyToRemote's source: exactly one of its fields is set.
type Source struct {
	Asset   *asset.Asset
	Archive *archive.Archive
}

// CopySpec holds the inputs of remote.CopyToRemote.
type CopySpec struct {
	Connection *Connection
	Source     Source
	RemotePath string
}

func parseCopy(m resource.PropertyMap) (*CopySpec, error) {
	s := &CopySpec{}
	v, ok := m["connection"]
	if !ok || unwrap(v).IsNull() {
		return nil, errors.New("connection is required")
	}
	var err error
	if s.Connection, err = parseConnection(v, "connection"); err != nil {
		return nil, err
	}
	rp, err := getString(m, "remotePath")
	if err != nil {
		return nil, err
	}
	if rp == nil || *rp == "" {
		return nil, errors.New("remotePath is required")
	}
	s.RemotePath = *rp
	src, ok := get(m, "source")
	if !ok {
		return nil, errors.New("source is required")
	}
	if src.ContainsUnknowns() {
		return nil, fmt.Errorf("source: %w", errUnknown)
	}
	switch {
	case src.IsAsset():
		a := src.AssetValue()
		if !a.IsPath() && !a.IsText() {
			return nil, errors.New("source must be a FileAsset, a StringAsset or an archive; remote (URI) assets are not supported")
		}
		s.Source.Asset = a
	case src.IsArchive():
		a := src.ArchiveValue()
		if a.IsURI() {
			return nil, errors.New("source must be a FileArchive or an AssetArchive; remote (URI) archives are not supported")
		}
		s.Source.Archive = a
	default:
		return nil, fmt.Errorf("source must be an asset or an archive, not %s", src.TypeString())
	}
	return s, nil
}
