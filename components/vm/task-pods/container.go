package main

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// The translation of one Kubernetes container into a Docker create body,
// with the kubelet's semantics for command/args, environment and $(VAR)
// references, and our fixed hardening (no capabilities, no new privileges,
// no published ports, limits always set).

const (
	labelPod       = "task-pods.cytomine-fallback/pod"
	labelNamespace = "task-pods.cytomine-fallback/namespace"
	labelContainer = "task-pods.cytomine-fallback/container"
	labelUID       = "task-pods.cytomine-fallback/uid" // tells a pod from an earlier one of the same name
	// Tells one task-pods' containers from another's on the same host: every tenant's is "tasks".
	labelNetwork = "task-pods.cytomine-fallback/network"

	serviceAccountMount = "/var/run/secrets/kubernetes.io/serviceaccount"
)

// runConfig is what running pods needs from the configuration.
type runConfig struct {
	namespace   string
	network     string
	stateDir    string // same absolute path in this container and on the host
	serviceHost string
	servicePort string
}

// dockerName is unique per task-pods (its network), pod and container: '_' cannot occur in
// Kubernetes names, nor in Docker network names made by compose's project and network names.
func dockerName(network, pod, container string) string { return network + "_" + pod + "_" + container }

func (rc *runConfig) podDir(pod string) string { return filepath.Join(rc.stateDir, "pods", pod) }

func (rc *runConfig) serviceAccountDir(pod string) string {
	return filepath.Join(rc.podDir(pod), "serviceaccount")
}

func (rc *runConfig) emptyDir(pod, volume string) string {
	return filepath.Join(rc.podDir(pod), "volumes", volume)
}

// hostDir is where an allowed hostPath really lives: pods share it with each
// other as on a node, but never see the host's own files.
func (rc *runConfig) hostDir(p string) string {
	return filepath.Join(rc.stateDir, "host", path.Clean(p))
}

func (rc *runConfig) podLabels(p *Pod) map[string]string {
	return map[string]string{labelNetwork: rc.network, labelNamespace: p.Metadata.Namespace, labelPod: p.Metadata.Name,
		labelUID: p.Metadata.UID}
}

func mountsServiceAccount(p *Pod) bool {
	return p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken
}

// buildCreateBody maps container c of pod p; p was admitted, so its volumes,
// env sources and limits are known to be valid.
func buildCreateBody(rc *runConfig, p *Pod, c Container) *createBody {
	env := containerEnv(rc, p, c)
	lookup := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		lookup[k] = v
	}
	body := &createBody{
		Image:      c.Image,
		Entrypoint: expandAll(c.Command, lookup),
		Cmd:        expandAll(c.Args, lookup),
		WorkingDir: c.WorkingDir,
		Env:        env,
		Hostname:   strings.TrimRight(p.Metadata.Name[:min(len(p.Metadata.Name), 63)], "-."),
		Labels:     rc.podLabels(p),
		HostConfig: hostConfig{
			NetworkMode:   rc.network,
			Binds:         []string{},
			CapDrop:       []string{"ALL"},
			SecurityOpt:   []string{"no-new-privileges"},
			RestartPolicy: restartPolicy{Name: "no"},
		},
	}
	body.Labels[labelContainer] = c.Name
	if uid, gid, _ := effectiveUser(c, p.Spec.SecurityContext); uid != nil {
		body.User = fmt.Sprint(*uid)
		if gid != nil {
			body.User += fmt.Sprintf(":%d", *gid)
		}
	}
	cpu, _ := parseMilli(string(c.Resources.Limits["cpu"]))
	mem, _ := parseValue(string(c.Resources.Limits["memory"]))
	body.HostConfig.NanoCpus = cpu * 1_000_000
	// Swap equal to memory: no swap beyond the limit, as on a node without swap.
	body.HostConfig.Memory, body.HostConfig.MemorySwap = mem, mem

	volumes := map[string]Volume{}
	for _, v := range p.Spec.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v := volumes[m.Name]
		src := rc.emptyDir(p.Metadata.Name, v.Name)
		if v.HostPath != nil {
			src = rc.hostDir(v.HostPath.Path)
		}
		bind := src + ":" + path.Clean(m.MountPath)
		if m.ReadOnly {
			bind += ":ro"
		}
		body.HostConfig.Binds = append(body.HostConfig.Binds, bind)
	}
	if mountsServiceAccount(p) {
		body.HostConfig.Binds = append(body.HostConfig.Binds, rc.serviceAccountDir(p.Metadata.Name)+":"+serviceAccountMount+":ro")
	}
	return body
}

// containerEnv is the kubelet's environment: the API server's service
// variables first, then the container's own, later definitions overriding
// earlier ones, each value expanded against the variables defined before it.
func containerEnv(rc *runConfig, p *Pod, c Container) []string {
	var keys []string
	values := map[string]string{}
	set := func(k, v string) {
		if _, ok := values[k]; !ok {
			keys = append(keys, k)
		}
		values[k] = v
	}
	set("KUBERNETES_SERVICE_HOST", rc.serviceHost)
	set("KUBERNETES_SERVICE_PORT", rc.servicePort)
	set("KUBERNETES_SERVICE_PORT_HTTPS", rc.servicePort)
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			set(e.Name, fieldValue(p, e.ValueFrom.FieldRef.FieldPath))
			continue
		}
		set(e.Name, expand(e.Value, values))
	}
	env := make([]string, len(keys))
	for i, k := range keys {
		env[i] = k + "=" + values[k]
	}
	return env
}

// fieldValue resolves the downward-API fields admission lets through. The
// pod has no IP of its own that we track, so status.podIP is empty.
func fieldValue(p *Pod, fieldPath string) string {
	switch fieldPath {
	case "metadata.name":
		return p.Metadata.Name
	case "metadata.namespace":
		return p.Metadata.Namespace
	case "metadata.uid":
		return p.Metadata.UID
	default:
		return ""
	}
}

func expandAll(list []string, vars map[string]string) []string {
	if len(list) == 0 {
		return nil // unset: the image's entrypoint or cmd applies
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = expand(s, vars)
	}
	return out
}

// expand replaces $(VAR) with the variable's value as the kubelet does:
// "$$" yields "$", and an undefined $(VAR) is left as written, so shell
// syntax such as $(cat file) or ${VAR} passes through.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
			b.WriteByte(next)
			i++
		}
	}
	return b.String()
}
