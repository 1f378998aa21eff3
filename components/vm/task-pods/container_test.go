package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func testRunConfig() *runConfig {
	return &runConfig{namespace: "tasks", network: "cytomine-tasks", stateDir: "/srv/task-pods",
		serviceHost: "task-pods", servicePort: "6443"}
}

func admittedUpstreamPod(t *testing.T) *Pod {
	t.Helper()
	p := upstreamPod(t)
	if _, err := testAdmission().admit("tasks", p); err != nil {
		t.Fatal(err)
	}
	p.Metadata.UID = "9d5ae2a4-1111-4222-8333-444455556666"
	return p
}

func TestCreateBodyTaskContainer(t *testing.T) {
	p := admittedUpstreamPod(t)
	body := buildCreateBody(testRunConfig(), p, p.Spec.Containers[0])

	if body.Image != "127.0.0.1:5000/org/cytomine/fallback/test/add:1.0.0" {
		t.Errorf("Image = %q", body.Image)
	}
	if body.Entrypoint != nil || body.Cmd != nil {
		t.Errorf("no command nor args: the image's entrypoint and cmd apply, got %q %q", body.Entrypoint, body.Cmd)
	}
	wantBinds := []string{
		"/srv/task-pods/host/tmp/app-engine/task-run-inputs-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d:/inputs",
		"/srv/task-pods/host/tmp/app-engine/task-run-outputs-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d:/outputs",
		"/srv/task-pods/pods/add-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d/serviceaccount:/var/run/secrets/kubernetes.io/serviceaccount:ro",
	}
	if !reflect.DeepEqual(body.HostConfig.Binds, wantBinds) {
		t.Errorf("Binds = %q\nwant %q", body.HostConfig.Binds, wantBinds)
	}
	hc := body.HostConfig
	if hc.NanoCpus != 1e9 || hc.Memory != 1<<30 || hc.MemorySwap != 1<<30 {
		t.Errorf("NanoCpus %d Memory %d MemorySwap %d", hc.NanoCpus, hc.Memory, hc.MemorySwap)
	}
	if hc.NetworkMode != "cytomine-tasks" || hc.Privileged || hc.RestartPolicy.Name != "no" ||
		!reflect.DeepEqual(hc.CapDrop, []string{"ALL"}) || !reflect.DeepEqual(hc.SecurityOpt, []string{"no-new-privileges"}) {
		t.Errorf("HostConfig = %+v", hc)
	}
	wantLabels := map[string]string{
		labelPod: "add-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d", labelNamespace: "tasks", labelContainer: "task",
		labelUID: "9d5ae2a4-1111-4222-8333-444455556666", labelNetwork: "cytomine-tasks",
	}
	if !reflect.DeepEqual(body.Labels, wantLabels) {
		t.Errorf("Labels = %v", body.Labels)
	}
	if body.User != "" {
		t.Errorf("User = %q: the image's user applies", body.User)
	}
	// The wire names are Docker's.
	b, _ := json.Marshal(body)
	for _, key := range []string{`"Image":`, `"HostConfig":{"NetworkMode":`, `"NanoCpus":1000000000`, `"Binds":[`, `"RestartPolicy":{"Name":"no"}`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("create body lacks %s: %s", key, b)
		}
	}
}

func TestCreateBodyHelperContainer(t *testing.T) {
	p := admittedUpstreamPod(t)
	c := p.Spec.Containers[1]
	body := buildCreateBody(testRunConfig(), p, c)
	if !reflect.DeepEqual(body.Entrypoint, c.Command) || body.Cmd != nil {
		t.Errorf("command maps to Entrypoint and replaces the image's cmd: %q %q", body.Entrypoint, body.Cmd)
	}
	wantEnv := []string{
		"KUBERNETES_SERVICE_HOST=task-pods",
		"KUBERNETES_SERVICE_PORT=6443",
		"KUBERNETES_SERVICE_PORT_HTTPS=6443",
		"POD_NAME=add-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d",
	}
	if !reflect.DeepEqual(body.Env, wantEnv) {
		t.Errorf("Env = %q\nwant %q", body.Env, wantEnv)
	}
	if body.HostConfig.NanoCpus != 5e8 || body.HostConfig.Memory != 256<<20 {
		t.Errorf("NanoCpus %d Memory %d", body.HostConfig.NanoCpus, body.HostConfig.Memory)
	}
}

func TestCreateBodyArgsEnvAndUser(t *testing.T) {
	p := admittedUpstreamPod(t)
	uid, gid, no := int64(1000), int64(2000), false
	p.Spec.AutomountServiceAccountToken = &no
	p.Spec.SecurityContext = &PodSecurityContext{RunAsUser: &uid}
	p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "scratch", EmptyDir: &EmptyDirVol{}})
	c := Container{
		Name: "x", Image: "busybox:1", Args: []string{"--in", "$(INPUT)", "$$(INPUT)", "$(UNDEFINED)", "$(cat f)"},
		WorkingDir: "/work",
		Env: []EnvVar{
			{Name: "INPUT", Value: "/inputs/$(KUBERNETES_SERVICE_HOST)"},
			{Name: "UID", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "metadata.uid"}}},
			{Name: "NS", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "IP", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "KUBERNETES_SERVICE_PORT", Value: "443"},
		},
		Resources:       ResourceRequirements{Limits: map[string]Quantity{"cpu": "250m", "memory": "1e9"}},
		VolumeMounts:    []VolumeMount{{Name: "images-datasets", MountPath: "/datasets/", ReadOnly: true}, {Name: "scratch", MountPath: "/scratch"}},
		SecurityContext: &SecurityContext{RunAsGroup: &gid},
	}
	body := buildCreateBody(testRunConfig(), p, c)
	if body.Entrypoint != nil || !reflect.DeepEqual(body.Cmd, []string{"--in", "/inputs/task-pods", "$(INPUT)", "$(UNDEFINED)", "$(cat f)"}) {
		t.Errorf("args only: Entrypoint %q Cmd %q", body.Entrypoint, body.Cmd)
	}
	wantEnv := []string{
		"KUBERNETES_SERVICE_HOST=task-pods", "KUBERNETES_SERVICE_PORT=443", "KUBERNETES_SERVICE_PORT_HTTPS=6443",
		"INPUT=/inputs/task-pods", "UID=9d5ae2a4-1111-4222-8333-444455556666", "NS=tasks", "IP=",
	}
	if !reflect.DeepEqual(body.Env, wantEnv) {
		t.Errorf("Env = %q\nwant %q", body.Env, wantEnv)
	}
	wantBinds := []string{
		"/srv/task-pods/host/data/datasets:/datasets:ro",
		"/srv/task-pods/pods/add-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d/volumes/scratch:/scratch",
	}
	if !reflect.DeepEqual(body.HostConfig.Binds, wantBinds) {
		t.Errorf("Binds = %q (no service account when automount is false)", body.HostConfig.Binds)
	}
	if body.User != "1000:2000" || body.WorkingDir != "/work" || body.HostConfig.NanoCpus != 25e7 || body.HostConfig.Memory != 1e9 {
		t.Errorf("User %q WorkingDir %q NanoCpus %d Memory %d", body.User, body.WorkingDir, body.HostConfig.NanoCpus, body.HostConfig.Memory)
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two"}
	for in, want := range map[string]string{
		"$(A)":            "1",
		"x$(A)y$(B)z":     "x1ytwoz",
		"$$(A)":           "$(A)",
		"$$":              "$",
		"$(C)":            "$(C)",
		"$(A":             "$(A",
		"${A} $A $":       "${A} $A $",
		"echo $(cat f)":   "echo $(cat f)",
		"a$$b":            "a$b",
		"$(A)$(A)":        "11",
		"plain":           "plain",
		"100% $(B)!":      "100% two!",
		"TOKEN=$(cat /t)": "TOKEN=$(cat /t)",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDockerNameIsUnambiguous(t *testing.T) {
	if dockerName("tasks", "a-b", "c") == dockerName("tasks", "a", "b-c") {
		t.Error("names collide")
	}
}
