// A tenant's namespace: Pod Security Admission enforced, and a default-deny NetworkPolicy so that
// every flow a Cytomine service needs must be allowed explicitly.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { OWNER_KEY } from "../model/tenancy";

export type PodSecurityLevel = "restricted" | "baseline" | "privileged";

export interface TenantNamespaceArgs {
    /** The namespace name. */
    namespace: string;
    /** The tenant the namespace's objects are labelled with. */
    tenant: string;
    /** The stack that owns the namespace (see tenancy.ts). */
    owner: string;
    /** Pod Security Admission level enforced on the namespace. */
    podSecurity?: PodSecurityLevel;
    /** Why a level below restricted: kept on the namespace for whoever audits it. */
    podSecurityReason?: string;
    /** Keep the namespace (and the volume claims in it) when the stack is destroyed. */
    retainOnDelete?: boolean;
}

/** The annotation that says why a namespace enforces less than Pod Security restricted. */
export const POD_SECURITY_REASON_KEY = "cytomine.dev/pod-security-reason";

/** Labels every object of a tenant carries (app.kubernetes.io recommended labels). */
export function tenantLabels(tenant: string, component?: string): Record<string, string> {
    return {
        "app.kubernetes.io/part-of": "cytomine",
        "app.kubernetes.io/instance": tenant,
        "app.kubernetes.io/managed-by": "pulumi",
        ...(component ? { "app.kubernetes.io/component": component } : {}),
    };
}

/** Pod Security Admission labels: enforce, and warn/audit at the same level. */
export function podSecurityLabels(level: PodSecurityLevel): Record<string, string> {
    return {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": level,
        "pod-security.kubernetes.io/audit": level,
    };
}

export class TenantNamespace extends pulumi.ComponentResource {
    public readonly name: pulumi.Output<string>;

    constructor(name: string, args: TenantNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:kubernetes:TenantNamespace", name, {}, opts);
        const level = args.podSecurity ?? "restricted";
        const ns = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            {
                metadata: {
                    name: args.namespace,
                    labels: { ...tenantLabels(args.tenant), ...podSecurityLabels(level) },
                    annotations: {
                        [OWNER_KEY]: args.owner,
                        ...(args.podSecurityReason ? { [POD_SECURITY_REASON_KEY]: args.podSecurityReason } : {}),
                    },
                },
            },
            { parent: this, retainOnDelete: args.retainOnDelete ?? false },
        );
        new k8s.networking.v1.NetworkPolicy(
            `${name}-default-deny`,
            {
                metadata: { name: "default-deny", namespace: ns.metadata.name, labels: tenantLabels(args.tenant) },
                spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
            },
            { parent: this },
        );
        this.name = ns.metadata.name;
        this.registerOutputs({ name: this.name });
    }
}
