// The tenant's Secret: every generated value (components/cytomine/secrets.ts) in one Secret of the
// namespace, read by the pods by key.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { generateSecretValues } from "../cytomine/secrets";

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
