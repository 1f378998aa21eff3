// The plain functions that turn one Cytomine service (a ServiceSpec) into Kubernetes objects: pod
// template, workload, Service, volume claims and its NetworkPolicy.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ServiceSpec } from "../model/spec";
import { tenantLabels } from "./namespace";
import { containerSecurityContext, podSecurityContext } from "./security";

/** The kubernetes provider's annotation that skips its await of a resource's readiness. */
export const SKIP_AWAIT = "pulumi.com/skipAwait";

/** Claim name of a service's persistent volume. */
export const claimName = (component: string, volume: string) => `${component}-${volume}`;

/** Alive while the server listens; a minute of failures before a restart. */
const listening = (port: number): k8s.types.input.core.v1.Probe => ({
    tcpSocket: { port },
    periodSeconds: 10,
    failureThreshold: 6,
});

/** The pod template: restricted security, scratch emptyDirs, probes, no service-account token. */
/**
 * What a service's pod gets beyond its spec's own volumes, from another part of the tenant: PIMS the
 * dataset volumes, their mounts and the import view's init container (datasets.ts).
 */
export interface PodAdditions {
    volumes: k8s.types.input.core.v1.Volume[];
    volumeMounts: k8s.types.input.core.v1.VolumeMount[];
    initContainers: k8s.types.input.core.v1.Container[];
    /** Created before the workload (the claims the volumes name). */
    dependsOn: pulumi.Resource[];
}

export function podTemplate(
    tenant: string,
    s: ServiceSpec,
    extra?: PodAdditions,
    /** The operator's claim of model weights, for a spec that mounts them. */
    weightsClaim?: string,
): k8s.types.input.core.v1.PodTemplateSpec {
    const scratch = s.scratch.map((path, i) => ({ name: `scratch-${i}`, path }));
    return {
        metadata: { labels: tenantLabels(tenant, s.component) },
        spec: {
            serviceAccountName: s.component,
            // Only a service that drives the API gets a token (the spec says why).
            automountServiceAccountToken: s.kubernetesApiReason !== undefined,
            securityContext: podSecurityContext(s.uid, s.port),
            containers: [
                {
                    name: s.component,
                    image: s.image,
                    ...(s.args ? { args: s.args } : {}),
                    ports: [{ name: "http", containerPort: s.port }],
                    env: s.env,
                    readinessProbe: s.readiness,
                    livenessProbe: s.liveness ?? listening(s.port),
                    ...(s.startup ? { startupProbe: s.startup } : {}),
                    securityContext: {
                        ...containerSecurityContext(),
                        readOnlyRootFilesystem: s.writableRootReason === undefined,
                    },
                    resources: s.resources,
                    volumeMounts: [
                        ...s.volumes.map((v) => ({ name: v.name, mountPath: v.mountPath })),
                        ...scratch.map((v) => ({ name: v.name, mountPath: v.path })),
                        ...(s.weights ? [{ name: "weights", mountPath: s.weights, readOnly: true }] : []),
                        ...(extra?.volumeMounts ?? []),
                    ],
                },
            ],
            ...(extra ? { initContainers: extra.initContainers } : {}),
            volumes: [
                ...s.volumes.map((v) => ({
                    name: v.name,
                    persistentVolumeClaim: { claimName: claimName(s.component, v.name) },
                })),
                ...scratch.map((v) => ({ name: v.name, emptyDir: {} })),
                ...(s.weights && weightsClaim
                    ? [{ name: "weights", persistentVolumeClaim: { claimName: weightsClaim, readOnly: true } }]
                    : []),
                ...(extra?.volumes ?? []),
            ],
        },
    };
}

/** Where each kind of workload holds its pod spec. */
const POD_SPEC_PATHS: Record<string, readonly string[]> = {
    "kubernetes:core/v1:Pod": ["spec"],
    "kubernetes:apps/v1:Deployment": ["spec", "template", "spec"],
    "kubernetes:apps/v1:StatefulSet": ["spec", "template", "spec"],
    "kubernetes:apps/v1:DaemonSet": ["spec", "template", "spec"],
    "kubernetes:apps/v1:ReplicaSet": ["spec", "template", "spec"],
    "kubernetes:batch/v1:Job": ["spec", "template", "spec"],
    "kubernetes:batch/v1:CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
};

type Props = Record<string, unknown>;

/** `value` with `f` applied to the object at `path` (through Outputs); unchanged where there is none. */
function patchAt(value: unknown, path: readonly string[], f: (o: Props) => Props): unknown {
    if (pulumi.Output.isInstance(value) || value instanceof Promise)
        return pulumi.output(value).apply((v) => patchAt(v, path, f));
    if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
    if (path.length === 0) return f(value as Props);
    const [head, ...rest] = path;
    return { ...(value as Props), [head]: patchAt((value as Props)[head], rest, f) };
}

/** A workload's arguments with `f` applied to its pod spec; undefined for a resource that runs no pods. */
function patchPodSpec(type: string, props: Props, f: (pod: Props) => Props): Props | undefined {
    const path = POD_SPEC_PATHS[type];
    return path ? (patchAt(props, path, f) as Props) : undefined;
}

/**
 * A workload's arguments with `secretName` among its pods' imagePullSecrets; undefined for a resource
 * that runs no pods.
 */
export function withImagePullSecret(type: string, props: Props, secretName: string): Props | undefined {
    return patchPodSpec(type, props, (pod) => {
        const listed = (pod.imagePullSecrets as { name?: string }[] | undefined) ?? [];
        return listed.some((s) => s.name === secretName)
            ? pod
            : { ...pod, imagePullSecrets: [...listed, { name: secretName }] };
    });
}

/** Where a tenant's pods run: the nodes' labels they require and the taints they tolerate. */
export interface Placement {
    nodeSelector: Record<string, string>;
    tolerations: k8s.types.input.core.v1.Toleration[];
}

/** A workload's arguments with its pods placed (their own selector and tolerations kept, these added). */
export function withPlacement(type: string, props: Props, placement: Placement): Props | undefined {
    return patchPodSpec(type, props, (pod) => ({
        ...pod,
        nodeSelector: { ...(pod.nodeSelector as Record<string, string> | undefined), ...placement.nodeSelector },
        tolerations: [...((pod.tolerations as unknown[] | undefined) ?? []), ...placement.tolerations],
    }));
}

const CLUSTER_DNS = { matchLabels: { "k8s-app": "kube-dns" } };
/** Where pods reach the API server: the `kubernetes` Service's endpoints, as the preview read them. */
export interface ApiServer {
    addresses: string[];
    ports: number[];
}

/**
 * Egress to the API server. NetworkPolicies judge a Service's traffic after its translation, so the
 * rule names the endpoints' addresses and ports; when they are not known (a render), the ports API
 * servers usually listen on, to any address.
 */
export function apiServerEgress(api: ApiServer | undefined): k8s.types.input.networking.v1.NetworkPolicyEgressRule {
    if (!api) return { ports: [443, 6443].map((port) => ({ port, protocol: "TCP" })) };
    return {
        to: api.addresses.map((ip) => ({ ipBlock: { cidr: ip.includes(":") ? `${ip}/128` : `${ip}/32` } })),
        ports: api.ports.map((port) => ({ port, protocol: "TCP" })),
    };
}
const DNS_PORTS = [
    { port: 53, protocol: "UDP" },
    { port: 53, protocol: "TCP" },
];

/** Where the ingress controller or gateway runs: the only namespace let into a tenant's. */
export const namespaceSelector = (namespace: string) => ({
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } },
});

/** Out to the cluster's DNS. */
export const DNS_EGRESS = { to: [{ ...namespaceSelector("kube-system"), podSelector: CLUSTER_DNS }], ports: DNS_PORTS };

/**
 * The allow-policy of one service: in from its clients (and the router when routed), out to the
 * services it uses, to cluster DNS and to its external ports. Everything else stays denied.
 */
export function networkPolicySpec(
    tenant: string,
    s: ServiceSpec,
    all: readonly ServiceSpec[],
    routerNamespace: string,
    /** For a service that drives the API: where it reaches the API server. */
    apiServer?: ApiServer,
): k8s.types.input.networking.v1.NetworkPolicySpec {
    const pods = (component: string) => ({ podSelector: { matchLabels: tenantLabels(tenant, component) } });
    const from = [
        ...s.clients.map(pods),
        ...(s.clientNamespaces ?? []).map(namespaceSelector),
        ...(s.routed ? [namespaceSelector(routerNamespace)] : []),
    ];
    const servers = all.filter((other) => other.clients.includes(s.component));
    return {
        podSelector: { matchLabels: tenantLabels(tenant, s.component) },
        policyTypes: ["Ingress", "Egress"],
        ingress: from.length ? [{ from, ports: [{ port: s.port, protocol: "TCP" }] }] : [],
        egress: [
            ...servers.map((server) => ({
                to: [pods(server.component)],
                ports: [{ port: server.port, protocol: "TCP" }],
            })),
            DNS_EGRESS,
            ...(s.externalPorts.length
                ? [
                      {
                          // Anywhere but the cluster's private ranges: other tenants stay unreachable.
                          to: [
                              {
                                  ipBlock: {
                                      cidr: "0.0.0.0/0",
                                      except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
                                  },
                              },
                          ],
                          ports: s.externalPorts.map((port) => ({ port, protocol: "TCP" })),
                      },
                  ]
                : []),
            ...(s.kubernetesApiReason ? [apiServerEgress(apiServer)] : []),
        ],
    };
}

export interface WorkloadOptions {
    namespace: pulumi.Input<string>;
    tenant: string;
    parent: pulumi.Resource;
    /** Volume claims cannot be deleted or replaced, and survive destroy. */
    protectVolumes: boolean;
    /** The claims' StorageClass; unset: the cluster's default. */
    storageClass?: string;
    /** Created before the workload (the Secret its pods read). */
    dependsOn: pulumi.Resource[];
    /** What the pod gets from another part of the tenant (PIMS: the datasets). */
    extra?: PodAdditions;
    /** The operator's claim of model weights (config key ml.weights), for a spec that mounts them. */
    weightsClaim?: string;
}

/** Creates a service's ServiceAccount, volume claims, workload and Service. */
export function createWorkload(
    name: string,
    s: ServiceSpec,
    o: WorkloadOptions,
): { workload: pulumi.Resource; service: k8s.core.v1.Service } {
    const child = { parent: o.parent };
    const labels = tenantLabels(o.tenant, s.component);
    const metadata = { name: s.component, namespace: o.namespace, labels };
    const account = new k8s.core.v1.ServiceAccount(
        `${name}-account`,
        { metadata, automountServiceAccountToken: s.kubernetesApiReason !== undefined },
        child,
    );
    const claims = s.volumes.map(
        (v) =>
            new k8s.core.v1.PersistentVolumeClaim(
                `${name}-${v.name}`,
                {
                    metadata: {
                        name: claimName(s.component, v.name),
                        namespace: o.namespace,
                        labels,
                        // The provider would wait here until the claim is Bound. The workload's await
                        // proves more: its pods are Ready, which the scheduler allows only once their
                        // claims are bound, so this wait only held the workload back.
                        annotations: { [SKIP_AWAIT]: "true" },
                    },
                    spec: {
                        accessModes: ["ReadWriteOnce"],
                        ...(o.storageClass ? { storageClassName: o.storageClass } : {}),
                        resources: { requests: { storage: v.size } },
                    },
                },
                // The data lives here: protect blocks deletion and replacement; retainOnDelete keeps
                // the claim in the cluster should the protection be lifted and the stack destroyed.
                { ...child, protect: o.protectVolumes, retainOnDelete: o.protectVolumes },
            ),
    );
    const template = podTemplate(o.tenant, s, o.extra, o.weightsClaim);
    const after = { ...child, dependsOn: [account, ...claims, ...o.dependsOn, ...(o.extra?.dependsOn ?? [])] };
    const workload =
        s.kind === "StatefulSet"
            ? new k8s.apps.v1.StatefulSet(
                  name,
                  {
                      metadata,
                      spec: { serviceName: s.component, replicas: 1, selector: { matchLabels: labels }, template },
                  },
                  after,
              )
            : new k8s.apps.v1.Deployment(
                  name,
                  {
                      metadata,
                      spec: {
                          replicas: 1,
                          selector: { matchLabels: labels },
                          // One pod at a time: a single writer of a ReadWriteOnce volume must stop before
                          // its successor starts, and no service runs a second copy beside the first
                          // during an update (core and Keycloak migrate their databases as they start; a
                          // surge pod needs room the tenant's requests may leave none of on its node).
                          strategy: s.volumes.length
                              ? { type: "Recreate" }
                              : { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
                          template,
                      },
                  },
                  after,
              );
    const service = new k8s.core.v1.Service(
        `${name}-service`,
        {
            // The provider's Service await (pulumi-kubernetes provider/pkg/await/service.go) waits for
            // endpoints and then a fixed 10 s. The workload's own await already proves that the pods
            // this Service selects are Ready, and what needs the service waits for the workload.
            metadata: { ...metadata, annotations: { [SKIP_AWAIT]: "true" } },
            spec: {
                // A StatefulSet's governing Service is headless: clients reach the pod itself.
                ...(s.kind === "StatefulSet" ? { clusterIP: "None" } : {}),
                selector: labels,
                ports: [{ name: "http", port: s.port, targetPort: "http" }],
            },
        },
        // A replacement (e.g. an immutable clusterIP changed) cannot create a second Service of the same name first.
        { ...child, deleteBeforeReplace: true },
    );
    return { workload, service };
}
