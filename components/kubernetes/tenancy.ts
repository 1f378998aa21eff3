// Tenants must not collide: a namespace belongs to exactly one stack. The namespace carries its
// stack's name, and a preview of another stack that would take it stops before anything changes.
import * as k8s from "@kubernetes/client-node";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, PROJECT } from "../config";

export const OWNER_ANNOTATION = "cytomine.io/stack";

/** This stack's identity, written on its namespace. */
export function stackOwner(): string {
    return `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
}

/** Why this stack cannot take the namespace, or undefined. `existing` is the live namespace, if any. */
export function namespaceConflict(
    namespace: string,
    owner: string,
    existing: { annotations?: Record<string, string> } | undefined,
): string | undefined {
    if (existing === undefined) return undefined;
    const holder = existing.annotations?.[OWNER_ANNOTATION];
    if (holder === owner) return undefined;
    return holder
        ? `namespace "${namespace}" already belongs to stack ${holder}`
        : `namespace "${namespace}" already exists and no Cytomine Fallback stack manages it`;
}

/** Reads the namespace from the cluster the ambient kubeconfig points at (as the provider does). */
export async function readNamespace(namespace: string): Promise<{ annotations?: Record<string, string> } | undefined> {
    const config = new k8s.KubeConfig();
    config.loadFromDefault();
    try {
        const ns = await config.makeApiClient(k8s.CoreV1Api).readNamespace({ name: namespace });
        return { annotations: ns.metadata?.annotations };
    } catch (e) {
        if ((e as { code?: number }).code === 404) return undefined;
        throw e;
    }
}

/**
 * Stops the program, naming the config key (`tenant`, or `namespace` when set apart), when the live
 * cluster holds the namespace for another stack or for none.
 */
export async function assertNamespaceAvailable(namespace: string, key: "tenant" | "namespace", owner: string) {
    const conflict = namespaceConflict(namespace, owner, await readNamespace(namespace));
    if (conflict)
        throw new ConfigError([
            `${PROJECT}:${key} = "${namespace}" collides with another tenant: ${conflict}; choose another ${key}`,
        ]);
}
