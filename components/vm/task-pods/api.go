package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The HTTP side of the API server: routing, authentication and
// authorization first, then the pod handlers.

type server struct {
	namespace    string
	auth         *authenticator
	adm          *admission
	store        *store
	runner       *runner
	docker       docker
	watchTimeout time.Duration // default for watches without timeoutSeconds
}

// maxBody is the API server's request size limit.
const maxBody = 3 << 20

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/version" {
		if r.Method != http.MethodGet {
			writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "the server does not allow this method on the requested resource"))
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"major": "1", "minor": "36", "gitVersion": "v1.36.0-task-pods"})
		return
	}
	id, ok := s.auth.authenticate(r.Header.Get("Authorization"))
	if !ok {
		writeError(w, errorf(http.StatusUnauthorized, "Unauthorized", "Unauthorized"))
		return
	}
	at, err := route(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := authorize(s.namespace, id, at); err != nil {
		writeError(w, err)
		return
	}
	switch {
	case at.verb == "list":
		s.list(w, r)
	case at.verb == "watch":
		s.watch(w, r)
	case at.verb == "create" && at.name == "":
		s.create(w, r)
	case at.verb == "deletecollection":
		s.deleteCollection(w, r)
	case at.verb == "get" && at.resource == "pods/log":
		s.logs(w, r, at.name)
	case at.verb == "get":
		s.get(w, at.name)
	case at.verb == "delete" && at.resource == "pods":
		s.delete(w, at.name)
	default:
		writeError(w, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "the server does not allow this method on the requested resource"))
	}
}

// route maps /api/v1/namespaces/{ns}/pods[/{name}[/status|/log]] to RBAC attributes.
func route(r *http.Request) (attributes, error) {
	notFound := errorf(http.StatusNotFound, "NotFound", "the server could not find the requested resource")
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 5 || len(parts) > 7 || parts[0] != "api" || parts[1] != "v1" || parts[2] != "namespaces" || parts[4] != "pods" {
		return attributes{}, notFound
	}
	at := attributes{namespace: parts[3], resource: "pods"}
	if len(parts) > 5 {
		at.name = parts[5]
	}
	if len(parts) == 7 {
		if parts[6] != "status" && parts[6] != "log" {
			return attributes{}, notFound
		}
		at.resource = "pods/" + parts[6]
	}
	switch r.Method {
	case http.MethodGet:
		at.verb = "get"
		if at.name == "" {
			at.verb = "list"
			if watch, _ := strconv.ParseBool(r.URL.Query().Get("watch")); watch {
				at.verb = "watch"
			}
		}
	case http.MethodPost:
		at.verb = "create"
	case http.MethodPut:
		at.verb = "update"
	case http.MethodPatch:
		at.verb = "patch"
	case http.MethodDelete:
		at.verb = "delete"
		if at.name == "" {
			at.verb = "deletecollection"
		}
	default:
		return attributes{}, errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "the server does not allow this method on the requested resource")
	}
	return at, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("writing response: %v", err)
	}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errorf(http.StatusInternalServerError, "InternalError", "%v", err)
	}
	writeJSON(w, ae.code, ae.status())
}

func (s *server) selector(r *http.Request) (*selector, error) {
	q := r.URL.Query()
	sel, err := parseSelector(q.Get("labelSelector"), q.Get("fieldSelector"))
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return sel, nil
}

func (s *server) list(w http.ResponseWriter, r *http.Request) {
	sel, err := s.selector(r)
	if err != nil {
		writeError(w, err)
		return
	}
	items, rv := s.store.list(sel)
	writeJSON(w, http.StatusOK, PodList{APIVersion: "v1", Kind: "PodList", Metadata: ListMeta{ResourceVersion: rv}, Items: items})
}

type watchEvent struct {
	Type   string `json:"type"`
	Object any    `json:"object"`
}

// watch streams newline-separated events, flushed one by one, until the
// timeout, the client leaving, the server shutting down, or the watcher
// falling behind (the client then resumes from its last resourceVersion).
func (s *server) watch(w http.ResponseWriter, r *http.Request) {
	sel, err := s.selector(r)
	if err != nil {
		writeError(w, err)
		return
	}
	timeout := s.watchTimeout
	if ts := r.URL.Query().Get("timeoutSeconds"); ts != "" {
		n, err := strconv.Atoi(ts)
		if err != nil || n < 0 {
			writeError(w, badRequest("timeoutSeconds: Invalid value: %q", ts))
			return
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	initial, wt, err := s.store.watch(sel, r.URL.Query().Get("resourceVersion"))
	var ae *apiError
	if errors.As(err, &ae) && ae.code == http.StatusGone {
		// As the API server does: a 200 stream whose only event is the error.
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(watchEvent{Type: "ERROR", Object: ae.status()})
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	defer s.store.unwatch(wt)

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(ev event) bool {
		return enc.Encode(watchEvent{Type: ev.Type, Object: ev.Pod}) == nil && rc.Flush() == nil
	}
	if rc.Flush() != nil {
		return
	}
	for _, ev := range initial {
		if !send(ev) {
			return
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-wt.ch:
			if !ok || !send(ev) {
				return
			}
		case <-timer.C:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func (s *server) create(w http.ResponseWriter, r *http.Request) {
	var p Pod
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&p); err != nil {
		writeError(w, badRequest("the body of the request could not be decoded as a Pod: %v", err))
		return
	}
	requested, err := s.adm.admit(s.namespace, &p)
	if err != nil {
		log.Printf("create pod %q refused: %v", p.Metadata.Name, err)
		writeError(w, err)
		return
	}
	// Server-managed fields are never taken from the client.
	p.Metadata.UID, p.Metadata.ResourceVersion, p.Metadata.CreationTimestamp = "", "", ""
	p.Metadata.DeletionTimestamp, p.Metadata.DeletionGracePeriodSeconds = "", nil
	initialStatus(&p, now())
	stored, err := s.store.create(&p, randomToken(), requested, s.adm.quota)
	if err != nil {
		log.Printf("create pod %q refused: %v", p.Metadata.Name, err)
		writeError(w, err)
		return
	}
	log.Printf("pod %s created", stored.Metadata.Name)
	s.runner.launch(stored.Metadata.Name)
	writeJSON(w, http.StatusCreated, stored)
}

func (s *server) get(w http.ResponseWriter, name string) {
	p, ok := s.store.get(name)
	if !ok {
		writeError(w, notFound(name))
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// delete is graceful, as on a cluster: the pod is returned at once with its
// deletionTimestamp, and disappears (DELETED) once its containers are gone.
func (s *server) delete(w http.ResponseWriter, name string) {
	p, first, err := s.store.markDeleting(name, deleteGraceSeconds)
	if err != nil {
		writeError(w, err)
		return
	}
	if first {
		log.Printf("pod %s deleted", name)
		s.runner.delete(name)
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *server) deleteCollection(w http.ResponseWriter, r *http.Request) {
	sel, err := s.selector(r)
	if err != nil {
		writeError(w, err)
		return
	}
	items, _ := s.store.list(sel)
	deleted := []*Pod{}
	for _, it := range items {
		p, first, err := s.store.markDeleting(it.Metadata.Name, deleteGraceSeconds)
		if err != nil {
			continue // already gone
		}
		if first {
			log.Printf("pod %s deleted", it.Metadata.Name)
			s.runner.delete(it.Metadata.Name)
		}
		deleted = append(deleted, p)
	}
	_, rv := s.store.list(sel)
	writeJSON(w, http.StatusOK, PodList{APIVersion: "v1", Kind: "PodList", Metadata: ListMeta{ResourceVersion: rv}, Items: deleted})
}

// logs serves a container's output, choosing the container as the API server does.
func (s *server) logs(w http.ResponseWriter, r *http.Request, name string) {
	p, ok := s.store.get(name)
	if !ok {
		writeError(w, notFound(name))
		return
	}
	q := r.URL.Query()
	container := q.Get("container")
	if container == "" {
		if len(p.Spec.Containers) != 1 {
			msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", name, containerNames(p.Spec.Containers))
			if len(p.Spec.InitContainers) > 0 {
				msg += fmt.Sprintf(" or one of the init containers: [%s]", containerNames(p.Spec.InitContainers))
			}
			writeError(w, badRequest("%s", msg))
			return
		}
		container = p.Spec.Containers[0].Name
	}
	st := statusOf(&p.Status, container)
	if st == nil {
		writeError(w, badRequest("container %s is not valid for pod %s", container, name))
		return
	}
	id := strings.TrimPrefix(st.ContainerID, "docker://")
	if id == "" {
		reason := "ContainerCreating"
		if st.State.Waiting != nil && st.State.Waiting.Reason != "" {
			reason = st.State.Waiting.Reason
		}
		writeError(w, badRequest("container %q in pod %q is waiting to start: %s", container, name, reason))
		return
	}
	opts := logOptions{tail: "all"}
	opts.follow, _ = strconv.ParseBool(q.Get("follow"))
	opts.timestamps, _ = strconv.ParseBool(q.Get("timestamps"))
	if t := q.Get("tailLines"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			writeError(w, badRequest("tailLines: Invalid value: %q", t))
			return
		}
		opts.tail = strconv.Itoa(n)
	}
	body, err := s.docker.containerLogs(r.Context(), id, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	flush := func() {}
	if opts.follow {
		rc := http.NewResponseController(w)
		flush = func() { _ = rc.Flush() }
	}
	if err := demux(w, body, flush); err != nil && r.Context().Err() == nil {
		log.Printf("pod %s: logs of %s: %v", name, container, err)
	}
}

func containerNames(cs []Container) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, " ")
}
