package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// upstreamPodJSON is shaped like the pod KubernetesScheduler builds in cluster mode.
const upstreamPodJSON = `{
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "add-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d", "namespace": "tasks",
    "labels": {"runId": "0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d", "app": "task"}},
  "spec": {
    "hostNetwork": false,
    "serviceAccountName": "app-engine",
    "restartPolicy": "Never",
    "initContainers": [
      {"name": "permissions", "image": "cytomine/app-engine-tasks-runner:0165ef7", "imagePullPolicy": "IfNotPresent",
       "command": ["/bin/sh", "-c", "chmod -R 777 /inputs /outputs"],
       "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "500m", "memory": "256Mi"}},
       "volumeMounts": [{"name": "inputs", "mountPath": "/inputs"}, {"name": "outputs", "mountPath": "/outputs"}]},
      {"name": "inputs-provisioning", "image": "cytomine/app-engine-tasks-runner:0165ef7", "imagePullPolicy": "IfNotPresent",
       "command": ["/bin/sh", "-c", "curl -L -o inputs.zip http://app-engine:8080/app-engine/v1/task-runs/0b7a/inputs.zip && time unzip -o inputs.zip -d /inputs"],
       "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "500m", "memory": "256Mi"}},
       "volumeMounts": [{"name": "inputs", "mountPath": "/inputs"}]}
    ],
    "containers": [
      {"name": "task", "image": "127.0.0.1:5000/org/cytomine/fallback/test/add:1.0.0", "imagePullPolicy": "IfNotPresent",
       "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},
       "volumeMounts": [{"name": "inputs", "mountPath": "/inputs"}, {"name": "outputs", "mountPath": "/outputs"}]},
      {"name": "outputs-sending", "image": "cytomine/app-engine-tasks-runner:0165ef7", "imagePullPolicy": "IfNotPresent",
       "command": ["/bin/sh", "-c", "export TOKEN=$(cat /var/run/secrets/kubernetes.io/serviceaccount/token); while ! curl -vk -H \"Authorization: Bearer $TOKEN\" https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT_HTTPS}/api/v1/namespaces/tasks/pods/${POD_NAME}/status | jq '.status | .containerStatuses[] | select(.name == \"task\") | .state | keys[0]' | grep -q -F \"terminated\"; do sleep 2; done && cd /outputs && zip -0 -r outputs.zip ."],
       "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
       "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "500m", "memory": "256Mi"}},
       "volumeMounts": [{"name": "outputs", "mountPath": "/outputs"}]}
    ],
    "volumes": [
      {"name": "inputs", "hostPath": {"path": "/tmp/app-engine/task-run-inputs-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d"}},
      {"name": "outputs", "hostPath": {"path": "/tmp/app-engine/task-run-outputs-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d"}},
      {"name": "images-datasets", "hostPath": {"path": "/data/datasets"}}
    ]
  }
}`

func upstreamPod(t *testing.T) *Pod {
	t.Helper()
	var p Pod
	if err := json.Unmarshal([]byte(upstreamPodJSON), &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func testAdmission() *admission {
	return &admission{hostPaths: []string{"/tmp/app-engine", "/data/datasets"},
		images: []string{"127.0.0.1:5000/", "cytomine/app-engine-tasks-runner:0165ef7", "cytomine/app-engine-tasks-runner", "busybox:1"},
		quota:  usage{cpuMilli: 4000, memBytes: 8 << 30, pods: 3}}
}

func TestAdmitUpstreamPod(t *testing.T) {
	p := upstreamPod(t)
	u, err := testAdmission().admit("tasks", p)
	if err != nil {
		t.Fatalf("upstream pod refused: %v", err)
	}
	// Regular containers sum to 1.5 CPU and 1.25Gi; init containers need at most 0.5 and 256Mi.
	if want := (usage{cpuMilli: 1500, memBytes: 1280 << 20, pods: 1}); u != want {
		t.Errorf("usage = %+v, want %+v", u, want)
	}
}

func TestAdmitRefusals(t *testing.T) {
	tru := true
	cases := []struct {
		name   string
		ns     string
		mutate func(p *Pod)
		code   int
		reason string
		msg    string
	}{
		{"namespace mismatch", "other", func(p *Pod) {}, 400, "BadRequest",
			"the namespace of the provided object does not match the namespace sent on the request"},
		{"bad name", "tasks", func(p *Pod) { p.Metadata.Name = "Add_Task" }, 422, "Invalid",
			`Pod "Add_Task" is invalid: metadata.name: Invalid value: "Add_Task"`},
		{"no name", "tasks", func(p *Pod) { p.Metadata.Name = "" }, 422, "Invalid", "metadata.name: Required value"},
		{"no containers", "tasks", func(p *Pod) { p.Spec.Containers = nil }, 422, "Invalid", "spec.containers: Required value"},
		{"bad container name", "tasks", func(p *Pod) { p.Spec.Containers[0].Name = "Task" }, 422, "Invalid",
			`spec.containers[0].name: Invalid value: "Task"`},
		{"duplicate across init and regular", "tasks", func(p *Pod) { p.Spec.Containers[0].Name = "permissions" }, 422, "Invalid",
			`spec.containers[0].name: Duplicate value: "permissions"`},
		{"no image", "tasks", func(p *Pod) { p.Spec.Containers[0].Image = "" }, 422, "Invalid", "spec.containers[0].image: Required value"},
		{"bad image", "tasks", func(p *Pod) { p.Spec.Containers[0].Image = "../../containers/x" }, 422, "Invalid", "invalid reference format"},
		{"restart Always", "tasks", func(p *Pod) { p.Spec.RestartPolicy = "Always" }, 422, "Invalid",
			`spec.restartPolicy: Unsupported value: "Always": only "Never" and "OnFailure" pods are run here`},
		{"restart empty", "tasks", func(p *Pod) { p.Spec.RestartPolicy = "" }, 422, "Invalid", `spec.restartPolicy: Unsupported value: ""`},
		{"secret env", "tasks", func(p *Pod) {
			p.Spec.Containers[1].Env[0].ValueFrom = &EnvVarSource{SecretKeyRef: json.RawMessage(`{"name":"s","key":"k"}`)}
		}, 422, "Invalid", "spec.containers[1].env[0].valueFrom: Forbidden: only fieldRef is supported here"},
		{"unsupported fieldRef", "tasks", func(p *Pod) { p.Spec.Containers[1].Env[0].ValueFrom.FieldRef.FieldPath = "spec.nodeName" }, 422, "Invalid",
			`spec.containers[1].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "spec.nodeName"`},
		{"subPath", "tasks", func(p *Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "x" }, 422, "Invalid",
			"spec.containers[0].volumeMounts[0].subPath: Forbidden: subPath is not supported here"},
		{"unknown volume", "tasks", func(p *Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "nope" }, 422, "Invalid",
			`spec.containers[0].volumeMounts[0].name: Not found: "nope"`},
		{"gpu", "tasks", func(p *Pod) { p.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"] = "1" }, 422, "Invalid",
			`spec.containers[0].resources.limits[nvidia.com/gpu]: Unsupported value: "nvidia.com/gpu"`},
		{"bad quantity", "tasks", func(p *Pod) { p.Spec.Containers[0].Resources.Limits["cpu"] = "lots" }, 422, "Invalid",
			`spec.containers[0].resources.limits[cpu]: Invalid value: "lots"`},
		{"envFrom", "tasks", func(p *Pod) { p.Spec.Containers[0].EnvFrom = []json.RawMessage{json.RawMessage(`{}`)} }, 422, "Invalid",
			"envFrom is not supported here"},
		{"hostNetwork", "tasks", func(p *Pod) { p.Spec.HostNetwork = true }, 403, "Forbidden",
			`pods "add-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d" is forbidden: violates PodSecurity "task-pods": host namespaces (hostNetwork=true)`},
		{"hostPID and hostIPC", "tasks", func(p *Pod) { p.Spec.HostPID, p.Spec.HostIPC = true, true }, 403, "Forbidden",
			"host namespaces (hostPID=true, hostIPC=true)"},
		{"privileged", "tasks", func(p *Pod) { p.Spec.Containers[0].SecurityContext = &SecurityContext{Privileged: &tru} }, 403, "Forbidden",
			`privileged (container "task" must not set securityContext.privileged=true)`},
		{"privilege escalation", "tasks", func(p *Pod) {
			p.Spec.InitContainers[0].SecurityContext = &SecurityContext{AllowPrivilegeEscalation: &tru}
		}, 403, "Forbidden", `allowPrivilegeEscalation (container "permissions" must not set securityContext.allowPrivilegeEscalation=true)`},
		{"capabilities", "tasks", func(p *Pod) {
			p.Spec.Containers[0].SecurityContext = &SecurityContext{Capabilities: &Capabilities{Add: []string{"NET_ADMIN"}}}
		}, 403, "Forbidden", `unrestricted capabilities (container "task" must not include "NET_ADMIN" in securityContext.capabilities.add)`},
		{"hostPort", "tasks", func(p *Pod) { p.Spec.Containers[0].Ports = []ContainerPort{{ContainerPort: 80, HostPort: 8080}} }, 403, "Forbidden",
			`hostPort (container "task" uses hostPort 8080)`},
		{"hostPath outside", "tasks", func(p *Pod) { p.Spec.Volumes[2].HostPath.Path = "/etc" }, 403, "Forbidden",
			`hostPath volumes (volume "images-datasets" uses path "/etc", outside the allowed /tmp/app-engine, /data/datasets)`},
		{"hostPath traversal", "tasks", func(p *Pod) { p.Spec.Volumes[0].HostPath.Path = "/tmp/app-engine/../../etc" }, 403, "Forbidden",
			"hostPath volumes"},
		{"hostPath prefix lookalike", "tasks", func(p *Pod) { p.Spec.Volumes[0].HostPath.Path = "/tmp/app-engine-other" }, 403, "Forbidden",
			"hostPath volumes"},
		{"an image of the host", "tasks", func(p *Pod) { p.Spec.Containers[0].Image = "postgres:15" }, 403, "Forbidden",
			`images not from the task registry or the tasks runner (allowed: 127.0.0.1:5000/, cytomine/app-engine-tasks-runner:0165ef7, ` +
				`cytomine/app-engine-tasks-runner, busybox:1): container "task" uses "postgres:15"`},
		{"a registry's look-alike prefix", "tasks", func(p *Pod) { p.Spec.Containers[0].Image = "127.0.0.1:50000/org/add:1" }, 403, "Forbidden",
			`container "task" uses "127.0.0.1:50000/org/add:1"`},
		{"missing cpu limit", "tasks", func(p *Pod) {
			delete(p.Spec.Containers[0].Resources.Limits, "cpu")
			delete(p.Spec.InitContainers[0].Resources.Limits, "cpu")
		}, 403, "Forbidden", `pods "add-0b7a3c1e-5f7d-4a43-9d0c-2f1e8a9b7c6d" is forbidden: failed quota: task-quota: must specify limits.cpu for: permissions,task`},
		{"missing memory limit", "tasks", func(p *Pod) { p.Spec.Containers[1].Resources = ResourceRequirements{} }, 403, "Forbidden",
			"failed quota: task-quota: must specify limits.cpu for: outputs-sending; limits.memory for: outputs-sending"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := upstreamPod(t)
			tc.mutate(p)
			_, err := testAdmission().admit(tc.ns, p)
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("admit = %v, want a %d refusal", err, tc.code)
			}
			if ae.code != tc.code || ae.reason != tc.reason || !strings.Contains(ae.message, tc.msg) {
				t.Errorf("got %d %s %q\nwant %d %s containing %q", ae.code, ae.reason, ae.message, tc.code, tc.reason, tc.msg)
			}
		})
	}
}

func TestAdmitOtherVolumeType(t *testing.T) {
	var p Pod
	if err := json.Unmarshal([]byte(upstreamPodJSON), &p); err != nil {
		t.Fatal(err)
	}
	var v Volume
	if err := json.Unmarshal([]byte(`{"name":"docker","hostPath":null,"nfs":{"server":"x","path":"/"}}`), &v); err != nil {
		t.Fatal(err)
	}
	p.Spec.Volumes = append(p.Spec.Volumes, v)
	_, err := testAdmission().admit("tasks", &p)
	if err == nil || !strings.Contains(err.Error(), `restricted volume types (volume "docker" uses restricted volume type "nfs")`) {
		t.Fatalf("admit = %v", err)
	}
}

func TestAdmitDefaultsAndGenerateName(t *testing.T) {
	p := upstreamPod(t)
	p.Metadata.Name, p.Metadata.GenerateName, p.Metadata.Namespace = "", "add-", ""
	p.Spec.Containers[0].ImagePullPolicy = ""
	p.Spec.Containers[1].ImagePullPolicy = ""
	p.Spec.Containers[1].Image = "cytomine/app-engine-tasks-runner"
	if _, err := testAdmission().admit("tasks", p); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Metadata.Name, "add-") || len(p.Metadata.Name) != len("add-")+5 || p.Metadata.Namespace != "tasks" {
		t.Errorf("name %q namespace %q", p.Metadata.Name, p.Metadata.Namespace)
	}
	if got := p.Spec.Containers[0].ImagePullPolicy; got != "IfNotPresent" {
		t.Errorf("tagged image pull policy = %q", got)
	}
	if got := p.Spec.Containers[1].ImagePullPolicy; got != "Always" {
		t.Errorf("untagged image pull policy = %q", got)
	}
}

func TestPodUsageInitContainersDominate(t *testing.T) {
	p := upstreamPod(t)
	p.Spec.InitContainers[1].Resources.Limits = map[string]Quantity{"cpu": "3", "memory": "100Mi"}
	u, err := podUsage(p)
	if err != nil {
		t.Fatal(err)
	}
	// CPU: the init container's 3 beats the regular sum 1.5; memory: the sum 1.25Gi beats 256Mi.
	if want := (usage{cpuMilli: 3000, memBytes: 1280 << 20, pods: 1}); u != want {
		t.Errorf("usage = %+v, want %+v", u, want)
	}
}

func TestCheckQuota(t *testing.T) {
	limit := usage{cpuMilli: 4000, memBytes: 2 << 30, pods: 3}
	if err := checkQuota(limit, "a", usage{1500, 1 << 30, 1}, usage{2500, 1 << 30, 2}); err != nil {
		t.Errorf("exactly at the quota: %v", err)
	}
	err := checkQuota(limit, "a", usage{1500, 512 << 20, 1}, usage{3000, 1 << 30, 1})
	var ae *apiError
	if !errors.As(err, &ae) || ae.code != http.StatusForbidden {
		t.Fatalf("over the quota: %v", err)
	}
	want := `pods "a" is forbidden: exceeded quota: task-quota, requested: limits.cpu=1500m, used: limits.cpu=3, limited: limits.cpu=4`
	if ae.message != want {
		t.Errorf("message\n got %s\nwant %s", ae.message, want)
	}
	err = checkQuota(limit, "b", usage{100, 2 << 30, 1}, usage{0, 1, 3})
	want = `pods "b" is forbidden: exceeded quota: task-quota, requested: limits.memory=2Gi,pods=1, used: limits.memory=1,pods=3, limited: limits.memory=2Gi,pods=3`
	if err == nil || err.Error() != want {
		t.Errorf("message\n got %v\nwant %s", err, want)
	}
}
