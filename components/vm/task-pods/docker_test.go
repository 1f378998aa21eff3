package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSplitImageRef(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct{ ref, repo, tag string }{
		{"busybox", "busybox", "latest"},
		{"busybox:1.36", "busybox", "1.36"},
		{"cytomine/app-engine-tasks-runner", "cytomine/app-engine-tasks-runner", "latest"},
		{"127.0.0.1:5000/org/cytomine/fallback/test/add:1.0.0", "127.0.0.1:5000/org/cytomine/fallback/test/add", "1.0.0"},
		{"registry:5000/a/b", "registry:5000/a/b", "latest"},
		{"registry.example.org/a/b:v2", "registry.example.org/a/b", "v2"},
		{"a/b@" + digest, "a/b", digest},
		{"registry:5000/a/b:1@" + digest, "registry:5000/a/b", digest},
	}
	for _, c := range cases {
		repo, tag := splitImageRef(c.ref)
		if repo != c.repo || tag != c.tag {
			t.Errorf("splitImageRef(%q) = %q, %q; want %q, %q", c.ref, repo, tag, c.repo, c.tag)
		}
		if !imageRefRE.MatchString(c.ref) {
			t.Errorf("%q should be a valid reference", c.ref)
		}
	}
}

func frame(stream byte, s string) []byte {
	h := make([]byte, 8)
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(s)))
	return append(h, s...)
}

func TestDemux(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(1, "hi\n"))
	in.Write(frame(2, "oops\n"))
	in.Write(frame(1, ""))
	in.Write(frame(1, "bye\n"))
	var out bytes.Buffer
	flushes := 0
	if err := demux(&out, &in, func() { flushes++ }); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hi\noops\nbye\n" || flushes != 4 {
		t.Errorf("demux = %q, %d flushes", out.String(), flushes)
	}
	if err := demux(&out, bytes.NewReader(frame(1, "cut")[:9]), func() {}); err == nil {
		t.Error("a truncated frame must be an error")
	}
}

// fakeEngine serves handler on a unix socket, as dockerd does.
func fakeEngine(t *testing.T, handler http.HandlerFunc) *engine {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(handler)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return newEngine(sock)
}

func TestEngineCalls(t *testing.T) {
	var got []string
	e := fakeEngine(t, func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path+" "+r.URL.RawQuery)
		switch {
		case r.URL.Path == "/version":
			fmt.Fprint(w, `{"ApiVersion":"1.41"}`)
		case strings.HasSuffix(r.URL.Path, "/images/missing:1/json"):
			w.WriteHeader(404)
			fmt.Fprint(w, `{"message":"No such image: missing:1"}`)
		case strings.HasSuffix(r.URL.Path, "/images/create"):
			fmt.Fprintln(w, `{"status":"Pulling from org/add"}`)
			fmt.Fprintln(w, `{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}`)
		case strings.HasSuffix(r.URL.Path, "/containers/create"):
			w.WriteHeader(409)
			fmt.Fprint(w, `{"message":"Conflict. The container name is already in use"}`)
		case strings.HasSuffix(r.URL.Path, "/containers/json"):
			var f map[string][]string
			if err := json.Unmarshal([]byte(r.URL.Query().Get("filters")), &f); err != nil || len(f["label"]) != 1 {
				t.Errorf("filters = %q", r.URL.Query().Get("filters"))
			}
			fmt.Fprint(w, `[{"Id":"c1"},{"Id":"c2"}]`)
		case strings.HasSuffix(r.URL.Path, "/stop"):
			w.WriteHeader(304)
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, `{"message":"No such container"}`)
		}
	})
	ctx := context.Background()
	if err := e.negotiate(ctx); err != nil || e.version != "1.41" {
		t.Fatalf("negotiate: %v, version %s", err, e.version)
	}
	if _, found, err := e.inspectImage(ctx, "missing:1"); found || err != nil {
		t.Errorf("inspectImage(missing) = %v, %v", found, err)
	}
	if err := e.pullImage(ctx, "127.0.0.1:5000/org/add:1.0.0"); err == nil || err.Error() != "manifest unknown" {
		t.Errorf("pullImage = %v", err)
	}
	if _, err := e.createContainer(ctx, "tasks_p_c", &createBody{}); !errors.Is(err, errConflict) {
		t.Errorf("createContainer = %v, want a conflict", err)
	}
	if ids, err := e.listContainers(ctx, map[string]string{labelPod: "p"}); err != nil || len(ids) != 2 {
		t.Errorf("listContainers = %v, %v", ids, err)
	}
	if err := e.stopContainer(ctx, "c1", 10); err != nil {
		t.Errorf("stop of a stopped container: %v", err)
	}
	if err := e.removeContainer(ctx, "gone"); err != nil {
		t.Errorf("remove of a missing container: %v", err)
	}
	if _, err := e.inspectContainer(ctx, "gone"); !errors.Is(err, errNotFound) {
		t.Errorf("inspectContainer = %v", err)
	}
	want := "POST /v1.41/images/create fromImage=127.0.0.1%3A5000%2Forg%2Fadd&tag=1.0.0"
	if !slices.Contains(got, want) {
		t.Errorf("requests %q lack %q", got, want)
	}
}

func TestNegotiateKeepsPreferredVersion(t *testing.T) {
	e := fakeEngine(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"ApiVersion":"1.47"}`) })
	if err := e.negotiate(context.Background()); err != nil || e.version != preferredAPIVersion {
		t.Errorf("negotiate: %v, version %s", err, e.version)
	}
}
