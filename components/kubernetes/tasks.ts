// The namespace where a tenant's app engine runs its task pods: rights in that namespace only, a quota
// so that one tenant's tasks cannot take the node, a policy that lets tasks reach only the app engine
// and the API server, and an admission policy that admits only pods of the shape upstream's scheduler
// creates (app-engine/src/main/java/be/cytomine/appengine/handlers/scheduler/impl/KubernetesScheduler.java).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ML_PORTS, TASK_HOST_PATHS, TaskLimits, tasksNamespaceOf } from "../model/ml";
import { tenantLabels, TenantNamespace } from "./namespace";
import { ApiServer, apiServerEgress, DNS_EGRESS, namespaceSelector, Placement } from "./workload";

/** The annotation of the admission policy that says why task containers may run privileged. */
export const PRIVILEGED_REASON_KEY = "cytomine.dev/privileged-reason";

/** The service account of the app engine (tenant namespace) and of its task pods (task namespace): KubernetesScheduler.java:238. */
export const APP_ENGINE_ACCOUNT = "app-engine";

/**
 * Why the task namespace enforces Pod Security "privileged": every task pod mounts hostPath volumes
 * (its inputs, outputs and the datasets: KubernetesScheduler.java:280-286), which "baseline" already
 * forbids. The admission policy below takes back what that level would let through.
 */
export const TASK_POD_SECURITY_REASON =
    "task pods mount hostPath volumes (KubernetesScheduler.java:280-286), which Pod Security baseline and restricted forbid; " +
    "the ValidatingAdmissionPolicy cytomine-tasks admits only hostPaths under the scheduler's own folders and no privilege";

/** The app engine's rights in the task namespace (as the chart's Role, plus the logs it reads: KubernetesScheduler.java:361-371). */
export const APP_ENGINE_RULES = [
    { apiGroups: [""], resources: ["pods", "pods/status"], verbs: ["create", "get", "watch", "list", "delete"] },
    { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
];
/** A task pod's: its outputs helper polls its own pod's status (KubernetesScheduler.java:190-196). */
export const TASK_RULES = [{ apiGroups: [""], resources: ["pods", "pods/status"], verbs: ["get"] }];

/** The quota: pods, and CPU and memory requested and limited, all task pods together. */
export function taskQuotaSpec(limits: TaskLimits): k8s.types.input.core.v1.ResourceQuotaSpec {
    return {
        hard: {
            pods: String(limits.pods),
            "requests.cpu": limits.cpu,
            "limits.cpu": limits.cpu,
            "requests.memory": limits.memory,
            "limits.memory": limits.memory,
        },
    };
}

/** Out to DNS, the app engine (inputs, outputs, state) and the API server; nothing in. */
export function taskPolicySpec(
    tenant: string,
    namespace: string,
    apiServer?: ApiServer,
): k8s.types.input.networking.v1.NetworkPolicySpec {
    return {
        podSelector: {},
        policyTypes: ["Ingress", "Egress"],
        ingress: [],
        egress: [
            {
                to: [
                    {
                        ...namespaceSelector(namespace),
                        podSelector: { matchLabels: tenantLabels(tenant, "app-engine") },
                    },
                ],
                ports: [{ port: ML_PORTS.appEngine, protocol: "TCP" }],
            },
            DNS_EGRESS,
            apiServerEgress(apiServer),
        ],
    };
}

/**
 * CEL rules every pod of the task namespace must pass: what Pod Security "privileged" lets through and a
 * task pod never needs. `privileged` containers are admitted only when the operator opted in.
 */
export function taskAdmissionRules(allowPrivileged: boolean): { expression: string; message: string }[] {
    // Parenthesised: a method call binds tighter than `+` in CEL.
    const containers = "(object.spec.containers + (has(object.spec.initContainers) ? object.spec.initContainers : []))";
    // The folder itself or below it: not a look-alike such as /data/datasets-other.
    const hostPaths = TASK_HOST_PATHS.map(
        (p) => `v.hostPath.path == '${p}' || v.hostPath.path.startsWith('${p}/')`,
    ).join(" || ");
    return [
        {
            expression: `!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.hostPath) || ${hostPaths})`,
            message: `hostPath volumes only under ${TASK_HOST_PATHS.map((p) => `${p}/`).join(", ")} (the app engine's run folders and datasets)`,
        },
        {
            expression:
                "!(has(object.spec.hostNetwork) && object.spec.hostNetwork) && !(has(object.spec.hostPID) && object.spec.hostPID) && !(has(object.spec.hostIPC) && object.spec.hostIPC)",
            message:
                "task pods do not share the node's network, processes or IPC (SCHEDULER_USE_HOST_NETWORK is false)",
        },
        {
            expression: `${containers}.all(c, !has(c.securityContext) || !has(c.securityContext.capabilities) || !has(c.securityContext.capabilities.add))`,
            message: "task containers add no capabilities",
        },
        ...(allowPrivileged
            ? []
            : [
                  {
                      expression: `${containers}.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || !c.securityContext.privileged)`,
                      message: "task containers are not privileged (config key ml.tasks.privilegedReason opts in)",
                  },
              ]),
    ];
}

/** A plain toleration, as the config key tolerations gives them. */
type Toleration = { key?: string; operator?: string; value?: string; effect?: string; tolerationSeconds?: number };

/**
 * The CEL JSON patch that places a task pod where the tenant's pods go (config keys nodeSelector and
 * tolerations): upstream's scheduler sets neither (KubernetesScheduler.java:236-239), so without it
 * task pods would land on any node. A patch, not an apply configuration: nodeSelector and
 * tolerations are atomic, which apply configurations may not change. Keys and values already on the
 * pod are kept. Strings are JSON literals, which CEL reads as its own.
 * https://kubernetes.io/docs/reference/access-authn-authz/mutating-admission-policy/
 */
export function taskPlacementExpression(placement: Placement): string {
    const q = JSON.stringify;
    const ensure = (field: string, empty: string) =>
        `(has(object.spec.${field}) ? [] : [JSONPatch{op: "add", path: "/spec/${field}", value: ${empty}}])`;
    const parts: string[] = [];
    const selector = Object.entries(placement.nodeSelector);
    if (selector.length > 0) {
        const adds = selector.map(
            ([k, v]) =>
                `JSONPatch{op: "add", path: "/spec/nodeSelector/" + jsonpatch.escapeKey(${q(k)}), value: ${q(v)}}`,
        );
        parts.push(ensure("nodeSelector", "{}"), `[${adds.join(", ")}]`);
    }
    if (placement.tolerations.length > 0) {
        const adds = (placement.tolerations as Toleration[]).map((t) => {
            const fields = Object.entries(t)
                .filter(([, v]) => v !== undefined)
                .map(([k, v]) => `${k}: ${typeof v === "number" ? v : q(v)}`);
            return `JSONPatch{op: "add", path: "/spec/tolerations/-", value: Object.spec.tolerations{${fields.join(", ")}}}`;
        });
        parts.push(ensure("tolerations", "[]"), `[${adds.join(", ")}]`);
    }
    return parts.join(" + ");
}

export interface TaskNamespaceArgs {
    tenant: string;
    /** The tenant's namespace, where the app engine runs. */
    namespace: pulumi.Input<string>;
    /** Its name as configured (the task namespace is named after it). */
    namespaceName: string;
    owner: string;
    limits: TaskLimits;
    /** Set when the operator lets task containers run privileged: the reason. */
    privilegedReason?: string;
    /** Where pods reach the API server (read by the preview; unknown in a render). */
    apiServer?: ApiServer;
    /** Set when the tenant's pods are placed: task pods go there too (a MutatingAdmissionPolicy, Kubernetes 1.36+). */
    placement?: Placement;
}

export class TaskNamespace extends pulumi.ComponentResource {
    public readonly name: pulumi.Output<string>;

    constructor(name: string, args: TaskNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:kubernetes:TaskNamespace", name, {}, opts);
        const child = { parent: this };
        const tasks = tasksNamespaceOf(args.namespaceName);
        const labels = tenantLabels(args.tenant, "tasks");
        const ns = new TenantNamespace(
            `${name}-namespace`,
            {
                namespace: tasks,
                tenant: args.tenant,
                owner: args.owner,
                podSecurity: "privileged",
                podSecurityReason: TASK_POD_SECURITY_REASON,
                // Nothing is kept there: a run's inputs and outputs live in the app engine's volume.
                retainOnDelete: false,
            },
            child,
        );
        const namespace = ns.name;
        const account = new k8s.core.v1.ServiceAccount(
            `${name}-account`,
            { metadata: { name: APP_ENGINE_ACCOUNT, namespace, labels } },
            child,
        );
        const role = (part: string, rules: typeof APP_ENGINE_RULES, subjectNamespace: pulumi.Input<string>) => {
            const r = new k8s.rbac.v1.Role(
                `${name}-${part}`,
                { metadata: { name: part, namespace, labels }, rules },
                child,
            );
            return new k8s.rbac.v1.RoleBinding(
                `${name}-${part}-binding`,
                {
                    metadata: { name: part, namespace, labels },
                    subjects: [{ kind: "ServiceAccount", name: APP_ENGINE_ACCOUNT, namespace: subjectNamespace }],
                    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: r.metadata.name },
                },
                child,
            );
        };
        role("pod-starter", APP_ENGINE_RULES, args.namespace);
        role("task-status", TASK_RULES, namespace);
        new k8s.core.v1.ResourceQuota(
            `${name}-quota`,
            { metadata: { name: "tasks", namespace, labels }, spec: taskQuotaSpec(args.limits) },
            child,
        );
        new k8s.networking.v1.NetworkPolicy(
            `${name}-policy`,
            {
                metadata: { name: "tasks", namespace, labels },
                spec: taskPolicySpec(args.tenant, args.namespaceName, args.apiServer),
            },
            child,
        );
        const policyName = `cytomine-tasks-${tasks}`;
        const policy = new k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            `${name}-admission`,
            {
                metadata: {
                    name: policyName,
                    labels,
                    // The operator's opt-in stays beside the rules it lifts (the policy pack requires one or the other).
                    ...(args.privilegedReason
                        ? { annotations: { [PRIVILEGED_REASON_KEY]: args.privilegedReason } }
                        : {}),
                },
                spec: {
                    failurePolicy: "Fail",
                    matchConstraints: {
                        resourceRules: [
                            {
                                apiGroups: [""],
                                apiVersions: ["v1"],
                                operations: ["CREATE", "UPDATE"],
                                resources: ["pods"],
                            },
                        ],
                    },
                    validations: taskAdmissionRules(args.privilegedReason !== undefined),
                },
            },
            child,
        );
        new k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            `${name}-admission-binding`,
            {
                metadata: { name: policyName, labels },
                spec: {
                    policyName: policy.metadata.name,
                    validationActions: ["Deny"],
                    matchResources: namespaceSelector(tasks),
                },
            },
            // Pods are admitted only once the rules are in force.
            { ...child, dependsOn: [account] },
        );
        if (args.placement) {
            // admissionregistration.k8s.io/v1 is newer than the provider's typed resources: the generic kind.
            const placementName = `cytomine-tasks-placement-${tasks}`;
            const mutation = new k8s.apiextensions.CustomResource(
                `${name}-placement`,
                {
                    apiVersion: "admissionregistration.k8s.io/v1",
                    kind: "MutatingAdmissionPolicy",
                    metadata: { name: placementName, labels },
                    spec: {
                        failurePolicy: "Fail",
                        reinvocationPolicy: "Never",
                        matchConstraints: {
                            resourceRules: [
                                { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"] },
                            ],
                        },
                        mutations: [
                            {
                                patchType: "JSONPatch",
                                jsonPatch: { expression: taskPlacementExpression(args.placement) },
                            },
                        ],
                    },
                },
                child,
            );
            new k8s.apiextensions.CustomResource(
                `${name}-placement-binding`,
                {
                    apiVersion: "admissionregistration.k8s.io/v1",
                    kind: "MutatingAdmissionPolicyBinding",
                    metadata: { name: placementName, labels },
                    spec: { policyName: mutation.metadata.name, matchResources: namespaceSelector(tasks) },
                },
                { ...child, dependsOn: [account] },
            );
        }
        this.name = namespace;
        this.registerOutputs({ name: this.name });
    }
}
