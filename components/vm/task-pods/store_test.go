package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

func testPod(name string, labels map[string]string) *Pod {
	p := &Pod{APIVersion: "v1", Kind: "Pod", Metadata: ObjectMeta{Name: name, Namespace: "tasks", Labels: labels},
		Spec: PodSpec{RestartPolicy: "Never", Containers: []Container{{Name: "c", Image: "busybox:1",
			Resources: ResourceRequirements{Limits: map[string]Quantity{"cpu": "1", "memory": "1Gi"}}}}}}
	initialStatus(p, now())
	return p
}

var bigQuota = usage{cpuMilli: 100_000, memBytes: 100 << 30, pods: 100}

func mustCreate(t *testing.T, s *store, p *Pod) *Pod {
	t.Helper()
	u, err := podUsage(p)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.create(p, "token-"+p.Metadata.Name, u, bigQuota)
	if err != nil {
		t.Fatal(err)
	}
	return stored
}

func setPhase(s *store, name, phase string) {
	s.update(name, func(p *Pod) bool { p.Status.Phase = phase; return true })
}

func TestStoreCreateGetListDelete(t *testing.T) {
	s, err := openStore(filepath.Join(t.TempDir(), "pods.json"), 1000)
	if err != nil {
		t.Fatal(err)
	}
	a := mustCreate(t, s, testPod("a", map[string]string{"app": "task"}))
	if a.Metadata.ResourceVersion != "1" || a.Metadata.UID == "" || a.Metadata.CreationTimestamp == "" {
		t.Errorf("server-set metadata: %+v", a.Metadata)
	}
	mustCreate(t, s, testPod("b", nil))
	if _, err := s.create(testPod("a", nil), "x", usage{}, bigQuota); !isCode(err, 409) {
		t.Errorf("duplicate name: %v", err)
	}
	sel, _ := parseSelector("app=task", "")
	items, rv := s.list(sel)
	if len(items) != 1 || items[0].Metadata.Name != "a" || rv != "2" {
		t.Errorf("list = %d items, rv %s", len(items), rv)
	}
	if name, ok := s.podForToken("token-b"); !ok || name != "b" {
		t.Errorf("podForToken = %q, %v", name, ok)
	}
	p, first, err := s.markDeleting("a", 10)
	if err != nil || !first || p.Metadata.DeletionTimestamp == "" || *p.Metadata.DeletionGracePeriodSeconds != 10 {
		t.Errorf("markDeleting = %+v, %v, %v", p.Metadata, first, err)
	}
	if _, first, _ := s.markDeleting("a", 10); first {
		t.Error("a second delete must not start another deletion")
	}
	s.remove("a")
	if _, ok := s.get("a"); ok {
		t.Error("removed pod still there")
	}
	if _, _, err := s.markDeleting("a", 10); !isCode(err, 404) {
		t.Errorf("delete of a missing pod: %v", err)
	}
}

func isCode(err error, code int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.code == code
}

func TestStoreQuotaCountsActivePodsOnly(t *testing.T) {
	s, _ := openStore(filepath.Join(t.TempDir(), "pods.json"), 1000)
	quota := usage{cpuMilli: 2000, memBytes: 2 << 30, pods: 2}
	req := usage{cpuMilli: 1000, memBytes: 1 << 30, pods: 1}
	for _, name := range []string{"a", "b"} {
		if _, err := s.create(testPod(name, nil), "t"+name, req, quota); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.create(testPod("c", nil), "tc", req, quota); !isCode(err, 403) {
		t.Fatalf("third pod over the quota: %v", err)
	}
	setPhase(s, "a", phaseSucceeded)
	if _, err := s.create(testPod("c", nil), "tc", req, quota); err != nil {
		t.Fatalf("a finished pod no longer counts: %v", err)
	}
}

func TestStorePersistsAndReloads(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pods.json")
	s, _ := openStore(file, 1000)
	mustCreate(t, s, testPod("a", nil))
	setPhase(s, "a", phaseRunning)
	s2, err := openStore(file, 1000)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := s2.get("a")
	if !ok || p.Status.Phase != phaseRunning || s2.rv != 2 || s2.token("a") != "token-a" {
		t.Errorf("reloaded: %v %+v rv %d", ok, p, s2.rv)
	}
	// A watch from before the restart cannot be resumed: the history is gone.
	if _, _, err := s2.watch(&selector{}, "1"); !isCode(err, 410) {
		t.Errorf("watch from before the restart: %v", err)
	}
	if _, w, err := s2.watch(&selector{}, "2"); err != nil {
		t.Errorf("watch from the current resourceVersion: %v", err)
	} else {
		s2.unwatch(w)
	}
}

func TestWatchFromZeroListsThenFollows(t *testing.T) {
	s, _ := openStore(filepath.Join(t.TempDir(), "pods.json"), 1000)
	mustCreate(t, s, testPod("a", map[string]string{"app": "task"}))
	mustCreate(t, s, testPod("b", map[string]string{"app": "other"}))
	sel, _ := parseSelector("app=task", "")
	initial, w, err := s.watch(sel, "0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.unwatch(w)
	if len(initial) != 1 || initial[0].Type != "ADDED" || initial[0].Pod.Metadata.Name != "a" {
		t.Fatalf("initial = %+v", initial)
	}
	setPhase(s, "b", phaseRunning) // not matching: not sent
	setPhase(s, "a", phaseRunning)
	s.remove("a")
	for _, want := range []string{"MODIFIED 4", "DELETED 5"} {
		ev := <-w.ch
		if got := fmt.Sprintf("%s %s", ev.Type, ev.Pod.Metadata.ResourceVersion); got != want {
			t.Errorf("event %s, want %s", got, want)
		}
	}
}

func TestWatchFromResourceVersion(t *testing.T) {
	s, _ := openStore(filepath.Join(t.TempDir(), "pods.json"), 3)
	mustCreate(t, s, testPod("a", nil)) // rv 1
	setPhase(s, "a", phaseRunning)      // rv 2
	setPhase(s, "a", phaseSucceeded)    // rv 3
	mustCreate(t, s, testPod("b", nil)) // rv 4; history keeps 2..4
	initial, w, err := s.watch(&selector{}, "2")
	if err != nil {
		t.Fatal(err)
	}
	s.unwatch(w)
	if len(initial) != 2 || initial[0].Type != "MODIFIED" || initial[0].Pod.Metadata.ResourceVersion != "3" ||
		initial[1].Type != "ADDED" || initial[1].Pod.Metadata.ResourceVersion != "4" {
		t.Errorf("changes after 2 = %+v", initial)
	}
	if initial, w, err := s.watch(&selector{}, "1"); err != nil || len(initial) != 3 {
		t.Errorf("oldest resumable point: %d events, %v", len(initial), err)
	} else {
		s.unwatch(w)
	}
	if _, _, err := s.watch(&selector{}, "0x"); !isCode(err, 400) {
		t.Errorf("bad resourceVersion: %v", err)
	}
	setPhase(s, "b", phaseRunning) // rv 5; history 3..5
	_, _, err = s.watch(&selector{}, "1")
	var ae *apiError
	if !errors.As(err, &ae) || ae.code != 410 || ae.reason != "Expired" || ae.message != "too old resource version: 1 (5)" {
		t.Errorf("expired watch: %v", err)
	}
	if _, _, err := s.watch(&selector{}, "99"); !isCode(err, 410) {
		t.Errorf("future resourceVersion: %v", err)
	}
}

func TestSlowWatcherIsCutOff(t *testing.T) {
	s, _ := openStore(filepath.Join(t.TempDir(), "pods.json"), 1000)
	mustCreate(t, s, testPod("a", nil))
	_, w, _ := s.watch(&selector{}, "")
	for i := 0; i <= watchBuffer; i++ {
		setPhase(s, "a", fmt.Sprint(i))
	}
	n := 0
	for range w.ch {
		n++
	}
	if n != watchBuffer {
		t.Errorf("got %d events before the cut, want %d", n, watchBuffer)
	}
	s.unwatch(w) // already cut: must not panic
}
