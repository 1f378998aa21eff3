// Security settings every Cytomine pod and container gets: the Pod Security "restricted" profile and
// a read-only root filesystem where the image allows it.
import * as k8s from "@pulumi/kubernetes";

type PodSecurityContext = k8s.types.input.core.v1.PodSecurityContext;
type SecurityContext = k8s.types.input.core.v1.SecurityContext;

/**
 * Runs the pod as UID (and group) `uid`; volumes are made writable for that group. A server on a port
 * below 1024 (the web UI's nginx listens on 80: web-ui/nginx.conf) binds it without privileges through
 * the pod's own net.ipv4.ip_unprivileged_port_start, a namespaced sysctl that Pod Security "restricted"
 * allows (kubernetes.io/docs/concepts/security/pod-security-standards/, "Sysctls"). Docker sets it to
 * 0 in every container, which is why the VM target never needed it; containerd leaves the kernel's 1024.
 */
export function podSecurityContext(uid: number, port?: number): PodSecurityContext {
    return {
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: uid,
        fsGroup: uid,
        seccompProfile: { type: "RuntimeDefault" },
        ...(port !== undefined && port < 1024
            ? { sysctls: [{ name: "net.ipv4.ip_unprivileged_port_start", value: String(port) }] }
            : {}),
    };
}

export function containerSecurityContext(): SecurityContext {
    return {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ["ALL"] },
    };
}
