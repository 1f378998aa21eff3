package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// The subset of core/v1 that the app engine sends and reads. Fields that are
// not modelled here are dropped on create, as an API server does for unknown
// fields; the security-relevant ones that we cannot honour are refused by
// admission instead (see admission.go).

// Pod is a core/v1 Pod.
type Pod struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       PodSpec    `json:"spec"`
	Status     PodStatus  `json:"status"`
}

// ObjectMeta is the part of metav1.ObjectMeta that pods here use.
type ObjectMeta struct {
	Name                       string            `json:"name,omitempty"`
	GenerateName               string            `json:"generateName,omitempty"`
	Namespace                  string            `json:"namespace,omitempty"`
	UID                        string            `json:"uid,omitempty"`
	ResourceVersion            string            `json:"resourceVersion,omitempty"`
	CreationTimestamp          string            `json:"creationTimestamp,omitempty"`
	DeletionTimestamp          string            `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
}

// PodSpec is the part of core/v1 PodSpec that is run or checked here.
type PodSpec struct {
	InitContainers               []Container         `json:"initContainers,omitempty"`
	Containers                   []Container         `json:"containers"`
	Volumes                      []Volume            `json:"volumes,omitempty"`
	RestartPolicy                string              `json:"restartPolicy,omitempty"`
	ServiceAccountName           string              `json:"serviceAccountName,omitempty"`
	AutomountServiceAccountToken *bool               `json:"automountServiceAccountToken,omitempty"`
	HostNetwork                  bool                `json:"hostNetwork,omitempty"`
	HostPID                      bool                `json:"hostPID,omitempty"`
	HostIPC                      bool                `json:"hostIPC,omitempty"`
	SecurityContext              *PodSecurityContext `json:"securityContext,omitempty"`
}

// PodSecurityContext holds the pod-wide defaults of the container security contexts.
type PodSecurityContext struct {
	RunAsUser    *int64 `json:"runAsUser,omitempty"`
	RunAsGroup   *int64 `json:"runAsGroup,omitempty"`
	RunAsNonRoot *bool  `json:"runAsNonRoot,omitempty"`
}

// Container is a core/v1 Container.
type Container struct {
	Name            string               `json:"name"`
	Image           string               `json:"image"`
	Command         []string             `json:"command,omitempty"`
	Args            []string             `json:"args,omitempty"`
	WorkingDir      string               `json:"workingDir,omitempty"`
	Env             []EnvVar             `json:"env,omitempty"`
	EnvFrom         []json.RawMessage    `json:"envFrom,omitempty"`
	Resources       ResourceRequirements `json:"resources,omitempty"`
	VolumeMounts    []VolumeMount        `json:"volumeMounts,omitempty"`
	Ports           []ContainerPort      `json:"ports,omitempty"`
	ImagePullPolicy string               `json:"imagePullPolicy,omitempty"`
	SecurityContext *SecurityContext     `json:"securityContext,omitempty"`
	RestartPolicy   string               `json:"restartPolicy,omitempty"`
}

// EnvVar is a container environment variable.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvVarSource keeps the other kinds raw only to refuse them by name.
type EnvVarSource struct {
	FieldRef         *ObjectFieldSelector `json:"fieldRef,omitempty"`
	ResourceFieldRef json.RawMessage      `json:"resourceFieldRef,omitempty"`
	ConfigMapKeyRef  json.RawMessage      `json:"configMapKeyRef,omitempty"`
	SecretKeyRef     json.RawMessage      `json:"secretKeyRef,omitempty"`
}

// ObjectFieldSelector selects a field of the pod.
type ObjectFieldSelector struct {
	APIVersion string `json:"apiVersion,omitempty"`
	FieldPath  string `json:"fieldPath"`
}

// ResourceRequirements maps resource names to quantities.
type ResourceRequirements struct {
	Limits   map[string]Quantity `json:"limits,omitempty"`
	Requests map[string]Quantity `json:"requests,omitempty"`
}

// Quantity is kept as written; clients may send it as a JSON string or number.
type Quantity string

// UnmarshalJSON accepts "500m" as well as 0.5, as the API server does.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*q = Quantity(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("quantity must be a string or a number: %s", b)
	}
	*q = Quantity(n.String())
	return nil
}

// VolumeMount mounts a pod volume into a container.
type VolumeMount struct {
	Name        string `json:"name"`
	MountPath   string `json:"mountPath"`
	ReadOnly    bool   `json:"readOnly,omitempty"`
	SubPath     string `json:"subPath,omitempty"`
	SubPathExpr string `json:"subPathExpr,omitempty"`
}

// ContainerPort is only checked for hostPort: no port is ever published.
type ContainerPort struct {
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	HostPort      int32  `json:"hostPort,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
}

// SecurityContext is the part of a container security context that is checked or applied.
type SecurityContext struct {
	Privileged               *bool         `json:"privileged,omitempty"`
	AllowPrivilegeEscalation *bool         `json:"allowPrivilegeEscalation,omitempty"`
	Capabilities             *Capabilities `json:"capabilities,omitempty"`
	RunAsUser                *int64        `json:"runAsUser,omitempty"`
	RunAsGroup               *int64        `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool         `json:"runAsNonRoot,omitempty"`
}

// Capabilities: every capability is dropped anyway; add is refused.
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// Volume is a pod volume. Only hostPath and emptyDir are run; the names of
// other sources are remembered so that admission can refuse them by name.
type Volume struct {
	Name     string       `json:"name"`
	HostPath *HostPathVol `json:"hostPath,omitempty"`
	EmptyDir *EmptyDirVol `json:"emptyDir,omitempty"`
	others   []string     // other volume source fields present in the request
}

// HostPathVol is a hostPath volume source.
type HostPathVol struct {
	Path string `json:"path"`
	Type string `json:"type,omitempty"`
}

// EmptyDirVol is an emptyDir volume source. Medium and sizeLimit are accepted
// but not enforced: the volume is a plain folder of the state directory.
type EmptyDirVol struct {
	Medium    string    `json:"medium,omitempty"`
	SizeLimit *Quantity `json:"sizeLimit,omitempty"`
}

// UnmarshalJSON records which volume sources other than hostPath and emptyDir are set.
func (v *Volume) UnmarshalJSON(b []byte) error {
	type plain Volume
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	for k, raw := range fields {
		if k != "name" && k != "hostPath" && k != "emptyDir" && !bytes.Equal(raw, []byte("null")) {
			p.others = append(p.others, k)
		}
	}
	slices.Sort(p.others)
	*v = Volume(p)
	return nil
}

// PodStatus is what the kubelet reports.
type PodStatus struct {
	Phase                 string            `json:"phase,omitempty"`
	Conditions            []PodCondition    `json:"conditions,omitempty"`
	Message               string            `json:"message,omitempty"`
	Reason                string            `json:"reason,omitempty"`
	HostIP                string            `json:"hostIP,omitempty"`
	StartTime             string            `json:"startTime,omitempty"`
	InitContainerStatuses []ContainerStatus `json:"initContainerStatuses,omitempty"`
	ContainerStatuses     []ContainerStatus `json:"containerStatuses,omitempty"`
}

// PodCondition is one of PodScheduled, Initialized, ContainersReady, Ready.
type PodCondition struct {
	Type               string  `json:"type"`
	Status             string  `json:"status"`
	LastProbeTime      *string `json:"lastProbeTime"`
	LastTransitionTime string  `json:"lastTransitionTime"`
	Reason             string  `json:"reason,omitempty"`
}

// ContainerStatus is a container's status as the kubelet reports it.
type ContainerStatus struct {
	Name         string         `json:"name"`
	Image        string         `json:"image"`
	ImageID      string         `json:"imageID"`
	ContainerID  string         `json:"containerID,omitempty"`
	Ready        bool           `json:"ready"`
	RestartCount int            `json:"restartCount"`
	Started      bool           `json:"started"`
	State        ContainerState `json:"state"`
	LastState    ContainerState `json:"lastState"`
}

// ContainerState has exactly one member set (none for lastState).
type ContainerState struct {
	Waiting    *StateWaiting    `json:"waiting,omitempty"`
	Running    *StateRunning    `json:"running,omitempty"`
	Terminated *StateTerminated `json:"terminated,omitempty"`
}

// StateWaiting is a container that has not started.
type StateWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// StateRunning is a started container.
type StateRunning struct {
	StartedAt string `json:"startedAt,omitempty"`
}

// StateTerminated is a container that exited.
type StateTerminated struct {
	ExitCode    int    `json:"exitCode"`
	Reason      string `json:"reason,omitempty"`
	Message     string `json:"message,omitempty"`
	StartedAt   string `json:"startedAt,omitempty"`
	FinishedAt  string `json:"finishedAt,omitempty"`
	ContainerID string `json:"containerID,omitempty"`
}

// PodList is the list answer.
type PodList struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   ListMeta `json:"metadata"`
	Items      []*Pod   `json:"items"`
}

// ListMeta carries the list's resourceVersion, the point to watch from.
type ListMeta struct {
	ResourceVersion string `json:"resourceVersion"`
}

// DeepCopy returns an independent copy; stored pods are never mutated in place,
// so snapshots handed to watchers stay what they were.
func (p *Pod) DeepCopy() *Pod {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // a Pod always marshals
	}
	var c Pod
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return &c
}

// allContainers lists init containers first, as they run.
func (s *PodSpec) allContainers() []Container {
	return append(slices.Clone(s.InitContainers), s.Containers...)
}
