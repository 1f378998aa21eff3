// Security settings every Cytomine pod and container gets: the Pod Security "restricted" profile,
// a read-only root filesystem where the image allows it, and bounded resources.
import * as k8s from "@pulumi/kubernetes";

type PodSecurityContext = k8s.types.input.core.v1.PodSecurityContext;
type SecurityContext = k8s.types.input.core.v1.SecurityContext;
type Resources = k8s.types.input.core.v1.ResourceRequirements;

/** Runs the pod as UID (and group) `uid`; volumes are made writable for that group. */
export function podSecurityContext(uid: number): PodSecurityContext {
    return {
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: uid,
        fsGroup: uid,
        seccompProfile: { type: "RuntimeDefault" },
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

/** Requests equal to limits for memory (no overcommit of the databases); CPU may burst. */
export function resources(cpu: string, memory: string, ephemeral = "1Gi"): Resources {
    return {
        requests: { cpu, memory, "ephemeral-storage": ephemeral },
        limits: { memory, "ephemeral-storage": ephemeral },
    };
}
