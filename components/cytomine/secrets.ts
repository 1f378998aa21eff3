// The tenant's generated secrets: every password and key the services read, made by @pulumi/random.
// The Kubernetes target keeps them in one Secret of the namespace; the VM target in files of mode 0600
// on the host. Never in a ConfigMap, a command line or an output.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { ServiceSpec } from "./spec";

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
        // additionalSecretOutputs: RandomUuid keeps its result in plaintext in the state otherwise.
        if (kind === "uuid")
            return pulumi.secret(
                new random.RandomUuid(`${name}-${key}`, {}, { ...child, additionalSecretOutputs: ["result"] }).result,
            );
        if (kind === "jwt") return password(key, 256);
        if (kind === "keycloak-admin" && keycloakAdminPassword !== undefined)
            return pulumi.secret(pulumi.output(keycloakAdminPassword));
        return password(key, 32);
    };
    return Object.fromEntries(keys.map((k) => [k, value(k)]));
}
