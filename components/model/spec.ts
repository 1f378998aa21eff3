// One Cytomine service described as data, whatever runs it: image, environment (plain values and
// references to generated secrets), port, volumes, probes, resources and who talks to whom. The
// Kubernetes target turns it into pods; the VM target into a compose service.
import type * as k8s from "@pulumi/kubernetes";

type Resources = k8s.types.input.core.v1.ResourceRequirements;
type EnvVar = k8s.types.input.core.v1.EnvVar;
type Probe = k8s.types.input.core.v1.Probe;

export interface ServiceSpec {
    /** The component: names its Service, workload and ServiceAccount, and labels its pods. */
    component: string;
    kind: "Deployment" | "StatefulSet";
    image: string;
    args?: string[];
    /** The port the server listens on; the Service exposes the same port. */
    port: number;
    /** UID (and GID) the image's server runs as. */
    uid: number;
    env: EnvVar[];
    /** Persistent volumes, each its own PersistentVolumeClaim `<component>-<name>`. */
    volumes: { name: string; mountPath: string; size: string }[];
    /** Paths written besides the volumes: emptyDirs, so that the root filesystem stays read-only. */
    scratch: string[];
    /** Set only when the image cannot run with a read-only root: the reason, shown in the code. */
    writableRootReason?: string;
    /**
     * The image's own build step, baked in where the target can build images (the VM's Docker engine):
     * an image derived from `image` runs `run` at build time with the entries of `env` named in
     * `buildEnv`, and its container starts with `args` in place of the service's. Nothing is then built
     * at start (Keycloak: `kc.sh build`, then `start --optimized`, as its container guide recommends,
     * https://www.keycloak.org/server/containers), so that container's root is read-only whatever
     * `writableRootReason` says of the image itself.
     */
    prebuild?: { buildEnv: string[]; run: string[]; args: string[] };
    /** Whether the service can take requests (an application-level check). */
    readiness: Probe;
    /** Whether to restart it; by default, whether the server still listens on its port. */
    liveness?: Probe;
    /** For slow starters: liveness checks begin only once this succeeds. */
    startup?: Probe;
    resources: k8s.types.input.core.v1.ResourceRequirements;
    /** Components of the tenant that connect to this one. */
    clients: string[];
    /** Namespaces of the tenant's own whose pods connect to this one (the app engine's task pods). */
    clientNamespaces?: string[];
    /** True when the ingress controller or gateway routes public traffic here. */
    routed: boolean;
    /** TCP ports this service reaches outside the cluster (e.g. an external Keycloak, LS Login). */
    externalPorts: number[];
    /** Where the operator's model weights are mounted, read-only (the ML services; config key ml.weights). */
    weights?: string;
    /**
     * Set only for a service that drives the Kubernetes API (the app engine schedules task pods): the
     * reason. Its pod gets its service account's token, and its egress the API server's ports.
     */
    kubernetesApiReason?: string;
    /**
     * VM target only: folders or sockets of the host bound into the container, each with the reason
     * (the task-pods service drives the host's Docker engine).
     */
    hostBinds?: { path: string; reason: string }[];
    /** VM target only: the host loopback port its port is published on (the task-image registry). */
    loopbackPort?: number;
}

/** The one Secret of a tenant: every generated password and key, read by the pods by key. */
export const SECRET_NAME = "cytomine-secrets";

export const secretEnv = (secret: string, name: string, key: string): EnvVar => ({
    name,
    valueFrom: { secretKeyRef: { name: secret, key } },
});

export const plainEnv = (vars: Record<string, string>): EnvVar[] =>
    Object.entries(vars).map(([name, value]) => ({ name, value }));

/** Requests equal to limits for memory (no overcommit of the databases); CPU may burst. */
export function resources(cpu: string, memory: string, ephemeral = "1Gi"): Resources {
    return {
        requests: { cpu, memory, "ephemeral-storage": ephemeral },
        limits: { memory, "ephemeral-storage": ephemeral },
    };
}

/** A service's CPU request and memory (request and limit), as the operator sets them (config key resources). */
export interface ResourceOverride {
    cpu?: string;
    memory?: string;
}

/** The spec with the operator's CPU and memory in place of its own; its ephemeral storage stays. */
export function withResources(s: ServiceSpec, o: ResourceOverride | undefined): ServiceSpec {
    if (!o || (o.cpu === undefined && o.memory === undefined)) return s;
    const r = s.resources as { requests: Record<string, string>; limits: Record<string, string> };
    return {
        ...s,
        resources: resources(o.cpu ?? r.requests.cpu, o.memory ?? r.requests.memory, r.requests["ephemeral-storage"]),
    };
}
