package main

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

type apiFixture struct {
	srv    *httptest.Server
	runner *runner
	docker *fakeDocker
}

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
	d := newFakeDocker()
	d.images["cytomine/app-engine-tasks-runner:0165ef7"] = true
	d.images["127.0.0.1:5000/org/cytomine/fallback/test/add:1.0.0"] = true
	r := testRunner(t, d)
	adm := testAdmission()
	adm.quota = usage{cpuMilli: 2000, memBytes: 8 << 30, pods: 10}
	s := &server{namespace: "tasks", auth: &authenticator{namespace: "tasks", token: "engine", podToken: r.store.podForToken},
		adm: adm, store: r.store, runner: r, docker: d, watchTimeout: time.Minute}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { releaseAll(t, r, d) })
	return &apiFixture{srv: srv, runner: r, docker: d}
}

// releaseAll lets held containers exit and waits for every pod run, so that
// nothing writes in the test's folders after it ends.
func releaseAll(t *testing.T, r *runner, d *fakeDocker) {
	d.mu.Lock()
	for _, hold := range d.hold {
		select {
		case <-hold:
		default:
			close(hold)
		}
	}
	d.mu.Unlock()
	r.mu.Lock()
	names := slices.Collect(maps.Keys(r.runs))
	r.mu.Unlock()
	for _, name := range names {
		waitRun(t, r, name)
	}
}

func (f *apiFixture) do(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func decodeStatus(t *testing.T, body string) Status {
	t.Helper()
	var s Status
	if err := json.Unmarshal([]byte(body), &s); err != nil || s.Kind != "Status" || s.Status != "Failure" {
		t.Fatalf("not a Status: %s", body)
	}
	return s
}

const podsPath = "/api/v1/namespaces/tasks/pods"

func TestAPIErrors(t *testing.T) {
	f := newAPIFixture(t)
	if code, body := f.do(t, "GET", "/version", "", ""); code != 200 || !strings.Contains(body, `"gitVersion":"v1.36.0-task-pods"`) {
		t.Errorf("version: %d %s", code, body)
	}
	code, body := f.do(t, "GET", podsPath, "", "")
	if s := decodeStatus(t, body); code != 401 || s.Reason != "Unauthorized" || s.Code != 401 {
		t.Errorf("no token: %d %s", code, body)
	}
	if code, _ := f.do(t, "GET", podsPath, "wrong", ""); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	code, body = f.do(t, "GET", "/api/v1/namespaces/default/pods", "engine", "")
	want := `pods is forbidden: User "system:serviceaccount:tasks:app-engine" cannot list resource "pods" in API group "" in the namespace "default"`
	if s := decodeStatus(t, body); code != 403 || s.Message != want || s.Reason != "Forbidden" {
		t.Errorf("other namespace: %d %s", code, body)
	}
	if code, body := f.do(t, "GET", podsPath+"/nope", "engine", ""); code != 404 || decodeStatus(t, body).Message != `pods "nope" not found` {
		t.Errorf("missing pod: %d %s", code, body)
	}
	if code, _ := f.do(t, "GET", "/api/v1/namespaces/tasks/services", "engine", ""); code != 404 {
		t.Errorf("other resource: %d", code)
	}
	if code, body := f.do(t, "POST", podsPath+"/x", "engine", "{}"); code != 405 || decodeStatus(t, body).Reason != "MethodNotAllowed" {
		t.Errorf("POST on a pod: %d %s", code, body)
	}
	if code, _ := f.do(t, "PUT", podsPath+"/x", "engine", "{}"); code != 403 {
		t.Errorf("update: %d", code)
	}
	if code, body := f.do(t, "POST", podsPath, "engine", "{not json"); code != 400 || decodeStatus(t, body).Reason != "BadRequest" {
		t.Errorf("bad body: %d %s", code, body)
	}
	if code, _ := f.do(t, "GET", podsPath+"?labelSelector=app+in+(a)", "engine", ""); code != 400 {
		t.Errorf("set-based selector: %d", code)
	}
}

func TestAPIPodLifecycle(t *testing.T) {
	f := newAPIFixture(t)
	code, body := f.do(t, "POST", podsPath, "engine", upstreamPodJSON)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var created Pod
	if err := json.Unmarshal([]byte(body), &created); err != nil || created.Status.Phase != phasePending || created.Metadata.UID == "" {
		t.Fatalf("created = %s", body)
	}
	name := created.Metadata.Name
	if code, body := f.do(t, "POST", podsPath, "engine", upstreamPodJSON); code != 409 || decodeStatus(t, body).Reason != "AlreadyExists" {
		t.Errorf("same name again: %d %s", code, body)
	}
	waitRun(t, f.runner, name)

	// The pod's own token reads its own status, and nothing else.
	token := f.runner.store.token(name)
	code, body = f.do(t, "GET", podsPath+"/"+name+"/status", token, "")
	var got Pod
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got.Status.Phase != phaseSucceeded {
		t.Fatalf("own status: %d %s", code, body)
	}
	if got.Status.ContainerStatuses[0].Name != "task" || got.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Errorf("task state: %+v", got.Status.ContainerStatuses[0])
	}
	if code, _ := f.do(t, "GET", podsPath+"/other/status", token, ""); code != 403 {
		t.Errorf("other pod with a pod token: %d", code)
	}
	if code, _ := f.do(t, "GET", podsPath, token, ""); code != 403 {
		t.Errorf("list with a pod token: %d", code)
	}
	if code, _ := f.do(t, "POST", podsPath, token, upstreamPodJSON); code != 403 {
		t.Errorf("create with a pod token: %d", code)
	}

	if code, body := f.do(t, "GET", podsPath+"/"+name+"/log?container=task", "engine", ""); code != 200 || body != "hello\n" {
		t.Errorf("log: %d %q", code, body)
	}
	code, body = f.do(t, "GET", podsPath+"/"+name+"/log", "engine", "")
	want := "a container name must be specified for pod " + name + ", choose one of: [task outputs-sending] or one of the init containers: [permissions inputs-provisioning]"
	if code != 400 || decodeStatus(t, body).Message != want {
		t.Errorf("log without container: %d %s", code, body)
	}

	code, body = f.do(t, "GET", podsPath+"?labelSelector=app%3Dtask&fieldSelector=metadata.name%3D"+name, "engine", "")
	var list PodList
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Items) != 1 || list.Kind != "PodList" {
		t.Errorf("list: %d %s", code, body)
	}

	code, body = f.do(t, "DELETE", podsPath+"/"+name, "engine", "")
	var deleted Pod
	if err := json.Unmarshal([]byte(body), &deleted); code != 200 || err != nil || deleted.Metadata.DeletionTimestamp == "" {
		t.Fatalf("delete: %d %s", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _ := f.do(t, "GET", podsPath+"/"+name, "engine", ""); code == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pod not gone after delete")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, _ := f.do(t, "GET", podsPath+"/"+name+"/status", token, ""); code != 401 {
		t.Errorf("the token of a deleted pod must be dead: %d", code)
	}
}

func TestAPIQuotaRefusal(t *testing.T) {
	f := newAPIFixture(t)
	f.docker.hold["task"] = make(chan struct{})
	if code, body := f.do(t, "POST", podsPath, "engine", upstreamPodJSON); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	second := strings.Replace(upstreamPodJSON, `"name": "add-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d"`, `"name": "add-2"`, 1)
	code, body := f.do(t, "POST", podsPath, "engine", second)
	want := `pods "add-2" is forbidden: exceeded quota: task-quota, requested: limits.cpu=1500m, used: limits.cpu=1500m, limited: limits.cpu=2`
	if s := decodeStatus(t, body); code != 403 || s.Message != want {
		t.Errorf("over the quota: %d %s", code, body)
	}
}

func TestAPIWatch(t *testing.T) {
	f := newAPIFixture(t)
	f.docker.hold["task"] = make(chan struct{})
	_, body := f.do(t, "GET", podsPath, "engine", "")
	var list PodList
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+podsPath+"?watch=true&labelSelector=app%3Dtask&resourceVersion="+list.Metadata.ResourceVersion, nil)
	req.Header.Set("Authorization", "Bearer engine")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("watch: %d", resp.StatusCode)
	}
	if code, body := f.do(t, "POST", podsPath, "engine", upstreamPodJSON); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var seen []string
	for sc.Scan() {
		var ev struct {
			Type   string
			Object Pod
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %s: %v", sc.Bytes(), err)
		}
		seen = append(seen, ev.Type+" "+ev.Object.Status.Phase)
		if ev.Object.Status.Phase == phaseRunning {
			break
		}
	}
	if len(seen) < 2 || seen[0] != "ADDED Pending" || seen[len(seen)-1] != "MODIFIED Running" {
		t.Errorf("events = %q", seen)
	}

	// A resourceVersion older than the history: one ERROR event, then the end.
	f.runner.store.mu.Lock()
	f.runner.store.history = f.runner.store.history[len(f.runner.store.history)-1:]
	f.runner.store.mu.Unlock()
	code, body := f.do(t, "GET", podsPath+"?watch=1&resourceVersion=1", "engine", "")
	var ev struct {
		Type   string
		Object Status
	}
	if err := json.Unmarshal([]byte(body), &ev); code != 200 || err != nil || ev.Type != "ERROR" || ev.Object.Code != 410 || ev.Object.Reason != "Expired" {
		t.Errorf("expired watch: %d %s", code, body)
	}
	// timeoutSeconds ends the stream.
	start := time.Now()
	if code, body := f.do(t, "GET", podsPath+"?watch=true&timeoutSeconds=1", "engine", ""); code != 200 || !strings.HasPrefix(body, `{"type":"ADDED"`) || time.Since(start) > 5*time.Second {
		t.Errorf("timed watch: %d %s", code, body)
	}
}
