package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// A minimal Docker Engine API client over the unix socket, behind an
// interface so that the runner can be tested with a fake.

// docker is what the runner needs from the engine.
type docker interface {
	inspectImage(ctx context.Context, ref string) (user string, found bool, err error)
	pullImage(ctx context.Context, ref string) error
	createContainer(ctx context.Context, name string, body *createBody) (id string, err error)
	startContainer(ctx context.Context, id string) error
	waitContainer(ctx context.Context, id string) error
	inspectContainer(ctx context.Context, id string) (containerInfo, error)
	listContainers(ctx context.Context, labels map[string]string) (ids []string, err error)
	stopContainer(ctx context.Context, id string, graceSeconds int) error
	removeContainer(ctx context.Context, id string) error
	containerLogs(ctx context.Context, id string, opts logOptions) (io.ReadCloser, error)
}

// createBody is the body of POST /containers/create.
type createBody struct {
	Image      string
	Entrypoint []string `json:",omitempty"`
	Cmd        []string `json:",omitempty"`
	WorkingDir string   `json:",omitempty"`
	Env        []string
	User       string `json:",omitempty"`
	Hostname   string `json:",omitempty"`
	Labels     map[string]string
	HostConfig hostConfig
}

type hostConfig struct {
	NetworkMode   string
	Binds         []string
	NanoCpus      int64
	Memory        int64
	MemorySwap    int64
	CapDrop       []string
	SecurityOpt   []string
	Privileged    bool
	RestartPolicy restartPolicy
}

type restartPolicy struct {
	Name string
}

type logOptions struct {
	follow, timestamps bool
	tail               string // "all" or a number of lines
}

var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("conflict")
)

// engineError is a non-2xx answer of the engine.
type engineError struct {
	status  int
	message string
}

func (e *engineError) Error() string { return fmt.Sprintf("docker: %s (HTTP %d)", e.message, e.status) }

func (e *engineError) Is(target error) bool {
	return target == errNotFound && e.status == http.StatusNotFound || target == errConflict && e.status == http.StatusConflict
}

// preferredAPIVersion is the Engine API version requests are made with,
// lowered at start to what an older engine supports.
const preferredAPIVersion = "1.43"

type engine struct {
	client  *http.Client
	version string
}

func newEngine(socket string) *engine {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns: 16,
	}
	return &engine{client: &http.Client{Transport: transport}, version: preferredAPIVersion}
}

// negotiate asks the engine for its API version, as the Docker CLI does.
func (e *engine) negotiate(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/version", nil)
	if err != nil {
		return err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var v struct{ APIVersion string }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return fmt.Errorf("docker /version: %w", err)
	}
	if v.APIVersion != "" && compareAPIVersions(v.APIVersion, preferredAPIVersion) < 0 {
		e.version = v.APIVersion
	}
	return nil
}

func compareAPIVersions(a, b string) int {
	parse := func(v string) (int, int) {
		maj, min, _ := strings.Cut(v, ".")
		x, _ := strconv.Atoi(maj)
		y, _ := strconv.Atoi(min)
		return x, y
	}
	a1, a2 := parse(a)
	b1, b2 := parse(b)
	if a1 != b1 {
		return a1 - b1
	}
	return a2 - b2
}

// request sends one call; the caller closes the body. Non-2xx answers
// become engineErrors.
func (e *engine) request(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	u := "http://docker/v" + e.version + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotModified {
		defer resp.Body.Close()
		var m struct{ Message string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(b))
		}
		return nil, &engineError{status: resp.StatusCode, message: m.Message}
	}
	return resp, nil
}

// call is a short request whose JSON answer, if any, is decoded into out.
func (e *engine) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	resp, err := e.request(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// References are validated by admission, so they are safe in a URL path.
func (e *engine) inspectImage(ctx context.Context, ref string) (string, bool, error) {
	var img struct{ Config struct{ User string } }
	err := e.call(ctx, http.MethodGet, "/images/"+ref+"/json", nil, nil, &img)
	if errors.Is(err, errNotFound) {
		return "", false, nil
	}
	return img.Config.User, err == nil, err
}

// pullImage pulls and reads the progress stream to its end: a pull reports
// its failure in the stream, after a 200.
func (e *engine) pullImage(ctx context.Context, ref string) error {
	repo, tag := splitImageRef(ref)
	resp, err := e.request(ctx, http.MethodPost, "/images/create", url.Values{"fromImage": {repo}, "tag": {tag}}, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var msg struct {
			Error       string
			ErrorDetail struct{ Message string }
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && (msg.Error != "" || msg.ErrorDetail.Message != "") {
			return errors.New(cmp.Or(msg.ErrorDetail.Message, msg.Error))
		}
	}
	return sc.Err()
}

// splitImageRef splits a reference into what /images/create takes: the
// repository and a tag or digest. The tag is after the last ':' that follows
// the last '/', so a registry port is not taken for a tag.
func splitImageRef(ref string) (repo, tag string) {
	if name, digest, ok := strings.Cut(ref, "@"); ok {
		repo, _ = splitImageRef(name)
		return repo, digest
	}
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, "latest"
}

func (e *engine) createContainer(ctx context.Context, name string, body *createBody) (string, error) {
	var out struct{ ID string }
	err := e.call(ctx, http.MethodPost, "/containers/create", url.Values{"name": {name}}, body, &out)
	return out.ID, err
}

func (e *engine) startContainer(ctx context.Context, id string) error {
	return e.call(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/start", nil, nil, nil)
}

// waitContainer blocks until the container is not running.
func (e *engine) waitContainer(ctx context.Context, id string) error {
	resp, err := e.request(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/wait", url.Values{"condition": {"not-running"}}, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func (e *engine) inspectContainer(ctx context.Context, id string) (containerInfo, error) {
	var c struct {
		ID    string
		State struct {
			Running               bool
			ExitCode              int
			OOMKilled             bool
			StartedAt, FinishedAt string
		}
		Config struct{ Labels map[string]string }
	}
	if err := e.call(ctx, http.MethodGet, "/containers/"+url.PathEscape(id)+"/json", nil, nil, &c); err != nil {
		return containerInfo{}, err
	}
	return containerInfo{ID: c.ID, Labels: c.Config.Labels, Running: c.State.Running, ExitCode: c.State.ExitCode,
		OOMKilled: c.State.OOMKilled, StartedAt: dockerTime(c.State.StartedAt), FinishedAt: dockerTime(c.State.FinishedAt)}, nil
}

func (e *engine) listContainers(ctx context.Context, labels map[string]string) ([]string, error) {
	var filter []string
	for k, v := range labels {
		filter = append(filter, k+"="+v)
	}
	f, err := json.Marshal(map[string][]string{"label": filter})
	if err != nil {
		return nil, err
	}
	var out []struct{ ID string }
	if err := e.call(ctx, http.MethodGet, "/containers/json", url.Values{"all": {"1"}, "filters": {string(f)}}, nil, &out); err != nil {
		return nil, err
	}
	ids := make([]string, len(out))
	for i, c := range out {
		ids[i] = c.ID
	}
	return ids, nil
}

func (e *engine) stopContainer(ctx context.Context, id string, grace int) error {
	err := e.call(ctx, http.MethodPost, "/containers/"+url.PathEscape(id)+"/stop", url.Values{"t": {strconv.Itoa(grace)}}, nil, nil)
	if errors.Is(err, errNotFound) {
		return nil
	}
	return err
}

func (e *engine) removeContainer(ctx context.Context, id string) error {
	err := e.call(ctx, http.MethodDelete, "/containers/"+url.PathEscape(id), url.Values{"force": {"1"}, "v": {"1"}}, nil, nil)
	if errors.Is(err, errNotFound) {
		return nil
	}
	return err
}

func (e *engine) containerLogs(ctx context.Context, id string, opts logOptions) (io.ReadCloser, error) {
	q := url.Values{"stdout": {"1"}, "stderr": {"1"}, "tail": {opts.tail}}
	if opts.follow {
		q.Set("follow", "1")
	}
	if opts.timestamps {
		q.Set("timestamps", "1")
	}
	resp, err := e.request(ctx, http.MethodGet, "/containers/"+url.PathEscape(id)+"/logs", q, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// demux copies the payloads of Docker's multiplexed log stream (8-byte
// headers: stream, 3 zero bytes, big-endian length), stdout and stderr
// interleaved as the kubelet shows them; flush is called after each frame.
func demux(dst io.Writer, src io.Reader, flush func()) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		if _, err := io.CopyN(dst, src, n); err != nil {
			return err
		}
		flush()
	}
}
