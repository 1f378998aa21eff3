// The tenant's Secrets: every generated value (components/model/secrets.ts) in one Secret of the
// namespace, read by the pods by key; and, with registry credentials, the pods' image pull Secret.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { generateSecretValues } from "../model/secrets";

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
    const values = generateSecretValues(name, args.keys, parent, args.keycloakAdminPassword);
    const secret = new k8s.core.v1.Secret(
        name,
        {
            metadata: { name: args.name, namespace: args.namespace, labels: args.labels },
            type: "Opaque",
            stringData: values,
        },
        { parent },
    );
    return { secret, values };
}

/** The image pull Secret every pod of the tenant names (with registry credentials). */
export const REGISTRY_SECRET_NAME = "cytomine-registry";

/** Credentials for the registry the images are pulled from; the password stays a secret Output. */
export interface RegistryCredentials {
    /** host[:port], as docker login takes it. */
    server: string;
    username: string;
    password: pulumi.Input<string>;
}

/**
 * A `.dockerconfigjson` for one registry, as `kubectl create secret docker-registry` writes it; a
 * secret Output, since it holds the password. One trailing newline is not part of the password, as
 * for `docker login --password-stdin` (the VM target).
 */
export function dockerConfigJson(r: RegistryCredentials): pulumi.Output<string> {
    return pulumi.secret(
        pulumi.output(r.password).apply((given) => {
            const password = given.replace(/\r?\n$/, "");
            return JSON.stringify({
                auths: {
                    [r.server]: {
                        username: r.username,
                        password,
                        auth: Buffer.from(`${r.username}:${password}`).toString("base64"),
                    },
                },
            });
        }),
    );
}

/** The tenant's image pull Secret (type kubernetes.io/dockerconfigjson, named REGISTRY_SECRET_NAME). */
export function createRegistrySecret(
    name: string,
    args: { namespace: pulumi.Input<string>; labels: Record<string, string>; registry: RegistryCredentials },
    parent: pulumi.Resource,
): k8s.core.v1.Secret {
    return new k8s.core.v1.Secret(
        name,
        {
            metadata: { name: REGISTRY_SECRET_NAME, namespace: args.namespace, labels: args.labels },
            type: "kubernetes.io/dockerconfigjson",
            stringData: { ".dockerconfigjson": dockerConfigJson(args.registry) },
        },
        { parent },
    );
}
