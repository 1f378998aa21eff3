package main

import (
	"crypto/rand"
	"fmt"
	"maps"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Admission, in the API server's order: defaulting, validation (422),
// Pod Security (403), then the ResourceQuota "task-quota" (403).
// Pod Security here is our own policy: no host namespaces, no privilege, no
// added capabilities, no host ports, and only emptyDir and hostPath volumes,
// the latter under allowed prefixes and remapped into the state directory.

const quotaName = "task-quota"

var (
	dnsLabelRE     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomainRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// The Docker reference grammar: [domain[:port]/]path[:tag][@sha256:digest].
	imageRefRE = regexp.MustCompile(`^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?` +
		`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` +
		`(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`)
)

// supportedFieldRefs are the downward-API fields the runner resolves.
var supportedFieldRefs = []string{"metadata.name", "metadata.namespace", "metadata.uid", "status.podIP"}

// usage is what the quota counts.
type usage struct {
	cpuMilli, memBytes, pods int64
}

// admission holds what the emulated cluster enforces.
type admission struct {
	hostPaths []string // allowed hostPath prefixes, cleaned
	images    []string // allowed images: a repository prefix ending in "/", or one exact reference
	quota     usage
}

// admit defaults and checks a pod to be created in namespace ns and returns
// its quota usage. The quota itself is checked by the store, atomically with
// the insertion.
func (a *admission) admit(ns string, p *Pod) (usage, error) {
	if p.Kind != "" && p.Kind != "Pod" || p.APIVersion != "" && p.APIVersion != "v1" {
		return usage{}, badRequest("only v1 Pod objects can be created here, not %s %s", p.APIVersion, p.Kind)
	}
	if p.Metadata.Namespace != "" && p.Metadata.Namespace != ns {
		return usage{}, badRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	p.APIVersion, p.Kind, p.Metadata.Namespace = "v1", "Pod", ns
	if p.Metadata.Name == "" && p.Metadata.GenerateName != "" {
		p.Metadata.Name = p.Metadata.GenerateName + randomSuffix()
	}
	for _, c := range []*[]Container{&p.Spec.InitContainers, &p.Spec.Containers} {
		for i := range *c {
			defaultPullPolicy(&(*c)[i])
		}
	}
	if errs := validate(p); len(errs) > 0 {
		msg := errs[0]
		if len(errs) > 1 {
			msg = "[" + strings.Join(errs, ", ") + "]"
		}
		return usage{}, errorf(http.StatusUnprocessableEntity, "Invalid", "Pod %q is invalid: %s", p.Metadata.Name, msg)
	}
	if v := a.podSecurity(p); len(v) > 0 {
		return usage{}, forbidden("pods %q is forbidden: violates PodSecurity %q: %s", p.Metadata.Name, "task-pods", strings.Join(v, ", "))
	}
	if bad := a.foreignImages(p); len(bad) > 0 {
		return usage{}, forbidden("pods %q is forbidden: images not from the task registry or the tasks runner (allowed: %s): %s",
			p.Metadata.Name, strings.Join(a.images, ", "), strings.Join(bad, ", "))
	}
	return podUsage(p)
}

// foreignImages lists the containers whose image the allow-list does not hold: the app engine's
// pods name the tenant's registry and the tasks runner only (KubernetesScheduler.java), so any other
// image on the host (its databases, say) stays out of reach of whoever holds the token.
func (a *admission) foreignImages(p *Pod) []string {
	var bad []string
	for _, c := range p.Spec.allContainers() {
		if !slices.ContainsFunc(a.images, func(allowed string) bool {
			return c.Image == allowed || strings.HasSuffix(allowed, "/") && strings.HasPrefix(c.Image, allowed)
		}) {
			bad = append(bad, fmt.Sprintf("container %q uses %q", c.Name, c.Image))
		}
	}
	return bad
}

// randomSuffix is what generateName appends: 5 lowercase alphanumerics.
func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789" // the API server's alphabet, no vowels
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// defaultPullPolicy applies the API server default: Always for :latest or untagged images.
func defaultPullPolicy(c *Container) {
	if c.ImagePullPolicy != "" {
		return
	}
	_, tag := splitImageRef(c.Image)
	if tag == "latest" {
		c.ImagePullPolicy = "Always"
	} else {
		c.ImagePullPolicy = "IfNotPresent"
	}
}

// validate returns the field errors the API server would report, and the
// refusals of what is not run here.
func validate(p *Pod) []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	switch name := p.Metadata.Name; {
	case name == "":
		add("metadata.name: Required value: name or generateName is required")
	case len(name) > 253 || !dnsSubdomainRE.MatchString(name):
		add("metadata.name: Invalid value: %q: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character", name)
	}
	if rp := p.Spec.RestartPolicy; rp != "Never" && rp != "OnFailure" {
		add("spec.restartPolicy: Unsupported value: %q: only \"Never\" and \"OnFailure\" pods are run here", rp)
	}

	volumes := map[string]bool{}
	for i, v := range p.Spec.Volumes {
		f := fmt.Sprintf("spec.volumes[%d]", i)
		checkUniqueLabel(add, f, v.Name, volumes)
		if v.HostPath != nil && v.EmptyDir != nil {
			add("%s.hostPath: Forbidden: may not specify more than 1 volume type", f)
		}
		if v.HostPath != nil && (!path.IsAbs(v.HostPath.Path) || strings.ContainsAny(v.HostPath.Path, ":,")) {
			add("%s.hostPath.path: Invalid value: %q: must be an absolute path without ':' or ','", f, v.HostPath.Path)
		}
	}

	if len(p.Spec.Containers) == 0 {
		add("spec.containers: Required value")
	}
	names := map[string]bool{}
	for _, group := range []struct {
		field string
		list  []Container
	}{{"spec.initContainers", p.Spec.InitContainers}, {"spec.containers", p.Spec.Containers}} {
		for i, c := range group.list {
			f := fmt.Sprintf("%s[%d]", group.field, i)
			checkUniqueLabel(add, f, c.Name, names)
			errs = append(errs, validateContainer(f, c, p.Spec.SecurityContext, volumes)...)
		}
	}
	return errs
}

// checkUniqueLabel checks the name at field f: required, a DNS label, not among seen (then added).
func checkUniqueLabel(add func(string, ...any), f, name string, seen map[string]bool) {
	switch {
	case name == "":
		add("%s.name: Required value", f)
	case !validLabel(name):
		add("%s.name: Invalid value: %q: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'", f, name)
	case seen[name]:
		add("%s.name: Duplicate value: %q", f, name)
	}
	seen[name] = true
}

func validLabel(s string) bool { return len(s) <= 63 && dnsLabelRE.MatchString(s) }

func validateContainer(f string, c Container, podSC *PodSecurityContext, volumes map[string]bool) []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	switch {
	case c.Image == "":
		add("%s.image: Required value", f)
	case len(c.Image) > 512 || !imageRefRE.MatchString(c.Image):
		add("%s.image: Invalid value: %q: invalid reference format", f, c.Image)
	}
	if !slices.Contains([]string{"Always", "IfNotPresent", "Never"}, c.ImagePullPolicy) {
		add("%s.imagePullPolicy: Unsupported value: %q: supported values: \"Always\", \"IfNotPresent\", \"Never\"", f, c.ImagePullPolicy)
	}
	if c.RestartPolicy != "" {
		add("%s.restartPolicy: Forbidden: sidecar containers are not supported here", f)
	}
	if c.WorkingDir != "" && !path.IsAbs(c.WorkingDir) {
		add("%s.workingDir: Invalid value: %q: must be an absolute path", f, c.WorkingDir)
	}
	if len(c.EnvFrom) > 0 {
		add("%s.envFrom: Forbidden: envFrom is not supported here", f)
	}
	for i, e := range c.Env {
		ef := fmt.Sprintf("%s.env[%d]", f, i)
		if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
			add("%s.name: Invalid value: %q: a valid environment variable name must not be empty nor contain '='", ef, e.Name)
		}
		if e.ValueFrom == nil {
			continue
		}
		vf := e.ValueFrom
		switch {
		case e.Value != "":
			add("%s.valueFrom: Invalid value: \"\": may not be specified when `value` is not empty", ef)
		case vf.ResourceFieldRef != nil || vf.ConfigMapKeyRef != nil || vf.SecretKeyRef != nil:
			add("%s.valueFrom: Forbidden: only fieldRef is supported here", ef)
		case vf.FieldRef == nil:
			add("%s.valueFrom: Required value: must specify one of: `fieldRef`", ef)
		case !slices.Contains(supportedFieldRefs, vf.FieldRef.FieldPath):
			add("%s.valueFrom.fieldRef.fieldPath: Unsupported value: %q: supported values: %s", ef, vf.FieldRef.FieldPath, quoteList(supportedFieldRefs))
		}
	}
	for _, kind := range []struct {
		name string
		m    map[string]Quantity
	}{{"limits", c.Resources.Limits}, {"requests", c.Resources.Requests}} {
		for _, res := range slices.Sorted(maps.Keys(kind.m)) {
			q := kind.m[res]
			rf := fmt.Sprintf("%s.resources.%s[%s]", f, kind.name, res)
			if res != "cpu" && res != "memory" {
				add("%s: Unsupported value: %q: only cpu and memory are available here", rf, res)
				continue
			}
			if _, err := parseQuantity(string(q)); err != nil {
				add("%s: Invalid value: %q: %v", rf, q, err)
			}
		}
	}
	for _, res := range []string{"cpu", "memory"} {
		req, hasReq := c.Resources.Requests[res]
		lim, hasLim := c.Resources.Limits[res]
		if hasReq && hasLim {
			r, err1 := parseQuantity(string(req))
			l, err2 := parseQuantity(string(lim))
			if err1 == nil && err2 == nil && r.Cmp(l) > 0 {
				add("%s.resources.requests: Invalid value: %q: must be less than or equal to %s limit of %s", f, req, res, lim)
			}
		}
	}
	mounts := map[string]bool{}
	for i, m := range c.VolumeMounts {
		mf := fmt.Sprintf("%s.volumeMounts[%d]", f, i)
		if !volumes[m.Name] {
			add("%s.name: Not found: %q", mf, m.Name)
		}
		switch {
		case !path.IsAbs(m.MountPath) || strings.ContainsAny(m.MountPath, ":,"):
			add("%s.mountPath: Invalid value: %q: must be an absolute path without ':' or ','", mf, m.MountPath)
		case mounts[path.Clean(m.MountPath)]:
			add("%s.mountPath: Invalid value: %q: must be unique", mf, m.MountPath)
		}
		mounts[path.Clean(m.MountPath)] = true
		if m.SubPath != "" || m.SubPathExpr != "" {
			add("%s.subPath: Forbidden: subPath is not supported here", mf)
		}
	}
	uid, gid, _ := effectiveUser(c, podSC)
	if gid != nil && uid == nil {
		add("%s.securityContext.runAsGroup: Forbidden: runAsGroup requires runAsUser here", f)
	}
	if (uid != nil && *uid < 0) || (gid != nil && *gid < 0) {
		add("%s.securityContext: Invalid value: must be between 0 and 2147483647, inclusive", f)
	}
	return errs
}

// effectiveUser merges the container security context over the pod's, as the kubelet does.
func effectiveUser(c Container, podSC *PodSecurityContext) (uid, gid *int64, nonRoot bool) {
	if podSC != nil {
		uid, gid, nonRoot = podSC.RunAsUser, podSC.RunAsGroup, podSC.RunAsNonRoot != nil && *podSC.RunAsNonRoot
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
	}
	return uid, gid, nonRoot
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// podSecurity lists the violations of our Pod Security policy.
func (a *admission) podSecurity(p *Pod) []string {
	var v []string
	var hostNS []string
	for _, h := range []struct {
		name string
		on   bool
	}{{"hostNetwork", p.Spec.HostNetwork}, {"hostPID", p.Spec.HostPID}, {"hostIPC", p.Spec.HostIPC}} {
		if h.on {
			hostNS = append(hostNS, h.name+"=true")
		}
	}
	if len(hostNS) > 0 {
		v = append(v, fmt.Sprintf("host namespaces (%s)", strings.Join(hostNS, ", ")))
	}
	for _, c := range p.Spec.allContainers() {
		if sc := c.SecurityContext; sc != nil {
			if sc.Privileged != nil && *sc.Privileged {
				v = append(v, fmt.Sprintf("privileged (container %q must not set securityContext.privileged=true)", c.Name))
			}
			if sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation {
				v = append(v, fmt.Sprintf("allowPrivilegeEscalation (container %q must not set securityContext.allowPrivilegeEscalation=true)", c.Name))
			}
			if sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
				v = append(v, fmt.Sprintf("unrestricted capabilities (container %q must not include %s in securityContext.capabilities.add)", c.Name, quoteList(sc.Capabilities.Add)))
			}
		}
		for _, port := range c.Ports {
			if port.HostPort != 0 {
				v = append(v, fmt.Sprintf("hostPort (container %q uses hostPort %d)", c.Name, port.HostPort))
			}
		}
	}
	for _, vol := range p.Spec.Volumes {
		switch {
		case len(vol.others) > 0:
			v = append(v, fmt.Sprintf("restricted volume types (volume %q uses restricted volume type %s)", vol.Name, quoteList(vol.others)))
		case vol.HostPath != nil && !a.hostPathAllowed(vol.HostPath.Path):
			v = append(v, fmt.Sprintf("hostPath volumes (volume %q uses path %q, outside the allowed %s)", vol.Name, vol.HostPath.Path, strings.Join(a.hostPaths, ", ")))
		case vol.HostPath == nil && vol.EmptyDir == nil:
			v = append(v, fmt.Sprintf("restricted volume types (volume %q has no emptyDir nor hostPath source)", vol.Name))
		}
	}
	return v
}

// hostPathAllowed: the cleaned path equals or lies under an allowed prefix.
func (a *admission) hostPathAllowed(p string) bool {
	if !path.IsAbs(p) {
		return false
	}
	p = path.Clean(p)
	for _, prefix := range a.hostPaths {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return true
		}
	}
	return false
}

// podUsage checks that every container has CPU and memory limits, as a quota
// on limits requires, and returns the pod's effective limits: the larger of
// the biggest init container and the sum of the regular containers.
func podUsage(p *Pod) (usage, error) {
	var noCPU, noMem []string
	for _, c := range p.Spec.allContainers() {
		if _, ok := c.Resources.Limits["cpu"]; !ok {
			noCPU = append(noCPU, c.Name)
		}
		if _, ok := c.Resources.Limits["memory"]; !ok {
			noMem = append(noMem, c.Name)
		}
	}
	if len(noCPU)+len(noMem) > 0 {
		var parts []string
		if len(noCPU) > 0 {
			parts = append(parts, "limits.cpu for: "+strings.Join(noCPU, ","))
		}
		if len(noMem) > 0 {
			parts = append(parts, "limits.memory for: "+strings.Join(noMem, ","))
		}
		return usage{}, forbidden("pods %q is forbidden: failed quota: %s: must specify %s", p.Metadata.Name, quotaName, strings.Join(parts, "; "))
	}
	limits := func(c Container) usage {
		cpu, _ := parseMilli(string(c.Resources.Limits["cpu"])) // validated above
		mem, _ := parseValue(string(c.Resources.Limits["memory"]))
		return usage{cpuMilli: cpu, memBytes: mem}
	}
	var sum, initMax usage
	for _, c := range p.Spec.Containers {
		l := limits(c)
		sum.cpuMilli = addSat(sum.cpuMilli, l.cpuMilli)
		sum.memBytes = addSat(sum.memBytes, l.memBytes)
	}
	for _, c := range p.Spec.InitContainers {
		l := limits(c)
		initMax.cpuMilli = max(initMax.cpuMilli, l.cpuMilli)
		initMax.memBytes = max(initMax.memBytes, l.memBytes)
	}
	return usage{cpuMilli: max(sum.cpuMilli, initMax.cpuMilli), memBytes: max(sum.memBytes, initMax.memBytes), pods: 1}, nil
}

// checkQuota refuses a pod whose usage, added to what active pods use, exceeds the quota.
func checkQuota(limit usage, name string, requested, used usage) error {
	type item struct {
		name             string
		req, used, limit int64
		format           func(int64) string
	}
	count := func(n int64) string { return fmt.Sprint(n) }
	var req, use, lim []string
	for _, it := range []item{
		{"limits.cpu", requested.cpuMilli, used.cpuMilli, limit.cpuMilli, formatMilli},
		{"limits.memory", requested.memBytes, used.memBytes, limit.memBytes, formatBytes},
		{"pods", requested.pods, used.pods, limit.pods, count},
	} {
		if addSat(it.req, it.used) > it.limit {
			req = append(req, it.name+"="+it.format(it.req))
			use = append(use, it.name+"="+it.format(it.used))
			lim = append(lim, it.name+"="+it.format(it.limit))
		}
	}
	if len(req) == 0 {
		return nil
	}
	return forbidden("pods %q is forbidden: exceeded quota: %s, requested: %s, used: %s, limited: %s",
		name, quotaName, strings.Join(req, ","), strings.Join(use, ","), strings.Join(lim, ","))
}
