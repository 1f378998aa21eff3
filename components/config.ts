// The stack's configuration, parsed once into typed objects. Every error names the config key and
// the fix, and is raised while the program runs in `pulumi preview`, before any resource exists.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { OidcEndpoints, oidcEndpointsSchema } from "./identity/endpoints";

export const PROJECT = "cytomine-fallback";

/** A DNS-1123 label that leaves room for suffixes such as `-postgis-0` in derived names. */
const tenantName = z
    .string()
    .max(40, "at most 40 characters, so that derived names stay within Kubernetes' 63")
    .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, "lowercase letters, digits and '-', starting with a letter");

/** Keycloak realm names: at most 36 characters (Keycloak's limit), no spaces or slashes. */
const realmName = z
    .string()
    .max(36, "at most 36 characters (Keycloak's limit for realm names)")
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-', starting with a letter or digit");

const stringList = z.array(z.string().min(1)).default([]);

export const targets = ["kubernetes", "aws", "ssh"] as const;
export type Target = (typeof targets)[number];

const rawConfig = z
    .object({
        tenant: tenantName,
        target: z.enum(targets).default("kubernetes"),
        publicUrl: z.string().url("an absolute URL such as https://cytomine.example.org"),
        localStack: z.boolean().default(false),
        renderDir: z.string().default(""),
        keycloakUrl: z.string().url("the Keycloak base URL including its relative path, e.g. https://host/iam"),
        keycloakAdminUser: z.string().min(1).default("admin"),
        realm: realmName.default("cytomine"),
        allowRealmReplacement: z.boolean().default(false),
        allowVolumeDeletion: z.boolean().default(false),
        lsaaiClientId: z.string().min(1, "the client id registered with LS Login"),
        lsaaiAlias: z
            .string()
            .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, "letters, digits, '.', '_' and '-' (it becomes part of a URL)")
            .default("oidc"),
        lsaaiScopes: z.string().min(1).default("openid profile email"),
        lsaaiEndpoints: oidcEndpointsSchema.optional(),
        lsaaiRestrict: z.boolean().default(false),
        lsaaiAllowedEntitlements: stringList,
        lsaaiAllowedSubjects: stringList,
        orthanc: z.boolean().default(true),
        orthancRealm: realmName.default("orthanc"),
    })
    .superRefine((c, ctx) => {
        const url = new URL(c.publicUrl);
        if (url.protocol !== "https:" && !(c.localStack && url.protocol === "http:")) {
            ctx.addIssue({
                code: "custom",
                path: ["publicUrl"],
                message: "must use https (http is allowed only with localStack: true, for the local environment)",
            });
        }
        if (url.pathname !== "/" || url.search || url.hash) {
            ctx.addIssue({
                code: "custom",
                path: ["publicUrl"],
                message: "must be the site root, without path, query or fragment (Cytomine serves /, /api, /ims, /iam)",
            });
        }
        if (new URL(c.keycloakUrl).protocol !== "https:" && !c.localStack) {
            ctx.addIssue({ code: "custom", path: ["keycloakUrl"], message: "must use https outside the local stack" });
        }
        if (c.renderDir && c.target !== "kubernetes") {
            ctx.addIssue({ code: "custom", path: ["renderDir"], message: "applies only to target kubernetes" });
        }
        if (c.lsaaiRestrict && c.lsaaiAllowedEntitlements.length + c.lsaaiAllowedSubjects.length === 0) {
            ctx.addIssue({
                code: "custom",
                path: ["lsaaiRestrict"],
                message:
                    "is true but nobody is allowed: set lsaaiAllowedEntitlements and/or lsaaiAllowedSubjects (lists), or set lsaaiRestrict to false",
            });
        }
        if (c.orthanc && c.orthancRealm === c.realm) {
            ctx.addIssue({ code: "custom", path: ["orthancRealm"], message: `must differ from realm ("${c.realm}")` });
        }
    });

/** Secret keys: read with requireSecret, so their values never pass through plaintext code paths. */
export const secretKeys = ["keycloakAdminPassword", "lsaaiClientSecret"] as const;
export type SecretKey = (typeof secretKeys)[number];

export interface StackConfig {
    tenant: string;
    target: Target;
    /** Normalised: no trailing slash. */
    publicUrl: string;
    localStack: boolean;
    /** Empty when manifests are applied to a cluster. */
    renderDir: string;
    keycloak: {
        /** Origin only, e.g. https://host (the provider's `url`). */
        origin: string;
        /** Relative path, e.g. /iam (the provider's `basePath`); "" when served at the root. */
        basePath: string;
        adminUser: string;
    };
    realm: string;
    /** When false (the default), realms are protected from deletion and replacement. */
    allowRealmReplacement: boolean;
    /** When false (the default), volumes (and the namespace holding them) survive destroy. */
    allowVolumeDeletion: boolean;
    lsaai: {
        clientId: string;
        alias: string;
        scopes: string;
        /** Overrides the pinned LS-AAI endpoints (e.g. a stand-in identity provider for tests). */
        endpoints?: OidcEndpoints;
        restrict: boolean;
        allowedEntitlements: string[];
        allowedSubjects: string[];
    };
    orthanc: { enabled: boolean; realm: string };
}

/** A config error that names the key and how to fix it. */
export class ConfigError extends Error {
    constructor(readonly issues: string[]) {
        super(
            `invalid stack configuration:\n${issues.map((i) => `  - ${i}`).join("\n")}\n` +
                `Fix with: pulumi config set ${PROJECT}:<key> <value> (add --secret for secrets)`,
        );
        this.name = "ConfigError";
    }
}

/**
 * Parses raw values (as read from Pulumi config) into a StackConfig, or throws ConfigError.
 * `secretsSet` lists the secret keys that have a value; their values are never seen here.
 */
export function parseConfig(raw: Record<string, unknown>, secretsSet: readonly SecretKey[] = secretKeys): StackConfig {
    const missingSecrets = secretKeys
        .filter((k) => !secretsSet.includes(k))
        .map(
            (k) =>
                `${PROJECT}:${k} is not set: it is a secret; set it with 'pulumi config set --secret ${PROJECT}:${k}'`,
        );
    const result = rawConfig.safeParse(raw);
    const issues = result.success
        ? []
        : result.error.issues.map((i) => {
              const key = i.path.length ? `${PROJECT}:${String(i.path[0])}` : PROJECT;
              const given = i.path.length ? raw[String(i.path[0])] : undefined;
              const shown = given === undefined ? "is not set" : `= ${JSON.stringify(given)}`;
              return `${key} ${shown}: ${i.message}`;
          });
    if (!result.success || missingSecrets.length > 0) throw new ConfigError([...issues, ...missingSecrets]);
    const c = result.data;
    const kc = new URL(c.keycloakUrl);
    return {
        tenant: c.tenant,
        target: c.target,
        publicUrl: c.publicUrl.replace(/\/+$/, ""),
        localStack: c.localStack,
        renderDir: c.renderDir,
        keycloak: { origin: kc.origin, basePath: kc.pathname.replace(/\/+$/, ""), adminUser: c.keycloakAdminUser },
        realm: c.realm,
        allowRealmReplacement: c.allowRealmReplacement,
        allowVolumeDeletion: c.allowVolumeDeletion,
        lsaai: {
            clientId: c.lsaaiClientId,
            alias: c.lsaaiAlias,
            scopes: c.lsaaiScopes,
            endpoints: c.lsaaiEndpoints,
            restrict: c.lsaaiRestrict,
            allowedEntitlements: c.lsaaiAllowedEntitlements,
            allowedSubjects: c.lsaaiAllowedSubjects,
        },
        orthanc: { enabled: c.orthanc, realm: c.orthancRealm },
    };
}

export interface LoadedConfig {
    config: StackConfig;
    secrets: Record<SecretKey, pulumi.Output<string>>;
}

/** Reads this project's config namespace, parses it, and reads the secrets as secret Outputs. */
export function loadConfig(config = new pulumi.Config(PROJECT)): LoadedConfig {
    const secretsSet = secretKeys.filter((k) => config.getSecret(k) !== undefined);
    const parsed = parseConfig(
        {
            tenant: config.get("tenant"),
            target: config.get("target"),
            publicUrl: config.get("publicUrl"),
            localStack: config.getBoolean("localStack"),
            renderDir: config.get("renderDir"),
            keycloakUrl: config.get("keycloakUrl"),
            keycloakAdminUser: config.get("keycloakAdminUser"),
            realm: config.get("realm"),
            allowRealmReplacement: config.getBoolean("allowRealmReplacement"),
            allowVolumeDeletion: config.getBoolean("allowVolumeDeletion"),
            lsaaiClientId: config.get("lsaaiClientId"),
            lsaaiAlias: config.get("lsaaiAlias"),
            lsaaiScopes: config.get("lsaaiScopes"),
            lsaaiEndpoints: config.getObject("lsaaiEndpoints"),
            lsaaiRestrict: config.getBoolean("lsaaiRestrict"),
            lsaaiAllowedEntitlements: config.getObject("lsaaiAllowedEntitlements"),
            lsaaiAllowedSubjects: config.getObject("lsaaiAllowedSubjects"),
            orthanc: config.getBoolean("orthanc"),
            orthancRealm: config.get("orthancRealm"),
        },
        secretsSet,
    );
    return {
        config: parsed,
        secrets: {
            keycloakAdminPassword: config.requireSecret("keycloakAdminPassword"),
            lsaaiClientSecret: config.requireSecret("lsaaiClientSecret"),
        },
    };
}
