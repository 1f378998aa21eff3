// Tenants must not collide: a namespace, and a realm in a shared Keycloak, belong to exactly one
// stack. Each carries its stack's name (an annotation, a realm attribute), and a preview of another
// stack that would take it stops before anything changes.
import * as pulumi from "@pulumi/pulumi";

export const OWNER_KEY = "cytomine.io/stack";

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
    const holder = existing.annotations?.[OWNER_KEY];
    if (holder === owner) return undefined;
    return holder
        ? `namespace "${namespace}" already belongs to stack ${holder}`
        : `namespace "${namespace}" already exists and no Cytomine Fallback stack manages it`;
}

/**
 * Why this stack cannot manage the realm, or undefined. `existing` is the live realm's attributes,
 * if the realm exists. A realm without the mark is left to the engine: this stack's own realm from
 * before the mark existed gets it at the next up, and creating over anyone else's fails there.
 */
export function realmConflict(
    realm: string,
    owner: string,
    existing: { attributes?: Record<string, unknown> } | undefined,
): string | undefined {
    const holder = existing?.attributes?.[OWNER_KEY];
    if (typeof holder !== "string" || holder === owner) return undefined;
    return `realm "${realm}" is already managed by stack ${holder}`;
}
