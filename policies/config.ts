// The pack's configuration. Pulumi keys policy config by policy name (`--policy-pack-config` file:
// { "<policy>": { "<property>": value } }), so each policy declares the properties it reads, with
// defaults; the CLI fills the defaults in and validates the file against these schemas. A policy
// pack cannot read stack config: whether the stack is the local one comes from this config.
import type { PolicyConfigSchema, ResourceValidationArgs } from "@pulumi/policy";
import type { PolicyConfigJSONSchema } from "@pulumi/policy/schema";

export interface PackConfig {
    /** The local (kind/kwok, http) stack: sslRequired none, unprotected state and http IdPs are fine. */
    localStack: boolean;
    /** The one namespace whose pods may run privileged: the sdafs CSI node plugin's. */
    privilegedNamespace: string;
    /** Labels that namespace carries, naming what it is for. */
    privilegedNamespaceLabels: Record<string, string>;
    /** Workload kinds allowed to run privileged there (a CSI node plugin is a DaemonSet). */
    privilegedKinds: string[];
    /** Labels that mark a tenant namespace (those need a default-deny NetworkPolicy). */
    tenantNamespaceLabels: Record<string, string>;
    /** Resource limits every container sets (CPU limits are left out on purpose: they throttle). */
    requiredLimits: string[];
    /** Substrings never acceptable in any input (placeholders waiting to be replaced). */
    placeholders: string[];
    /** Well-known default passwords, refused as the value of any secret-bearing input. */
    defaultPasswords: string[];
    /** How an LS-AAI identity provider is recognised: its display name... */
    lsaaiDisplayName: string;
    /** ...or the host of its issuer or endpoints. */
    lsaaiHosts: string[];
    /** Database ports never open to the whole internet. */
    databasePorts: number[];
}

const stringList = (description: string, items: string[]): PolicyConfigJSONSchema => ({
    type: "array",
    items: { type: "string" },
    default: items,
    description,
});
const labels = (description: string, value: Record<string, string>): PolicyConfigJSONSchema => ({
    type: "object",
    additionalProperties: { type: "string" },
    default: value,
    description,
});

export const CONFIG_SCHEMAS: Record<keyof PackConfig, PolicyConfigJSONSchema> = {
    localStack: {
        type: "boolean",
        default: false,
        description:
            "The stack is the local environment (cytomine-fallback:localStack true): http, sslRequired none and unprotected state are allowed.",
    },
    privilegedNamespace: {
        type: "string",
        default: "sdafs-csi",
        description: "The only namespace where privileged pods (the sdafs CSI node plugin) may run.",
    },
    privilegedNamespaceLabels: labels("Labels the privileged namespace must carry.", {
        "app.kubernetes.io/part-of": "sdafs-csi",
    }),
    privilegedKinds: stringList("Workload kinds that may run privileged in that namespace.", ["DaemonSet"]),
    tenantNamespaceLabels: labels("Labels that make a namespace a tenant namespace.", {
        "app.kubernetes.io/part-of": "cytomine",
    }),
    requiredLimits: stringList("Resource limits every container must set.", ["memory"]),
    placeholders: stringList("Substrings refused in every input.", ["change-me", "changeme", "change_me"]),
    defaultPasswords: stringList("Values refused for secret-bearing inputs (compared case-insensitively).", [
        "password",
        "passw0rd",
        "password1",
        "admin",
        "admin123",
        "administrator",
        "changeme",
        "change-me",
        "secret",
        "root",
        "toor",
        "letmein",
        "welcome",
        "qwerty",
        "123456",
        "12345678",
        "default",
        "guest",
        "test",
        "keycloak",
        "postgres",
        "mongo",
        "cytomine",
    ]),
    lsaaiDisplayName: {
        type: "string",
        default: "LS_AAI",
        description: "Display name that marks a Keycloak identity provider as the LS-AAI broker.",
    },
    lsaaiHosts: stringList("Hosts of LS Login (LS-AAI); an identity provider pointing there is the LS-AAI broker.", [
        "login.aai.lifescience-ri.eu",
    ]),
    databasePorts: {
        type: "array",
        items: { type: "integer" },
        default: [5432, 27017, 6379, 3306],
        description: "Ports never open to 0.0.0.0/0 or ::/0.",
    },
};

/** The config schema of a policy that reads `keys`. */
export function configSchema(...keys: (keyof PackConfig)[]): PolicyConfigSchema {
    return { properties: Object.fromEntries(keys.map((k) => [k, CONFIG_SCHEMAS[k]])) };
}

/** The defaults, as the CLI fills them in. */
export const DEFAULTS: PackConfig = Object.fromEntries(
    Object.entries(CONFIG_SCHEMAS).map(([k, s]) => [k, s.default]),
) as unknown as PackConfig;

/** The policy's config with defaults for anything unset (tests and old CLIs may pass none). */
export function configOf(args: Pick<ResourceValidationArgs, "getConfig">): PackConfig {
    return { ...DEFAULTS, ...args.getConfig<Partial<PackConfig>>() };
}
