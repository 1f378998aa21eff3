package main

import (
	"encoding/json"
	"testing"
)

func waiting() ContainerStatus {
	return ContainerStatus{State: ContainerState{Waiting: &StateWaiting{}}}
}
func running() ContainerStatus {
	return ContainerStatus{State: ContainerState{Running: &StateRunning{}}}
}
func exited(code int) ContainerStatus {
	return ContainerStatus{State: ContainerState{Terminated: &StateTerminated{ExitCode: code}}}
}

func TestPodPhase(t *testing.T) {
	type cs = []ContainerStatus
	cases := []struct {
		name          string
		init, regular cs
		want          string
	}{
		{"nothing started", cs{waiting()}, cs{waiting(), waiting()}, phasePending},
		{"init running", cs{exited(0), running()}, cs{waiting()}, phasePending},
		{"init failed", cs{exited(0), exited(2)}, cs{waiting()}, phaseFailed},
		{"inits done, not all started", cs{exited(0)}, cs{running(), waiting()}, phasePending},
		{"all running", cs{exited(0)}, cs{running(), running()}, phaseRunning},
		{"one done, one running", nil, cs{exited(0), running()}, phaseRunning},
		{"one failed, one running", nil, cs{exited(1), running()}, phaseRunning},
		{"all succeeded", cs{exited(0)}, cs{exited(0), exited(0)}, phaseSucceeded},
		{"one failed", nil, cs{exited(0), exited(3)}, phaseFailed},
	}
	for _, c := range cases {
		if got := podPhase(c.init, c.regular); got != c.want {
			t.Errorf("%s: phase = %s, want %s", c.name, got, c.want)
		}
	}
}

func condition(st *PodStatus, typ string) PodCondition {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return PodCondition{}
}

func TestRefreshStatus(t *testing.T) {
	p := &Pod{Spec: PodSpec{
		InitContainers: []Container{{Name: "init", Image: "i"}},
		Containers:     []Container{{Name: "task", Image: "t"}, {Name: "helper", Image: "h"}},
	}}
	initialStatus(p, "t0")
	st := &p.Status
	if st.Phase != phasePending || st.ContainerStatuses[0].State.Waiting.Reason != "PodInitializing" ||
		st.InitContainerStatuses[0].State.Waiting.Reason != "PodInitializing" || condition(st, "PodScheduled").Status != "True" {
		t.Fatalf("initial status = %+v", st)
	}
	st.InitContainerStatuses[0].State = ContainerState{Terminated: &StateTerminated{ExitCode: 0}}
	st.ContainerStatuses[0].State = ContainerState{Running: &StateRunning{StartedAt: "t1"}}
	st.ContainerStatuses[1].State = ContainerState{Running: &StateRunning{StartedAt: "t1"}}
	refreshStatus(st, "t1")
	if st.Phase != phaseRunning || condition(st, "Ready").Status != "True" || condition(st, "Initialized").Status != "True" ||
		!st.ContainerStatuses[0].Ready || !st.ContainerStatuses[0].Started || !st.InitContainerStatuses[0].Ready {
		t.Fatalf("running status = %+v", st)
	}
	if c := condition(st, "PodScheduled"); c.LastTransitionTime != "t0" {
		t.Errorf("unchanged condition moved: %+v", c)
	}
	st.ContainerStatuses[0].State = ContainerState{Terminated: &StateTerminated{ExitCode: 0, Reason: "Completed"}}
	refreshStatus(st, "t2")
	if st.Phase != phaseRunning || condition(st, "Ready").Status != "False" || st.ContainerStatuses[0].Started {
		t.Fatalf("task done, helper running: %+v", st)
	}
	// What the helper container polls for.
	b, _ := json.Marshal(st.ContainerStatuses[0].State)
	if string(b) != `{"terminated":{"exitCode":0,"reason":"Completed"}}` {
		t.Errorf("state JSON = %s", b)
	}
	st.ContainerStatuses[1].State = ContainerState{Terminated: &StateTerminated{ExitCode: 0}}
	refreshStatus(st, "t3")
	if st.Phase != phaseSucceeded || condition(st, "Ready").Reason != "PodCompleted" {
		t.Fatalf("final status = %+v", st)
	}
	// A terminal phase is final.
	st.ContainerStatuses[1].State = ContainerState{Running: &StateRunning{}}
	refreshStatus(st, "t4")
	if st.Phase != phaseSucceeded {
		t.Errorf("phase left %s", phaseSucceeded)
	}
}

func TestTerminatedState(t *testing.T) {
	for _, c := range []struct {
		info   containerInfo
		reason string
	}{
		{containerInfo{ID: "a", ExitCode: 0}, "Completed"},
		{containerInfo{ID: "a", ExitCode: 3}, "Error"},
		{containerInfo{ID: "a", ExitCode: 137, OOMKilled: true}, "OOMKilled"},
	} {
		got := terminatedState(c.info)
		if got.Reason != c.reason || got.ExitCode != c.info.ExitCode || got.ContainerID != "docker://a" {
			t.Errorf("terminatedState(%+v) = %+v", c.info, got)
		}
	}
	if got := dockerTime("2024-05-01T10:00:00.123456789Z"); got != "2024-05-01T10:00:00Z" {
		t.Errorf("dockerTime = %q", got)
	}
	if got := dockerTime("0001-01-01T00:00:00Z"); got != "" {
		t.Errorf("Docker's zero time = %q", got)
	}
}
