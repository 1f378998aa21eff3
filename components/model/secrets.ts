// The tenant's generated secrets: every password and key the services read, made by @pulumi/random.
// The Kubernetes target keeps them in one Secret of the namespace; the VM target in files of mode 0600
// on the host. Never in a ConfigMap, a command line or an output.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ServiceSpec } from "./spec";

/** How each secret value is made (as cytomine/cytomine: cytomine-community-edition/cytomine.template does: 32-character passwords, UUID keys, 256-character JWT secret). */
export const SECRET_VALUES: Record<string, "password" | "uuid" | "jwt" | "keycloak-admin" | "key64"> = {
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
    // 64 characters, as Cytomine's chart makes it (helm/charts/cytomine/templates/meilisearch/meilisearch-secret.yaml:8-11).
    "meilisearch-master-key": "key64",
    // The app engine's database (config key ml): a password as the other databases'.
    "app-engine-db-password": "password",
    // The app engine's bearer token at the VM's task-pods service (components/model/ml.ts).
    "task-pods-token": "key64",
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

/**
 * Generates a value for each key, as children of `parent` named `<name>-<key>`. The Keycloak master
 * admin password comes from config (an external Keycloak) when given, and is generated otherwise.
 */
export function generateSecretValues(
    name: string,
    keys: string[],
    parent: pulumi.Resource,
    keycloakAdminPassword?: pulumi.Input<string>,
): Record<string, pulumi.Output<string>> {
    const child = { parent };
    const password = (key: string, length: number) =>
        new random.RandomPassword(`${name}-${key}`, { length, special: false }, child).result;
    const value = (key: string): pulumi.Output<string> => {
        const kind = SECRET_VALUES[key];
        if (kind === undefined) throw new Error(`no generator for secret key ${key}: add it to SECRET_VALUES`);
        if (kind === "uuid")
            return pulumi.secret(
                new random.RandomBytes(`${name}-${key}`, { length: 16 }, child).hex.apply(uuidFromHex),
            );
        if (kind === "jwt") return password(key, 256);
        if (kind === "key64") return password(key, 64);
        if (kind === "keycloak-admin" && keycloakAdminPassword !== undefined)
            return pulumi.secret(pulumi.output(keycloakAdminPassword));
        return password(key, 32);
    };
    return Object.fromEntries(keys.map((k) => [k, value(k)]));
}

/**
 * A version-4 UUID (RFC 9562 §5.4) from 32 random hex digits. The keys are not RandomUuid's: its
 * resource id is the UUID itself, and ids are never secret, so the key would sit in the state in plain text.
 */
export function uuidFromHex(hex: string): string {
    if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error("uuidFromHex needs 32 lowercase hex digits");
    const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
    const v = `${hex.slice(0, 12)}4${hex.slice(13, 16)}${variant}${hex.slice(17)}`;
    return `${v.slice(0, 8)}-${v.slice(8, 12)}-${v.slice(12, 16)}-${v.slice(16, 20)}-${v.slice(20)}`;
}
