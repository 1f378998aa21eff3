package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The runner is the kubelet: one goroutine per pod pulls images, runs the
// init containers one after another, then the regular containers together,
// and records every container state change in the store.

const (
	maxPullBackoff     = 5 * time.Minute
	deleteGraceSeconds = 10
)

type runner struct {
	rc          *runConfig
	store       *store
	docker      docker
	caPEM       []byte
	pullBackoff time.Duration // first image pull retry delay, doubled up to maxPullBackoff
	retryDelay  time.Duration // between attempts to reach the engine again

	mu     sync.Mutex
	runs   map[string]*podRun // kept after the run ends, until the pod is deleted
	halted map[string]bool    // pods being deleted: never (re)started
}

type podRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newRunner(rc *runConfig, st *store, d docker, caPEM []byte) *runner {
	return &runner{rc: rc, store: st, docker: d, caPEM: caPEM, pullBackoff: 10 * time.Second,
		retryDelay: 2 * time.Second, runs: map[string]*podRun{}, halted: map[string]bool{}}
}

// spawn runs fn as the pod's goroutine, cancelled when the pod is deleted.
func (r *runner) spawn(name string, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	run := &podRun{cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted[name] {
		cancel()
		return
	}
	r.runs[name] = run
	go func() {
		defer close(run.done)
		defer cancel()
		fn(ctx)
	}()
}

// halt cancels the pod's goroutine, if any, waits for it to end, and keeps
// any other from starting until the deletion is done.
func (r *runner) halt(name string) {
	r.mu.Lock()
	run := r.runs[name]
	delete(r.runs, name)
	r.halted[name] = true
	r.mu.Unlock()
	if run != nil {
		run.cancel()
		<-run.done
	}
}

// launch runs a newly created pod.
func (r *runner) launch(name string) {
	r.spawn(name, func(ctx context.Context) { r.runPod(ctx, name) })
}

func (r *runner) runPod(ctx context.Context, name string) {
	p, ok := r.store.get(name)
	if !ok {
		return
	}
	if err := r.prepareFolders(p); err != nil {
		r.failPod(name, "FolderError", "task-pods could not prepare the pod's folders: "+err.Error())
		return
	}
	for _, c := range p.Spec.allContainers() {
		if !r.ensureImage(ctx, p, c) {
			return
		}
	}
	for _, c := range p.Spec.InitContainers {
		id, ok := r.startContainer(ctx, p, c)
		if !ok {
			return // recorded as a start error: the pod failed
		}
		t, ok := r.waitExit(ctx, id)
		if !ok {
			return
		}
		r.setState(name, c.Name, ContainerState{Terminated: t})
		if t.ExitCode != 0 {
			return
		}
	}
	if len(p.Spec.InitContainers) > 0 {
		r.record(name, func(st *PodStatus) {
			for i := range st.ContainerStatuses {
				st.ContainerStatuses[i].State = ContainerState{Waiting: &StateWaiting{Reason: "ContainerCreating"}}
			}
		})
	}
	ids := map[string]string{}
	for _, c := range p.Spec.Containers {
		if id, ok := r.startContainer(ctx, p, c); ok {
			ids[c.Name] = id
		}
	}
	r.waitAll(ctx, name, ids)
}

// record changes a pod's status and recomputes what derives from it.
func (r *runner) record(name string, fn func(st *PodStatus)) {
	r.store.update(name, func(p *Pod) bool {
		fn(&p.Status)
		refreshStatus(&p.Status, now())
		return true
	})
}

func (r *runner) setState(name, container string, state ContainerState) {
	r.record(name, func(st *PodStatus) {
		if s := statusOf(st, container); s != nil {
			s.State = state
			if t := state.Terminated; t != nil && t.ContainerID != "" {
				s.ContainerID = t.ContainerID
			}
		}
	})
}

func statusOf(st *PodStatus, container string) *ContainerStatus {
	for _, list := range [][]ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
		for i := range list {
			if list[i].Name == container {
				return &list[i]
			}
		}
	}
	return nil
}

func (r *runner) failPod(name, reason, message string) {
	r.record(name, func(st *PodStatus) {
		st.Phase, st.Reason, st.Message = phaseFailed, reason, message
	})
}

// prepareFolders writes the service-account folder and creates the volume folders.
func (r *runner) prepareFolders(p *Pod) error {
	name := p.Metadata.Name
	if err := os.MkdirAll(filepath.Join(r.rc.stateDir, "pods"), 0o700); err != nil {
		return err
	}
	if mountsServiceAccount(p) {
		dir := r.rc.serviceAccountDir(name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		// World-readable like a projected token: the pod may run as any user.
		for file, content := range map[string][]byte{
			"token": []byte(r.store.token(name)), "namespace": []byte(p.Metadata.Namespace), "ca.crt": r.caPEM,
		} {
			if err := os.WriteFile(filepath.Join(dir, file), content, 0o644); err != nil {
				return err
			}
		}
	}
	for _, v := range p.Spec.Volumes {
		var err error
		if v.HostPath != nil {
			err = ensureHostDir(r.rc.stateDir, v.HostPath.Path)
		} else {
			err = mkdirShared(r.rc.emptyDir(name, v.Name))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func mkdirShared(dir string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	return os.Chmod(dir, 0o777) // despite the umask: any container user may write
}

// ensureHostDir creates <stateDir>/host<p> and refuses a path through a
// symbolic link: pods can write in these folders, and Docker would follow a
// link they planted out to the host's files.
func ensureHostDir(stateDir, p string) error {
	dir := filepath.Join(stateDir, "host")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	parts := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	for i, part := range parts {
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o777); err == nil {
			if err := os.Chmod(dir, 0o777); err != nil {
				return err
			}
		} else if !errors.Is(err, fs.ErrExist) {
			return err
		}
		fi, err := os.Lstat(dir)
		switch {
		case err != nil:
			return err
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("hostPath %s: %s is a symbolic link", p, dir)
		case !fi.IsDir() && i < len(parts)-1:
			return fmt.Errorf("hostPath %s: %s is not a directory", p, dir)
		}
	}
	return nil
}

// ensureImage makes the image present, retrying failed pulls with the
// kubelet's back-off until it works or the pod is deleted (false).
func (r *runner) ensureImage(ctx context.Context, p *Pod, c Container) bool {
	delay, failed := r.pullBackoff, false
	for {
		err := r.pullIfNeeded(ctx, c)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			if failed {
				r.setState(p.Metadata.Name, c.Name, ContainerState{Waiting: &StateWaiting{Reason: defaultWaitingReason(p)}})
			}
			return true
		}
		failed = true
		log.Printf("pod %s: container %s: image %s: %v", p.Metadata.Name, c.Name, c.Image, err)
		reason := "ErrImagePull"
		if c.ImagePullPolicy == "Never" {
			reason = "ErrImageNeverPull"
		}
		r.setState(p.Metadata.Name, c.Name, ContainerState{Waiting: &StateWaiting{Reason: reason, Message: err.Error()}})
		// Unlike the kubelet, which retries for ever: a registry that answered "manifest unknown"
		// does not hold the image, and the app engine's run would wait in QUEUING for good. A
		// failed pod makes it FAILED (PodInformer.java: Failed is a final state).
		if strings.Contains(err.Error(), "manifest unknown") {
			r.failPod(p.Metadata.Name, "ErrImagePull", fmt.Sprintf("the registry does not hold image %q: %v", c.Image, err))
			return false
		}
		r.setState(p.Metadata.Name, c.Name, ContainerState{Waiting: &StateWaiting{Reason: "ImagePullBackOff",
			Message: fmt.Sprintf("Back-off pulling image %q: %v", c.Image, err)}})
		if !sleep(ctx, delay) {
			return false
		}
		delay = min(delay*2, maxPullBackoff)
	}
}

func defaultWaitingReason(p *Pod) string {
	if len(p.Spec.InitContainers) > 0 {
		return "PodInitializing"
	}
	return "ContainerCreating"
}

func (r *runner) pullIfNeeded(ctx context.Context, c Container) error {
	if c.ImagePullPolicy != "Always" {
		_, found, err := r.docker.inspectImage(ctx, c.Image)
		if err != nil || found {
			return err
		}
		if c.ImagePullPolicy == "Never" {
			return fmt.Errorf("container image %q is not present with pull policy of Never", c.Image)
		}
	}
	return r.docker.pullImage(ctx, c.Image)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// startContainer creates and starts a container and records it running. A
// container that cannot be created or started is recorded as terminated
// (exit code 128, as the kubelet reports a StartError) and ok is false.
func (r *runner) startContainer(ctx context.Context, p *Pod, c Container) (id string, ok bool) {
	name := p.Metadata.Name
	fail := func(reason string, err error) (string, bool) {
		log.Printf("pod %s: container %s: %v", name, c.Name, err)
		t := &StateTerminated{ExitCode: 128, Reason: reason, Message: err.Error(), StartedAt: now(), FinishedAt: now()}
		if id != "" {
			t.ContainerID = "docker://" + id
		}
		r.setState(name, c.Name, ContainerState{Terminated: t})
		return "", false
	}
	if err := r.checkNonRoot(ctx, p, c); err != nil {
		return fail("CreateContainerConfigError", err)
	}
	// Not cancelled midway by a deletion: whatever is created gets its labels,
	// so that the deletion, which waits for this goroutine, finds it.
	cctx := context.WithoutCancel(ctx)
	id, err := r.createContainer(cctx, p, c)
	if err == nil {
		err = r.docker.startContainer(cctx, id)
	}
	if err != nil {
		return fail("StartError", err)
	}
	r.record(name, func(st *PodStatus) {
		if s := statusOf(st, c.Name); s != nil {
			s.ContainerID = "docker://" + id
			s.State = ContainerState{Running: &StateRunning{StartedAt: now()}}
		}
	})
	return id, true
}

// createContainer creates the container, first removing a container of the
// same name left by an earlier pod of the same name, and only one of ours.
func (r *runner) createContainer(ctx context.Context, p *Pod, c Container) (string, error) {
	name := dockerName(r.rc.network, p.Metadata.Name, c.Name)
	body := buildCreateBody(r.rc, p, c)
	id, err := r.docker.createContainer(ctx, name, body)
	if !errors.Is(err, errConflict) {
		return id, err
	}
	stale, lerr := r.docker.listContainers(ctx, map[string]string{
		labelNetwork: r.rc.network, labelNamespace: p.Metadata.Namespace, labelPod: p.Metadata.Name, labelContainer: c.Name})
	if lerr != nil || len(stale) == 0 {
		return "", err
	}
	for _, old := range stale {
		if err := r.docker.removeContainer(ctx, old); err != nil {
			return "", err
		}
	}
	return r.docker.createContainer(ctx, name, body)
}

// checkNonRoot is the kubelet's runAsNonRoot check, against the image's user
// when the pod does not set one.
func (r *runner) checkNonRoot(ctx context.Context, p *Pod, c Container) error {
	uid, _, nonRoot := effectiveUser(c, p.Spec.SecurityContext)
	if !nonRoot {
		return nil
	}
	if uid != nil {
		if *uid == 0 {
			return errors.New("container's runAsUser breaks non-root policy")
		}
		return nil
	}
	user, _, err := r.docker.inspectImage(ctx, c.Image)
	if err != nil {
		return err
	}
	u, _, _ := strings.Cut(user, ":")
	if u == "" || u == "root" || u == "0" {
		return errors.New("container has runAsNonRoot and image will run as root")
	}
	if _, err := strconv.Atoi(u); err != nil {
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root", u)
	}
	return nil
}

// waitExit waits until the container has exited and returns its terminated
// state; ok is false when the pod's goroutine is cancelled. Engine errors are
// retried: the container keeps running meanwhile.
func (r *runner) waitExit(ctx context.Context, id string) (*StateTerminated, bool) {
	for {
		err := r.docker.waitContainer(ctx, id)
		if ctx.Err() != nil {
			return nil, false
		}
		info, ierr := r.docker.inspectContainer(ctx, id)
		switch {
		case ierr == nil && !info.Running:
			return terminatedState(info), true
		case errors.Is(ierr, errNotFound):
			return &StateTerminated{ExitCode: 137, Reason: "ContainerStatusUnknown",
				Message: "The container could not be located", FinishedAt: now(), ContainerID: "docker://" + id}, true
		}
		log.Printf("waiting for container %s: %v %v", id, err, ierr)
		if !sleep(ctx, r.retryDelay) {
			return nil, false
		}
	}
}

// waitAll records each container's termination as it happens; the pod's
// phase follows from the states.
func (r *runner) waitAll(ctx context.Context, name string, ids map[string]string) {
	var wg sync.WaitGroup
	for container, id := range ids {
		wg.Go(func() {
			if t, ok := r.waitExit(ctx, id); ok {
				r.setState(name, container, ContainerState{Terminated: t})
			}
		})
	}
	wg.Wait()
}

// delete finishes a deletion in the background: the pod's goroutine stops,
// its containers are stopped (grace period) and removed, its folder removed,
// and only then the object is removed (DELETED). Engine errors are retried;
// a deletion cut short by a restart is resumed by reconcile.
func (r *runner) delete(name string) {
	go func() {
		r.halt(name)
		for !r.removeContainers(name) {
			time.Sleep(r.retryDelay)
		}
		if err := os.RemoveAll(r.rc.podDir(name)); err != nil {
			log.Printf("pod %s: removing its folder: %v", name, err)
		}
		r.mu.Lock()
		delete(r.halted, name) // the name may be reused once the pod is gone
		r.mu.Unlock()
		r.store.remove(name)
	}()
}

func (r *runner) removeContainers(name string) bool {
	p, ok := r.store.get(name)
	if !ok {
		return true
	}
	ctx := context.Background()
	ids, err := r.docker.listContainers(ctx, r.rc.podLabels(p))
	if err != nil {
		log.Printf("pod %s: listing its containers: %v", name, err)
		return false
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	okAll := true
	for _, id := range ids {
		wg.Go(func() {
			err := r.docker.stopContainer(ctx, id, deleteGraceSeconds)
			if err == nil {
				err = r.docker.removeContainer(ctx, id)
			}
			if err != nil {
				log.Printf("pod %s: removing container %s: %v", name, id, err)
				mu.Lock()
				okAll = false
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return okAll
}

// Reconciliation at start, for pods that were not finished when task-pods stopped.
const (
	planRestart = "restart" // nothing ran yet: run the pod from the start
	planResume  = "resume"  // init containers succeeded and every regular one started: wait for them
	planLost    = "lost"    // stopped part-way: what ran cannot be resumed
)

// resumePlan decides from the containers found with the pod's labels, by container name.
func resumePlan(p *Pod, found map[string]containerInfo) string {
	if len(found) == 0 {
		for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if s.ContainerID != "" {
				return planLost // it ran, but its containers are gone
			}
		}
		return planRestart
	}
	for _, c := range p.Spec.InitContainers {
		if info, ok := found[c.Name]; !ok || info.Running || info.ExitCode != 0 || info.StartedAt == "" {
			return planLost
		}
	}
	for _, c := range p.Spec.Containers {
		if info, ok := found[c.Name]; !ok || info.StartedAt == "" {
			return planLost
		}
	}
	return planResume
}

// reconcile resumes deletions and unfinished pods.
func (r *runner) reconcile(ctx context.Context) {
	for _, p := range r.store.all() {
		name := p.Metadata.Name
		switch {
		case p.Metadata.DeletionTimestamp != "":
			r.delete(name)
		case terminal(p.Status.Phase):
		default:
			r.resume(ctx, p)
		}
	}
}

func (r *runner) resume(ctx context.Context, p *Pod) {
	name := p.Metadata.Name
	found := map[string]containerInfo{}
	ids, err := r.docker.listContainers(ctx, r.rc.podLabels(p))
	for _, id := range ids {
		info, ierr := r.docker.inspectContainer(ctx, id)
		if ierr != nil {
			err = ierr
			continue
		}
		found[info.Labels[labelContainer]] = info
	}
	plan := resumePlan(p, found)
	if err != nil {
		log.Printf("pod %s: inspecting its containers: %v", name, err)
		plan = planLost
	}
	log.Printf("pod %s was unfinished at start: %s", name, plan)
	if plan == planRestart {
		r.launch(name)
		return
	}
	running := map[string]string{}
	r.record(name, func(st *PodStatus) {
		for container, info := range found {
			s := statusOf(st, container)
			if s == nil {
				continue
			}
			s.ContainerID = "docker://" + info.ID
			if info.Running {
				s.State = ContainerState{Running: &StateRunning{StartedAt: info.StartedAt}}
				running[container] = info.ID
			} else if info.StartedAt != "" {
				s.State = ContainerState{Terminated: terminatedState(info)}
			}
		}
		if plan == planLost {
			st.Phase, st.Reason, st.Message = phaseFailed, "NodeLost", "task-pods restarted while the pod ran"
		}
	})
	if plan == planResume {
		r.spawn(name, func(ctx context.Context) { r.waitAll(ctx, name, running) })
		return
	}
	// A failed pod no longer counts in the quota: stop what still runs of it.
	for _, id := range running {
		if err := r.docker.stopContainer(ctx, id, deleteGraceSeconds); err != nil {
			log.Printf("pod %s: stopping container %s: %v", name, id, err)
		}
	}
}
