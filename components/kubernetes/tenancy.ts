// Tenants must not collide: a namespace belongs to exactly one stack. The namespace carries its
// stack's name, and a preview of another stack that would take it stops before anything changes.
import * as pulumi from "@pulumi/pulumi";

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
