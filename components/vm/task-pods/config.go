package main

import (
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// config is read from the environment; every error names its variable.
type config struct {
	namespace    string
	listen       string
	token        string
	dockerSocket string
	network      string
	serviceHost  string
	servicePort  string // the port of listen, told to pods
	stateDir     string
	hostPaths    []string
	images       []string
	quota        usage
}

func loadConfig(getenv func(string) string) (*config, error) {
	c := &config{}
	var errs []string
	fail := func(name, format string, args ...any) {
		errs = append(errs, name+": "+fmt.Sprintf(format, args...))
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	required := func(name string) string {
		v := get(name, "")
		if v == "" {
			fail(name, "required")
		}
		return v
	}

	if c.namespace = required("TASK_PODS_NAMESPACE"); c.namespace != "" && !validLabel(c.namespace) {
		fail("TASK_PODS_NAMESPACE", "%q is not a valid namespace name", c.namespace)
	}
	c.listen = get("TASK_PODS_LISTEN", ":6443")
	if _, port, err := net.SplitHostPort(c.listen); err != nil {
		fail("TASK_PODS_LISTEN", "%v", err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		fail("TASK_PODS_LISTEN", "%q has no numeric port", c.listen)
	} else {
		c.servicePort = port
	}
	// The app engine's bearer token, from the service's env file (mode 0600) as every secret of the
	// tenant: long enough that guessing it is no way in.
	if c.token = required("TASK_PODS_TOKEN"); c.token != "" && len(c.token) < 32 {
		fail("TASK_PODS_TOKEN", "has %d characters, fewer than 32", len(c.token))
	}
	c.dockerSocket = get("TASK_PODS_DOCKER_SOCKET", "/var/run/docker.sock")
	c.network = required("TASK_PODS_NETWORK")
	if c.serviceHost = required("TASK_PODS_SERVICE_HOST"); strings.ContainsAny(c.serviceHost, " /:") {
		fail("TASK_PODS_SERVICE_HOST", "%q is not a host name or IPv4 address", c.serviceHost)
	}
	if c.stateDir = required("TASK_PODS_STATE_DIR"); c.stateDir != "" {
		if !filepath.IsAbs(c.stateDir) {
			fail("TASK_PODS_STATE_DIR", "%q is not an absolute path", c.stateDir)
		} else if fi, err := os.Stat(c.stateDir); err != nil || !fi.IsDir() {
			fail("TASK_PODS_STATE_DIR", "%q is not a directory", c.stateDir)
		}
		c.stateDir = filepath.Clean(c.stateDir)
	}
	for p := range strings.SplitSeq(required("TASK_PODS_HOST_PATHS"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !path.IsAbs(p) || path.Clean(p) == "/" || strings.ContainsAny(p, ":") {
			fail("TASK_PODS_HOST_PATHS", "%q is not an absolute path below /", p)
			continue
		}
		c.hostPaths = append(c.hostPaths, path.Clean(p))
	}
	for img := range strings.SplitSeq(required("TASK_PODS_IMAGES"), ",") {
		if img = strings.TrimSpace(img); img == "" {
			continue
		}
		if strings.ContainsAny(img, " \t") || strings.HasPrefix(img, "/") {
			fail("TASK_PODS_IMAGES", "%q is neither a repository prefix ending in / nor an image reference", img)
			continue
		}
		c.images = append(c.images, img)
	}
	quota := func(name string, parse func(string) (int64, error)) int64 {
		v := required(name)
		if v == "" {
			return 0
		}
		n, err := parse(v)
		if err != nil || n <= 0 {
			fail(name, "%q is not a positive quantity", v)
		}
		return n
	}
	c.quota.cpuMilli = quota("TASK_PODS_QUOTA_CPU", parseMilli)
	c.quota.memBytes = quota("TASK_PODS_QUOTA_MEMORY", parseValue)
	c.quota.pods = quota("TASK_PODS_QUOTA_PODS", func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })

	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return c, nil
}
