package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDocker runs containers instantly: each exits at start with the code
// configured for its container name, unless held running until released.
type fakeDocker struct {
	mu         sync.Mutex
	images     map[string]bool
	pullFails  int
	pullError  string // what a failing pull says; a transient error by default
	exitCodes  map[string]int
	hold       map[string]chan struct{}
	containers map[string]*fakeContainer
	calls      []string
	next       int
}

type fakeContainer struct {
	id, name string
	body     *createBody
	started  bool
	done     chan struct{}
	exit     int
	stopped  bool
}

func newFakeDocker() *fakeDocker {
	return &fakeDocker{images: map[string]bool{}, exitCodes: map[string]int{}, hold: map[string]chan struct{}{},
		containers: map[string]*fakeContainer{}}
}

func (f *fakeDocker) log(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeDocker) inspectImage(_ context.Context, ref string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return "", f.images[ref], nil
}

func (f *fakeDocker) pullImage(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log("pull %s", ref)
	if f.pullFails > 0 {
		f.pullFails--
		if f.pullError != "" {
			return errors.New(f.pullError)
		}
		return errors.New("Get \"http://127.0.0.1:5000/v2/\": dial tcp 127.0.0.1:5000: connect: connection refused")
	}
	f.images[ref] = true
	return nil
}

func (f *fakeDocker) createContainer(_ context.Context, name string, body *createBody) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.name == name {
			return "", &engineError{status: 409, message: "name in use"}
		}
	}
	f.next++
	id := fmt.Sprintf("id%d", f.next)
	f.containers[id] = &fakeContainer{id: id, name: name, body: body, done: make(chan struct{})}
	f.log("create %s", body.Labels[labelContainer])
	return id, nil
}

func (f *fakeDocker) startContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	c.started = true
	name := c.body.Labels[labelContainer]
	c.exit = f.exitCodes[name]
	f.log("start %s", name)
	if hold := f.hold[name]; hold != nil {
		go func() { <-hold; close(c.done) }()
	} else {
		close(c.done)
	}
	return nil
}

func (f *fakeDocker) waitContainer(ctx context.Context, id string) error {
	f.mu.Lock()
	c := f.containers[id]
	f.mu.Unlock()
	if c == nil {
		return errNotFound
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeDocker) inspectContainer(_ context.Context, id string) (containerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return containerInfo{}, &engineError{status: 404, message: "no such container"}
	}
	info := containerInfo{ID: id, Labels: c.body.Labels, ExitCode: c.exit, StartedAt: "2024-01-01T00:00:00Z"}
	select {
	case <-c.done:
		info.FinishedAt = "2024-01-01T00:00:01Z"
	default:
		info.Running = true
	}
	return info, nil
}

func (f *fakeDocker) listContainers(_ context.Context, labels map[string]string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, c := range f.containers {
		match := true
		for k, v := range labels {
			match = match && c.body.Labels[k] == v
		}
		if match {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (f *fakeDocker) stopContainer(_ context.Context, id string, _ int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.containers[id]; c != nil {
		c.stopped = true
		if hold := f.hold[c.body.Labels[labelContainer]]; hold != nil {
			select {
			case <-hold:
			default:
				close(hold)
			}
		}
	}
	return nil
}

func (f *fakeDocker) removeContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.containers[id]; c != nil {
		f.log("remove %s", c.body.Labels[labelContainer])
	}
	delete(f.containers, id)
	return nil
}

func (f *fakeDocker) containerLogs(context.Context, string, logOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(string(frame(1, "hello\n")))), nil
}

func (f *fakeDocker) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func testRunner(t *testing.T, d docker) *runner {
	t.Helper()
	dir := t.TempDir()
	st, err := openStore(filepath.Join(dir, "pods.json"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	rc := testRunConfig()
	rc.stateDir = dir
	r := newRunner(rc, st, d, []byte("CA PEM"))
	r.pullBackoff, r.retryDelay = time.Millisecond, time.Millisecond
	return r
}

func createPod(t *testing.T, r *runner, p *Pod) string {
	t.Helper()
	u, err := testAdmission().admit("tasks", p)
	if err != nil {
		t.Fatal(err)
	}
	initialStatus(p, now())
	stored, err := r.store.create(p, "pod-token", u, bigQuota)
	if err != nil {
		t.Fatal(err)
	}
	return stored.Metadata.Name
}

func waitRun(t *testing.T, r *runner, name string) {
	t.Helper()
	r.mu.Lock()
	run := r.runs[name]
	r.mu.Unlock()
	select {
	case <-run.done:
	case <-time.After(5 * time.Second):
		t.Fatal("pod run did not end")
	}
}

func TestRunnerHappyPath(t *testing.T) {
	d := newFakeDocker()
	d.images["cytomine/app-engine-tasks-runner:0165ef7"] = true
	r := testRunner(t, d)
	name := createPod(t, r, upstreamPod(t))
	r.launch(name)
	waitRun(t, r, name)

	p, _ := r.store.get(name)
	if p.Status.Phase != phaseSucceeded {
		t.Fatalf("phase = %s: %+v", p.Status.Phase, p.Status)
	}
	for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		if s.State.Terminated == nil || s.State.Terminated.Reason != "Completed" || !strings.HasPrefix(s.ContainerID, "docker://id") {
			t.Errorf("%s: %+v", s.Name, s)
		}
	}
	calls := d.callLog()
	want := []string{
		"pull 127.0.0.1:5000/org/cytomine/fallback/test/add:1.0.0",
		"create permissions", "start permissions",
		"create inputs-provisioning", "start inputs-provisioning",
		"create task", "start task", "create outputs-sending", "start outputs-sending",
	}
	if !slices.Equal(calls, want) {
		t.Errorf("calls = %q\nwant %q", calls, want)
	}
	sa := r.rc.serviceAccountDir(name)
	for file, content := range map[string]string{"token": "pod-token", "namespace": "tasks", "ca.crt": "CA PEM"} {
		if b, err := os.ReadFile(filepath.Join(sa, file)); err != nil || string(b) != content {
			t.Errorf("%s = %q, %v", file, b, err)
		}
	}
	fi, err := os.Stat(filepath.Join(r.rc.stateDir, "host/tmp/app-engine/task-run-inputs-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d"))
	if err != nil || fi.Mode().Perm() != 0o777 {
		t.Errorf("hostPath folder: %v %v", fi, err)
	}
}

func TestRunnerFailingInitContainer(t *testing.T) {
	d := newFakeDocker()
	d.images["cytomine/app-engine-tasks-runner:0165ef7"] = true
	d.images["127.0.0.1:5000/org/cytomine/fallback/test/add:1.0.0"] = true
	d.exitCodes["inputs-provisioning"] = 6
	r := testRunner(t, d)
	name := createPod(t, r, upstreamPod(t))
	r.launch(name)
	waitRun(t, r, name)

	p, _ := r.store.get(name)
	if p.Status.Phase != phaseFailed {
		t.Fatalf("phase = %s", p.Status.Phase)
	}
	if term := p.Status.InitContainerStatuses[1].State.Terminated; term == nil || term.ExitCode != 6 || term.Reason != "Error" {
		t.Errorf("init status = %+v", p.Status.InitContainerStatuses[1])
	}
	if w := p.Status.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != "PodInitializing" {
		t.Errorf("task status = %+v", p.Status.ContainerStatuses[0])
	}
	for _, c := range d.callLog() {
		if c == "create task" {
			t.Error("regular containers must not start after a failed init container")
		}
	}
}

func TestRunnerImagePullBackOff(t *testing.T) {
	d := newFakeDocker()
	d.pullFails = 2
	r := testRunner(t, d)
	p := testPod("pull", nil)
	p.Spec.Containers[0].Image = "127.0.0.1:5000/org/add:1.0.0"
	name := createPod(t, r, p)
	_, w, _ := r.store.watch(&selector{}, "")
	r.launch(name)
	waitRun(t, r, name)
	r.store.unwatch(w)
	var reasons []string
	for ev := range w.ch {
		if s := ev.Pod.Status.ContainerStatuses[0].State.Waiting; s != nil {
			reasons = append(reasons, s.Reason)
		}
	}
	want := []string{"ErrImagePull", "ImagePullBackOff", "ErrImagePull", "ImagePullBackOff", "ContainerCreating"}
	if !slices.Equal(reasons[:len(want)], want) {
		t.Errorf("waiting reasons = %q", reasons)
	}
	if got, _ := r.store.get(name); got.Status.Phase != phaseSucceeded {
		t.Errorf("phase = %s", got.Status.Phase)
	}
}

func TestRunnerImageTheRegistryDoesNotHoldFailsThePod(t *testing.T) {
	d := newFakeDocker()
	d.pullFails = 100
	d.pullError = "manifest for 127.0.0.1:5000/org/gone:1.0.0 not found: manifest unknown: manifest unknown"
	r := testRunner(t, d)
	p := testPod("gone", nil)
	p.Spec.Containers[0].Image = "127.0.0.1:5000/org/gone:1.0.0"
	name := createPod(t, r, p)
	r.launch(name)
	waitRun(t, r, name)
	got, _ := r.store.get(name)
	if got.Status.Phase != phaseFailed || got.Status.Reason != "ErrImagePull" ||
		!strings.Contains(got.Status.Message, "the registry does not hold image \"127.0.0.1:5000/org/gone:1.0.0\"") {
		t.Errorf("status = %+v", got.Status)
	}
	if d.pullFails != 99 {
		t.Errorf("pulled %d times, want once: the answer is final", 100-d.pullFails)
	}
}

func TestRunnerDeleteStopsAndRemoves(t *testing.T) {
	d := newFakeDocker()
	d.images["busybox:1"] = true
	d.hold["c"] = make(chan struct{})
	r := testRunner(t, d)
	name := createPod(t, r, testPod("held", nil))
	r.launch(name)
	deadline := time.Now().Add(5 * time.Second)
	for p, _ := r.store.get(name); p.Status.Phase != phaseRunning; p, _ = r.store.get(name) {
		if time.Now().After(deadline) {
			t.Fatal("pod never ran")
		}
		time.Sleep(time.Millisecond)
	}
	if _, first, err := r.store.markDeleting(name, deleteGraceSeconds); err != nil || !first {
		t.Fatal(err)
	}
	r.delete(name)
	for _, ok := r.store.get(name); ok; _, ok = r.store.get(name) {
		if time.Now().After(deadline) {
			t.Fatal("pod never removed")
		}
		time.Sleep(time.Millisecond)
	}
	if ids, _ := d.listContainers(context.Background(), nil); len(ids) != 0 {
		t.Errorf("containers left: %v", ids)
	}
	if _, err := os.Stat(r.rc.podDir(name)); !os.IsNotExist(err) {
		t.Errorf("pod folder left: %v", err)
	}
}

func TestEnsureHostDirRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	if err := ensureHostDir(dir, "/tmp/app-engine/a"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(dir, "host/tmp/app-engine/evil")); err != nil {
		t.Fatal(err)
	}
	if err := ensureHostDir(dir, "/tmp/app-engine/evil"); err == nil {
		t.Error("a symlinked hostPath folder must be refused")
	}
	if err := ensureHostDir(dir, "/tmp/app-engine/evil/below"); err == nil {
		t.Error("a path through a symlink must be refused")
	}
}

func TestResumePlan(t *testing.T) {
	p := &Pod{Spec: PodSpec{InitContainers: []Container{{Name: "init"}}, Containers: []Container{{Name: "a"}, {Name: "b"}}}}
	initialStatus(p, "t")
	ok := containerInfo{StartedAt: "t"}
	runningInfo := containerInfo{StartedAt: "t", Running: true}
	cases := []struct {
		name  string
		found map[string]containerInfo
		want  string
	}{
		{"nothing ran", nil, planRestart},
		{"init running", map[string]containerInfo{"init": runningInfo}, planLost},
		{"init failed", map[string]containerInfo{"init": {StartedAt: "t", ExitCode: 1}}, planLost},
		{"one regular missing", map[string]containerInfo{"init": ok, "a": runningInfo}, planLost},
		{"regular created, never started", map[string]containerInfo{"init": ok, "a": runningInfo, "b": {}}, planLost},
		{"all started", map[string]containerInfo{"init": ok, "a": runningInfo, "b": ok}, planResume},
	}
	for _, c := range cases {
		if got := resumePlan(p, c.found); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	p.Status.InitContainerStatuses[0].ContainerID = "docker://x"
	if got := resumePlan(p, nil); got != planLost {
		t.Errorf("containers gone after running: %s", got)
	}
}

func TestReconcile(t *testing.T) {
	d := newFakeDocker()
	d.images["busybox:1"] = true
	d.hold["c"] = make(chan struct{})
	r := testRunner(t, d)
	// "resumed": its container runs; "lost": only its init container exists.
	resumed := createPod(t, r, testPod("resumed", nil))
	p, _ := r.store.get(resumed)
	id, _ := d.createContainer(context.Background(), "x", buildCreateBody(r.rc, p, p.Spec.Containers[0]))
	_ = d.startContainer(context.Background(), id)

	lostPod := testPod("lost", nil)
	lostPod.Spec.InitContainers = []Container{{Name: "init", Image: "busybox:1",
		Resources: ResourceRequirements{Limits: map[string]Quantity{"cpu": "1", "memory": "1Gi"}}}}
	lost := createPod(t, r, lostPod)
	p, _ = r.store.get(lost)
	id, _ = d.createContainer(context.Background(), "y", buildCreateBody(r.rc, p, p.Spec.InitContainers[0]))
	_ = d.startContainer(context.Background(), id)

	fresh := createPod(t, r, testPod("fresh", nil))

	r.reconcile(context.Background())
	if p, _ := r.store.get(lost); p.Status.Phase != phaseFailed || p.Status.Reason != "NodeLost" ||
		p.Status.Message != "task-pods restarted while the pod ran" || p.Status.InitContainerStatuses[0].State.Terminated == nil {
		t.Errorf("lost pod: %+v", p.Status)
	}
	if p, _ := r.store.get(resumed); p.Status.Phase != phaseRunning {
		t.Errorf("resumed pod: %s", p.Status.Phase)
	}
	close(d.hold["c"])
	waitRun(t, r, fresh)
	waitRun(t, r, resumed)
	if p, _ := r.store.get(fresh); p.Status.Phase != phaseSucceeded {
		t.Errorf("fresh pod: %s", p.Status.Phase)
	}
	if p, _ := r.store.get(resumed); p.Status.Phase != phaseSucceeded {
		t.Errorf("resumed pod after exit: %s", p.Status.Phase)
	}
}
