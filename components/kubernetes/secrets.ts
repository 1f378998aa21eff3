// The tenant's generated secrets: every password and key the services read, made by @pulumi/random
// and kept in one Secret of the namespace, never in a ConfigMap or an output.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ServiceSpec } from "./workload";

/** How each secret value is made (as cytomine/cytomine: cytomine-community-edition/cytomine.template does: 32-character passwords, UUID keys, 256-character JWT secret). */
export const SECRET_VALUES: Record<string, "password" | "uuid" | "jwt" | "keycloak-admin"> = {
    "postgres-password": "password",
    "mongo-password": "password",
    "iam-db-password": "password",
    "admin-password": "password",
    "admin-public-key": "uuid",
    "admin-private-key": "uuid",
    "super-admin-public-key": "uuid",
    "super-admin-private-key": "uuid",
    "image-server-public-key": "uuid",
    "image-server-private-key": "uuid",
    "jwt-secret": "jwt",
    "keycloak-admin-password": "keycloak-admin",
};

/** The Secret keys the services read, sorted. */
export function secretKeysOf(services: readonly ServiceSpec[], secretName: string): string[] {
    const keys = services.flatMap((s) =>
        s.env.flatMap((e) => {
            const ref = (e.valueFrom as { secretKeyRef?: { name: string; key: string } } | undefined)?.secretKeyRef;
            return ref && ref.name === secretName ? [ref.key] : [];
        }),
    );
    return [...new Set(keys)].sort();
}

export interface TenantSecretArgs {
    namespace: pulumi.Input<string>;
    name: string;
    labels: Record<string, string>;
    keys: string[];
    /** The Keycloak master admin password: from config (external Keycloak) or generated when absent. */
    keycloakAdminPassword?: pulumi.Input<string>;
}

/** Generates every value and creates the Secret; returns it with the values, by key. */
export function createTenantSecret(
    name: string,
    args: TenantSecretArgs,
    parent: pulumi.Resource,
): { secret: k8s.core.v1.Secret; values: Record<string, pulumi.Output<string>> } {
    const child = { parent };
    const password = (key: string, length: number) =>
        new random.RandomPassword(`${name}-${key}`, { length, special: false }, child).result;
    const value = (key: string): pulumi.Output<string> => {
        const kind = SECRET_VALUES[key];
        if (kind === undefined) throw new Error(`no generator for secret key ${key}: add it to SECRET_VALUES`);
        if (kind === "uuid") return pulumi.secret(new random.RandomUuid(`${name}-${key}`, {}, child).result);
        if (kind === "jwt") return password(key, 256);
        if (kind === "keycloak-admin" && args.keycloakAdminPassword !== undefined)
            return pulumi.secret(pulumi.output(args.keycloakAdminPassword));
        return password(key, 32);
    };
    const values = Object.fromEntries(args.keys.map((k) => [k, value(k)]));
    const secret = new k8s.core.v1.Secret(
        name,
        {
            metadata: { name: args.name, namespace: args.namespace, labels: args.labels },
            type: "Opaque",
            stringData: values,
        },
        child,
    );
    return { secret, values };
}
