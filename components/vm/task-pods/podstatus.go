package main

import "time"

// Pod status as the kubelet derives it from container states. Pods run
// with restartPolicy Never semantics (OnFailure is accepted but not
// restarted: the app engine only sends Never), so a failed container is final.

const (
	phasePending   = "Pending"
	phaseRunning   = "Running"
	phaseSucceeded = "Succeeded"
	phaseFailed    = "Failed"
)

func terminal(phase string) bool { return phase == phaseSucceeded || phase == phaseFailed }

// initialStatus is the status of a pod just accepted by the "node".
func initialStatus(p *Pod, at string) {
	regularReason := "ContainerCreating"
	if len(p.Spec.InitContainers) > 0 {
		regularReason = "PodInitializing"
	}
	p.Status = PodStatus{Phase: phasePending, HostIP: "127.0.0.1", StartTime: at}
	for _, c := range p.Spec.InitContainers {
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, waitingStatus(c, "PodInitializing", ""))
	}
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, waitingStatus(c, regularReason, ""))
	}
	refreshStatus(&p.Status, at)
}

func waitingStatus(c Container, reason, message string) ContainerStatus {
	return ContainerStatus{Name: c.Name, Image: c.Image,
		State: ContainerState{Waiting: &StateWaiting{Reason: reason, Message: message}}}
}

// podPhase follows the kubelet's getPhase for restartPolicy Never.
func podPhase(inits, regular []ContainerStatus) string {
	for _, s := range inits {
		if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
			return phaseFailed
		}
	}
	for _, s := range inits {
		if s.State.Terminated == nil {
			return phasePending
		}
	}
	waiting, running, failed := 0, 0, 0
	for _, s := range regular {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			if s.State.Terminated.ExitCode != 0 {
				failed++
			}
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return phasePending
	case running > 0:
		return phaseRunning
	case failed > 0:
		return phaseFailed
	default:
		return phaseSucceeded
	}
}

// refreshStatus recomputes the derived parts of a status after container
// states changed: ready/started flags, the phase (final once terminal), and
// the conditions, keeping lastTransitionTime when a condition did not change.
func refreshStatus(st *PodStatus, at string) {
	initialized := true
	for i := range st.InitContainerStatuses {
		s := &st.InitContainerStatuses[i]
		s.Started = s.State.Running != nil
		s.Ready = s.State.Terminated != nil && s.State.Terminated.ExitCode == 0
		initialized = initialized && s.Ready
	}
	allRunning := true
	for i := range st.ContainerStatuses {
		s := &st.ContainerStatuses[i]
		s.Started = s.State.Running != nil
		s.Ready = s.State.Running != nil
		allRunning = allRunning && s.Ready
	}
	if !terminal(st.Phase) {
		st.Phase = podPhase(st.InitContainerStatuses, st.ContainerStatuses)
	}
	ready := st.Phase == phaseRunning && allRunning
	notReady := "ContainersNotReady"
	if terminal(st.Phase) {
		notReady = "PodCompleted"
	}
	st.Conditions = setCondition(st.Conditions, "PodScheduled", true, "", at)
	st.Conditions = setCondition(st.Conditions, "Initialized", initialized, "ContainersNotInitialized", at)
	st.Conditions = setCondition(st.Conditions, "ContainersReady", ready, notReady, at)
	st.Conditions = setCondition(st.Conditions, "Ready", ready, notReady, at)
}

func setCondition(conds []PodCondition, typ string, ok bool, reasonIfFalse, at string) []PodCondition {
	c := PodCondition{Type: typ, Status: "True", LastTransitionTime: at}
	if !ok {
		c.Status, c.Reason = "False", reasonIfFalse
	}
	for i := range conds {
		if conds[i].Type == typ {
			if conds[i].Status == c.Status {
				c.LastTransitionTime = conds[i].LastTransitionTime
			}
			conds[i] = c
			return conds
		}
	}
	return append(conds, c)
}

// containerInfo is what the runner learns about a Docker container.
type containerInfo struct {
	ID         string
	Labels     map[string]string
	Running    bool
	ExitCode   int
	OOMKilled  bool
	StartedAt  string // RFC3339, empty if never started
	FinishedAt string
}

// terminatedState is the kubelet's view of an exited container.
func terminatedState(info containerInfo) *StateTerminated {
	reason := "Completed"
	switch {
	case info.OOMKilled:
		reason = "OOMKilled"
	case info.ExitCode != 0:
		reason = "Error"
	}
	return &StateTerminated{ExitCode: info.ExitCode, Reason: reason, StartedAt: info.StartedAt,
		FinishedAt: info.FinishedAt, ContainerID: "docker://" + info.ID}
}

// dockerTime turns Docker's nanosecond timestamps into the API's seconds;
// Docker's zero time means "never".
func dockerTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
