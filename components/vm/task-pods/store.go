package main

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The store is the emulated etcd: pods with their tokens, one global
// resourceVersion bumped on every change, a bounded history of change events
// for watches that resume from a resourceVersion, and the watchers. Every
// change is persisted to a JSON file (write to a temporary file, then rename).

type record struct {
	Pod   *Pod   `json:"pod"`
	Token string `json:"token"`
}

type persisted struct {
	ResourceVersion uint64    `json:"resourceVersion"`
	Pods            []*record `json:"pods"`
}

// event is a watch event; Pod is an immutable snapshot.
type event struct {
	Type string
	Pod  *Pod
}

// watcher receives matching events until its channel is closed, which
// happens when it falls too far behind or the store closes.
type watcher struct {
	sel *selector
	ch  chan event
}

type store struct {
	mu         sync.Mutex
	file       string
	rv         uint64
	pods       map[string]*record
	history    []event
	maxHistory int
	watchers   map[*watcher]struct{}
	closed     bool
}

// watchBuffer is how many events a slow watcher may lag before it is cut off;
// it then resumes from its last resourceVersion like any client.
const watchBuffer = 256

func openStore(file string, maxHistory int) (*store, error) {
	s := &store{file: file, pods: map[string]*record{}, maxHistory: maxHistory, watchers: map[*watcher]struct{}{}}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	s.rv = p.ResourceVersion
	for _, r := range p.Pods {
		s.pods[r.Pod.Metadata.Name] = r
	}
	return s, nil
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

func newUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// create stores an admitted pod if the name is free and the quota allows it;
// both are checked under the lock so that concurrent creations cannot race.
func (s *store) create(p *Pod, token string, requested, quota usage) (*Pod, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pods[p.Metadata.Name]; ok {
		return nil, alreadyExists(p.Metadata.Name)
	}
	var used usage
	for _, r := range s.pods {
		if !terminal(r.Pod.Status.Phase) {
			u, _ := podUsage(r.Pod) // stored pods were admitted
			used.cpuMilli = addSat(used.cpuMilli, u.cpuMilli)
			used.memBytes = addSat(used.memBytes, u.memBytes)
			used.pods = addSat(used.pods, u.pods)
		}
	}
	if err := checkQuota(quota, p.Metadata.Name, requested, used); err != nil {
		return nil, err
	}
	p = p.DeepCopy()
	p.Metadata.UID = newUID()
	p.Metadata.CreationTimestamp = now()
	s.pods[p.Metadata.Name] = &record{Pod: p, Token: token}
	s.commit("ADDED", p)
	return p, nil
}

// commit bumps the resourceVersion into p, records and broadcasts the event,
// and persists. The caller holds the lock.
func (s *store) commit(typ string, p *Pod) {
	s.rv++
	p.Metadata.ResourceVersion = strconv.FormatUint(s.rv, 10)
	ev := event{Type: typ, Pod: p}
	s.history = append(s.history, ev)
	if len(s.history) > s.maxHistory {
		s.history = slices.Clone(s.history[len(s.history)-s.maxHistory:])
	}
	for w := range s.watchers {
		if !w.sel.matches(p) {
			continue
		}
		select {
		case w.ch <- ev:
		default:
			close(w.ch)
			delete(s.watchers, w)
		}
	}
	s.persist()
}

func (s *store) persist() {
	if s.closed {
		return
	}
	out := persisted{ResourceVersion: s.rv, Pods: []*record{}}
	for _, name := range slices.Sorted(maps.Keys(s.pods)) {
		out.Pods = append(out.Pods, s.pods[name])
	}
	b, err := json.Marshal(out)
	if err == nil {
		tmp := s.file + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, s.file)
		}
	}
	if err != nil {
		log.Printf("persisting pods: %v", err)
	}
}

func (s *store) get(name string) (*Pod, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.pods[name]
	if !ok {
		return nil, false
	}
	return r.Pod, true
}

func (s *store) token(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.pods[name]; ok {
		return r.Token
	}
	return ""
}

// podForToken finds the pod a token was issued to.
func (s *store) podForToken(token string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, r := range s.pods {
		if subtle.ConstantTimeCompare([]byte(r.Token), []byte(token)) == 1 {
			return name, true
		}
	}
	return "", false
}

// list returns the matching pods sorted by name and the current resourceVersion.
func (s *store) list(sel *selector) ([]*Pod, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := []*Pod{}
	for _, name := range slices.Sorted(maps.Keys(s.pods)) {
		if p := s.pods[name].Pod; sel.matches(p) {
			items = append(items, p)
		}
	}
	return items, strconv.FormatUint(s.rv, 10)
}

// update applies fn to a copy of the pod; fn reports whether it changed anything.
func (s *store) update(name string, fn func(*Pod) bool) (*Pod, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.pods[name]
	if !ok {
		return nil, false
	}
	p := r.Pod.DeepCopy()
	if !fn(p) {
		return r.Pod, true
	}
	r.Pod = p
	s.commit("MODIFIED", p)
	return p, true
}

// markDeleting sets the deletion timestamp, as a graceful delete does; first
// tells whether this call started the deletion.
func (s *store) markDeleting(name string, grace int64) (p *Pod, first bool, err error) {
	started := false
	p, ok := s.update(name, func(p *Pod) bool {
		if p.Metadata.DeletionTimestamp != "" {
			return false
		}
		p.Metadata.DeletionTimestamp = time.Now().UTC().Add(time.Duration(grace) * time.Second).Format(time.RFC3339)
		p.Metadata.DeletionGracePeriodSeconds = &grace
		started = true
		return true
	})
	if !ok {
		return nil, false, notFound(name)
	}
	return p, started, nil
}

// remove deletes the pod for good and emits DELETED.
func (s *store) remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.pods[name]
	if !ok {
		return
	}
	delete(s.pods, name)
	p := r.Pod.DeepCopy()
	s.commit("DELETED", p)
}

// all returns every pod, for reconciliation at start.
func (s *store) all() []*Pod {
	items, _ := s.list(&selector{})
	return items
}

// watch subscribes to changes of matching pods. With rv "" or "0" the current
// pods come first as ADDED events; otherwise the changes after rv, which must
// still be in the history (else 410 Expired, and the client lists again).
func (s *store) watch(sel *selector, rv string) ([]event, *watcher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "the server is shutting down")
	}
	var initial []event
	if rv == "" || rv == "0" {
		for _, name := range slices.Sorted(maps.Keys(s.pods)) {
			if p := s.pods[name].Pod; sel.matches(p) {
				initial = append(initial, event{Type: "ADDED", Pod: p})
			}
		}
	} else {
		from, err := strconv.ParseUint(rv, 10, 64)
		if err != nil {
			return nil, nil, badRequest("resourceVersion: Invalid value: %q: must be an unsigned integer", rv)
		}
		// History events have consecutive resourceVersions ending at s.rv.
		oldest := s.rv - uint64(len(s.history))
		if from < oldest {
			return nil, nil, errorf(http.StatusGone, "Expired", "too old resource version: %d (%d)", from, s.rv)
		}
		if from > s.rv { // e.g. the state file was lost: make the client list again
			return nil, nil, errorf(http.StatusGone, "Expired", "too large resource version: %d (%d)", from, s.rv)
		}
		for _, ev := range s.history[from-oldest:] {
			if sel.matches(ev.Pod) {
				initial = append(initial, ev)
			}
		}
	}
	w := &watcher{sel: sel, ch: make(chan event, watchBuffer)}
	s.watchers[w] = struct{}{}
	return initial, w, nil
}

func (s *store) unwatch(w *watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.watchers[w]; ok {
		delete(s.watchers, w)
		close(w.ch)
	}
}

// close ends every watch and stops persisting: the process is exiting, and
// whatever the runners still record is rebuilt at the next start.
func (s *store) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for w := range s.watchers {
		close(w.ch)
		delete(s.watchers, w)
	}
}
