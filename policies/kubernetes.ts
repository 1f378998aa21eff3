// Kubernetes: pinned images, Pod Security, hardened containers, privileged pods, default-deny.
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { imageProblem } from "../domain/images";
import { configOf, configSchema, PackConfig } from "./config";
import { kindOf, TYPES } from "./types";
import { fails, known, listOf, Props, stringAt, Unknown, UNKNOWN } from "./values";
import { containerName, containersOf, knownPodSpec, namespaceOf } from "./workloads";

export const pinnedImages: ResourceValidationPolicy = {
    name: "pinned-images",
    description:
        "Container images are pinned to a version tag or digest, never :latest or untagged. An image unknown at " +
        "preview is not judged.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        for (const c of containersOf(args.type, args.props)) {
            const image = stringAt(() => c.image);
            const problem = image === UNKNOWN ? undefined : imageProblem(image);
            if (problem) reportViolation(`container ${containerName(c)}: ${problem}`);
        }
    },
};

const ENFORCE = "pod-security.kubernetes.io/enforce";
/** components/kubernetes/namespace.ts POD_SECURITY_REASON_KEY. */
const POD_SECURITY_REASON = "cytomine.dev/pod-security-reason";
/** components/kubernetes/tasks.ts PRIVILEGED_REASON_KEY. */
const PRIVILEGED_REASON = "cytomine.dev/privileged-reason";
const COMPONENT = "app.kubernetes.io/component";

/** A namespace of an app engine's task pods (components/kubernetes/tasks.ts labels it). */
const isTaskNamespace = (labels: Props | null | undefined) => known(() => labels?.[COMPONENT]) === "tasks";

export const namespacePodSecurity: ResourceValidationPolicy = {
    name: "namespace-pod-security",
    description:
        "Every namespace enforces Pod Security Admission at restricted or baseline; only the privileged namespace " +
        "(config privilegedNamespace, the sdafs CSI node plugin's) may be privileged, and it carries its identifying " +
        "labels. Labels unknown at preview are not judged.",
    enforcementLevel: "mandatory",
    configSchema: configSchema("privilegedNamespace", "privilegedNamespaceLabels"),
    validateResource: (args, reportViolation) => {
        if (args.type !== TYPES.namespace) return;
        const cfg = configOf(args);
        const name = stringAt(() => args.props.metadata?.name);
        const labels = known(() => args.props.metadata?.labels);
        if (labels === UNKNOWN) return;
        if (name === cfg.privilegedNamespace) {
            for (const [key, value] of Object.entries(cfg.privilegedNamespaceLabels)) {
                if (fails(() => labels?.[key] === value)) {
                    reportViolation(`namespace ${name} is the privileged namespace: label it ${key}=${value}`);
                }
            }
            return;
        }
        if (labels === undefined || labels === null) {
            return reportViolation(`namespace has no labels: set ${ENFORCE}`);
        }
        const level = known(() => labels[ENFORCE]);
        if (level === UNKNOWN || level === "restricted" || level === "baseline") return;
        if (level === "privileged" && name === UNKNOWN) return; // could be the privileged namespace
        // A task namespace says why (its pods' hostPaths); task-namespaces checks what holds it back.
        if (level === "privileged" && isTaskNamespace(labels)) {
            const reason = known(() => args.props.metadata?.annotations?.[POD_SECURITY_REASON]);
            if (reason === UNKNOWN || (typeof reason === "string" && reason.length > 0)) return;
            return reportViolation(
                `task namespace ${String(name)} is privileged without a reason: annotate it ${POD_SECURITY_REASON}`,
            );
        }
        reportViolation(
            level === "privileged"
                ? `${ENFORCE} is "privileged": only namespace ${cfg.privilegedNamespace} (the sdafs CSI node plugin) may be privileged`
                : `${ENFORCE} is ${JSON.stringify(level)}: use "restricted" (or "baseline" with a reason)`,
        );
    },
};

/** Whether the workload is the allowed privileged one (kind and namespace); UNKNOWN if not known yet. */
export function isPrivilegedIdentity(type: string, props: Props, cfg: PackConfig): boolean | Unknown {
    if (!cfg.privilegedKinds.includes(kindOf(type))) return false;
    const ns = namespaceOf(props);
    return ns === UNKNOWN ? UNKNOWN : ns === cfg.privilegedNamespace;
}

export const containerSecurity: ResourceValidationPolicy = {
    name: "container-security",
    description:
        "Every container sets resource limits (config requiredLimits), runs as non-root, has allowPrivilegeEscalation " +
        "false, drops ALL capabilities and uses the RuntimeDefault seccomp profile (pod or container level). The " +
        "privileged sdafs CSI node plugin needs only the limits. Fields unknown at preview are not judged.",
    enforcementLevel: "mandatory",
    configSchema: configSchema("requiredLimits", "privilegedNamespace", "privilegedKinds"),
    validateResource: (args, reportViolation) => {
        const spec = knownPodSpec(args.type, args.props);
        if (spec === UNKNOWN || spec === undefined) return;
        const cfg = configOf(args);
        const exempt = isPrivilegedIdentity(args.type, args.props, cfg) !== false;
        for (const c of containersOf(args.type, args.props)) {
            const name = `container ${containerName(c)}`;
            for (const limit of cfg.requiredLimits) {
                if (fails(() => c.resources?.limits?.[limit] !== undefined)) {
                    reportViolation(`${name}: no resources.limits.${limit}`);
                }
            }
            if (exempt) continue;
            const sc = (): Props | undefined => c.securityContext;
            const pod = (): Props | undefined => spec.securityContext;
            if (fails(() => (sc()?.runAsNonRoot ?? pod()?.runAsNonRoot) === true)) {
                reportViolation(`${name}: runAsNonRoot is not true (container or pod securityContext)`);
            }
            if (fails(() => sc()?.allowPrivilegeEscalation === false)) {
                reportViolation(`${name}: securityContext.allowPrivilegeEscalation is not false`);
            }
            if (fails(() => [...(sc()?.capabilities?.drop ?? [])].includes("ALL"))) {
                reportViolation(`${name}: securityContext.capabilities.drop does not include ALL`);
            }
            if (fails(() => (sc()?.seccompProfile?.type ?? pod()?.seccompProfile?.type) === "RuntimeDefault")) {
                reportViolation(
                    `${name}: seccompProfile.type is not RuntimeDefault (container or pod securityContext)`,
                );
            }
        }
    },
};

/** What makes a pod privileged: host namespaces, host paths, privileged containers, added admin capabilities. */
function privilegedFeatures(type: string, props: Props): string[] {
    const spec = knownPodSpec(type, props);
    if (spec === UNKNOWN || spec === undefined) return [];
    const found: string[] = [];
    for (const host of ["hostNetwork", "hostPID", "hostIPC"]) {
        if (known(() => spec[host]) === true) found.push(`${host}: true`);
    }
    const volumes = listOf(() => spec.volumes);
    if (volumes !== UNKNOWN) {
        for (const v of volumes) {
            if (known(() => v.hostPath) instanceof Object) found.push(`hostPath volume ${String(known(() => v.name))}`);
        }
    }
    for (const c of containersOf(type, props)) {
        if (known(() => c.securityContext?.privileged) === true) {
            found.push(`container ${containerName(c)} is privileged`);
        }
        const added = known(() => [...(c.securityContext?.capabilities?.add ?? [])] as unknown[]);
        if (added !== UNKNOWN && added.some((cap) => cap === "ALL" || cap === "SYS_ADMIN")) {
            found.push(`container ${containerName(c)} adds ${added.join(", ")}`);
        }
    }
    return found;
}

export const privilegedWorkloads: ResourceValidationPolicy = {
    name: "privileged-workloads",
    description:
        "Privileged pods (privileged containers, host namespaces or paths, SYS_ADMIN) run only as the sdafs CSI node " +
        "plugin: a workload of config privilegedKinds in config privilegedNamespace. A namespace unknown at preview " +
        "is not judged.",
    enforcementLevel: "mandatory",
    configSchema: configSchema("privilegedNamespace", "privilegedKinds"),
    validateResource: (args, reportViolation) => {
        const features = privilegedFeatures(args.type, args.props);
        if (features.length === 0) return;
        const cfg = configOf(args);
        if (isPrivilegedIdentity(args.type, args.props, cfg) !== false) return;
        reportViolation(
            `${features.join("; ")}: only a ${cfg.privilegedKinds.join(" or ")} in namespace ${cfg.privilegedNamespace} (the sdafs CSI node plugin) may run privileged`,
        );
    },
};

/** Whether a NetworkPolicy denies all traffic of all pods of its namespace; UNKNOWN if not known yet. */
function isDefaultDeny(policy: PolicyResource): boolean | Unknown {
    const verdict = known(() => {
        const spec = policy.props.spec;
        const selector = spec?.podSelector ?? {};
        const types = [...(spec?.policyTypes ?? [])];
        return (
            Object.keys(selector.matchLabels ?? {}).length === 0 &&
            [...(selector.matchExpressions ?? [])].length === 0 &&
            types.includes("Ingress") &&
            types.includes("Egress") &&
            [...(spec?.ingress ?? [])].length === 0 &&
            [...(spec?.egress ?? [])].length === 0
        );
    });
    return verdict;
}

/** Whether a namespaced object is in the namespace resource `ns`: by dependency or by name. */
function inNamespace(r: PolicyResource, ns: PolicyResource, nsName: string | undefined | Unknown): boolean | Unknown {
    if ((r.propertyDependencies.metadata ?? []).some((d) => d.urn === ns.urn)) return true;
    const mine = namespaceOf(r.props);
    if (mine === UNKNOWN || nsName === UNKNOWN) return UNKNOWN;
    return mine !== undefined && mine === nsName;
}

export const defaultDenyNetworkPolicy: StackValidationPolicy = {
    name: "default-deny-network-policy",
    description:
        "Every tenant namespace (labels in config tenantNamespaceLabels) has a NetworkPolicy selecting all pods with " +
        "policyTypes Ingress and Egress and no rules. Policies are matched by dependency or namespace name; when a " +
        "candidate is unknown at preview, the namespace is not judged.",
    enforcementLevel: "mandatory",
    configSchema: configSchema("tenantNamespaceLabels"),
    validateStack: (args, reportViolation) => {
        const cfg = configOf(args);
        const policies = args.resources.filter((r) => r.type === TYPES.networkPolicy);
        for (const ns of args.resources.filter((r) => r.type === TYPES.namespace)) {
            const labels = known(() => ns.props.metadata?.labels);
            if (labels === UNKNOWN) continue;
            const tenant = Object.entries(cfg.tenantNamespaceLabels).every(([k, v]) => known(() => labels?.[k]) === v);
            if (!tenant) continue;
            const name = stringAt(() => ns.props.metadata?.name);
            const verdicts = policies.map((p) => ({ here: inNamespace(p, ns, name), deny: isDefaultDeny(p) }));
            if (verdicts.some((v) => v.here === true && v.deny === true)) continue;
            if (verdicts.some((v) => v.here !== false && v.deny !== false)) continue; // cannot judge yet
            reportViolation(
                `tenant namespace ${typeof name === "string" ? name : ns.name} has no default-deny NetworkPolicy ` +
                    "(podSelector {}, policyTypes [Ingress, Egress], no rules)",
                ns.urn,
            );
        }
    },
};

/** The expression of an admission policy's validations, as strings (UNKNOWN while not known). */
function validationsOf(policy: PolicyResource): string[] | Unknown {
    return known(() => [...(policy.props.spec?.validations ?? [])].map((v: Props) => String(v.expression)));
}

export const taskNamespaces: StackValidationPolicy = {
    name: "task-namespaces",
    description:
        "Every app-engine task namespace (label app.kubernetes.io/component=tasks) has a ResourceQuota limiting pods, " +
        "CPU and memory, and a ValidatingAdmissionPolicyBinding in Deny mode to a policy that refuses privileged " +
        `containers, unless that policy carries the operator's reason (annotation ${PRIVILEGED_REASON}). Values ` +
        "unknown at preview are not judged.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const of = (type: string) => args.resources.filter((r) => r.type === type);
        const quotas = of(TYPES.resourceQuota);
        const bindings = of(TYPES.admissionPolicyBinding);
        const policies = of(TYPES.admissionPolicy);
        for (const ns of of(TYPES.namespace)) {
            const labels = known(() => ns.props.metadata?.labels);
            if (labels === UNKNOWN || !isTaskNamespace(labels)) continue;
            const name = stringAt(() => ns.props.metadata?.name);
            if (name === UNKNOWN) continue;
            const hard = quotas
                .filter((q) => inNamespace(q, ns, name) !== false)
                .map((q) => known(() => q.props.spec?.hard));
            if (!hard.some((h) => h === UNKNOWN))
                if (!hard.some((h) => ["pods", "requests.cpu", "requests.memory"].every((k) => h?.[k] !== undefined)))
                    reportViolation(
                        `task namespace ${name} has no ResourceQuota of pods, requests.cpu and requests.memory: one tenant's tasks could take the node`,
                        ns.urn,
                    );
            const bound = bindings.filter(
                (b) =>
                    known(
                        () =>
                            b.props.spec?.matchResources?.namespaceSelector?.matchLabels?.[
                                "kubernetes.io/metadata.name"
                            ],
                    ) === name && known(() => [...(b.props.spec?.validationActions ?? [])].includes("Deny")) === true,
            );
            const names = bound.map((b) => known(() => b.props.spec?.policyName));
            if (names.some((n) => n === UNKNOWN)) continue;
            const guards = policies.filter((p) => names.includes(known(() => p.props.metadata?.name)));
            const verdicts = guards.map((p) => {
                const reason = known(() => p.props.metadata?.annotations?.[PRIVILEGED_REASON]);
                const rules = validationsOf(p);
                if (reason === UNKNOWN || rules === UNKNOWN) return UNKNOWN;
                return (typeof reason === "string" && reason.length > 0) || rules.some((r) => r.includes("privileged"));
            });
            if (verdicts.some((v) => v === UNKNOWN) || verdicts.some((v) => v === true)) continue;
            reportViolation(
                `task namespace ${name}: no ValidatingAdmissionPolicy (bound in Deny mode) refuses privileged task containers, ` +
                    `and none carries the operator's reason (${PRIVILEGED_REASON})`,
                ns.urn,
            );
        }
    },
};
