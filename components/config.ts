// The stack's configuration, parsed once into typed objects. Every error names the config key and
// the fix, and is raised while the program runs in `pulumi preview`, before any resource exists.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { OidcEndpoints, oidcEndpointsSchema } from "./identity/endpoints";
import {
    DEFAULT_IMAGES,
    DEFAULT_STORAGE,
    domainProblem,
    imageProblem,
    ImageKey,
    Images,
    isLocalHost,
    namespaceProblem,
    quantityProblem,
    reservedNamespaceProblem,
    Storage,
    StorageKey,
} from "./kubernetes/settings";

export const PROJECT = "cytomine-fallback";

/** A zod refinement from a function that says what is wrong with a value, or returns undefined. */
function reportProblem(problem: (v: string) => string | undefined) {
    return (v: string, ctx: z.RefinementCtx) => {
        const message = problem(v);
        if (message) ctx.addIssue({ code: "custom", message });
    };
}

/** A DNS-1123 label that leaves room for suffixes such as `-postgis-0` in derived names. */
const tenantName = z
    .string()
    .max(40, "at most 40 characters, so that derived names stay within Kubernetes' 63")
    .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, "lowercase letters, digits and '-', starting with a letter")
    .superRefine(reportProblem(reservedNamespaceProblem));

/** Keycloak realm names: at most 36 characters (Keycloak's limit), no spaces or slashes. */
const realmName = z
    .string()
    .max(36, "at most 36 characters (Keycloak's limit for realm names)")
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-', starting with a letter or digit");

const stringList = z.array(z.string().min(1)).default([]);

/** A string that `problem` accepts (it returns why not, or undefined). */
const checked = (problem: (v: string) => string | undefined) => z.string().superRefine(reportProblem(problem));

const namespaceName = checked(namespaceProblem);

/** An object of optional overrides for the given keys, each checked; unknown keys are errors. */
const overrides = <K extends string>(keys: readonly [K, ...K[]], problem: (v: string) => string | undefined) =>
    z
        .partialRecord(z.enum(keys), checked(problem), {
            // zod's issue type for records omits unrecognized_keys, which strict records do raise.
            error: (i) => {
                const unknown = (i as { code: string; keys?: string[] }).keys;
                return unknown ? `unknown key(s) ${unknown.join(", ")}; the keys are ${keys.join(", ")}` : undefined;
            },
        })
        .default({});

export const targets = ["kubernetes", "aws", "ssh"] as const;
export type Target = (typeof targets)[number];
export const keycloakModes = ["external", "namespace"] as const;
export type KeycloakMode = (typeof keycloakModes)[number];
export const routings = ["ingress", "httproute"] as const;
export type Routing = (typeof routings)[number];

const rawConfig = z
    .object({
        tenant: tenantName,
        target: z.enum(targets).default("kubernetes"),
        publicUrl: z.string().url("an absolute URL such as https://cytomine.example.org"),
        localStack: z.boolean().default(false),
        renderDir: z.string().default(""),
        namespace: namespaceName.optional(),
        images: overrides(Object.keys(DEFAULT_IMAGES) as [ImageKey], imageProblem),
        storage: overrides(Object.keys(DEFAULT_STORAGE) as [StorageKey], quantityProblem),
        routing: z.enum(routings).default("ingress"),
        ingressClass: z.string().min(1).default("nginx"),
        routerNamespace: namespaceName.default("ingress-nginx"),
        gateway: z
            .string()
            .regex(
                /^[a-z0-9][-a-z0-9]*\/[a-z0-9][-a-z0-9.]*$/,
                "<namespace>/<name> of the Gateway, e.g. gateway-system/public",
            )
            .optional(),
        tlsSecret: z.string().min(1).optional(),
        keycloakMode: z.enum(keycloakModes).default("external"),
        keycloakUrl: z
            .string()
            .url("the Keycloak base URL including its relative path, e.g. https://host/iam")
            .optional(),
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
        const host = url.hostname;
        const hostProblem = isLocalHost(host)
            ? c.localStack
                ? undefined
                : `host "${host}" is an address: use the tenant's domain name (addresses only with localStack: true)`
            : domainProblem(host);
        if (hostProblem) ctx.addIssue({ code: "custom", path: ["publicUrl"], message: hostProblem });
        if (c.keycloakMode === "external" && !c.keycloakUrl) {
            ctx.addIssue({
                code: "custom",
                path: ["keycloakUrl"],
                message: "is required with keycloakMode external (or set keycloakMode to namespace to deploy Keycloak)",
            });
        }
        if (
            c.keycloakMode === "namespace" &&
            c.keycloakUrl &&
            c.keycloakUrl.replace(/\/+$/, "") !== `${url.origin}/iam`
        ) {
            ctx.addIssue({
                code: "custom",
                path: ["keycloakUrl"],
                message: `with keycloakMode namespace Keycloak is served at ${url.origin}/iam: unset keycloakUrl`,
            });
        }
        if (c.keycloakUrl && new URL(c.keycloakUrl).protocol !== "https:" && !c.localStack) {
            ctx.addIssue({ code: "custom", path: ["keycloakUrl"], message: "must use https outside the local stack" });
        }
        if (c.routing === "httproute" && !c.gateway) {
            ctx.addIssue({
                code: "custom",
                path: ["gateway"],
                message:
                    "is required with routing httproute: the <namespace>/<name> of the Gateway the route attaches to",
            });
        }
        if (c.renderDir && c.keycloakMode === "namespace") {
            ctx.addIssue({
                code: "custom",
                path: ["renderDir"],
                message:
                    "cannot be used with keycloakMode namespace: the realm is applied to that Keycloak, which a rendered stack never starts; render with keycloakMode external",
            });
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

/** Secrets a stack must have; Keycloak deployed into the namespace gets a generated admin password. */
function requiredSecrets(keycloakMode: unknown): SecretKey[] {
    return keycloakMode === "namespace" ? ["lsaaiClientSecret"] : [...secretKeys];
}

export interface StackConfig {
    tenant: string;
    target: Target;
    /** Normalised: no trailing slash. */
    publicUrl: string;
    localStack: boolean;
    /** Empty when manifests are applied to a cluster. */
    renderDir: string;
    kubernetes: {
        /** The tenant's namespace (the tenant name unless set). */
        namespace: string;
        images: Images;
        storage: Storage;
        routing: Routing;
        ingressClass: string;
        /** Namespace of the ingress controller or gateway: the only one let into the tenant's. */
        routerNamespace: string;
        gateway?: { namespace: string; name: string };
        tlsSecret?: string;
    };
    keycloak: {
        /** external: an existing Keycloak; namespace: deployed with Cytomine at <publicUrl>/iam. */
        mode: KeycloakMode;
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

/** A config error that names the key and how to fix it (a RunError: Pulumi shows the message, no stack). */
export class ConfigError extends pulumi.RunError {
    constructor(readonly issues: string[]) {
        super(
            `invalid stack configuration:\n${issues.map((i) => `  - ${i}`).join("\n")}\n` +
                `Fix with: pulumi config set ${PROJECT}:<key> <value> (add --secret for secrets, --path for nested keys such as images.core)`,
        );
        this.name = "ConfigError";
    }
}

const missingSecret = (key: SecretKey) =>
    `${PROJECT}:${key} is not set: it is a secret; set it with 'pulumi config set --secret ${PROJECT}:${key}'`;

/**
 * Parses raw values (as read from Pulumi config) into a StackConfig, or throws ConfigError.
 * `secretsSet` lists the secret keys that have a value; their values are never seen here.
 */
export function parseConfig(raw: Record<string, unknown>, secretsSet: readonly SecretKey[] = secretKeys): StackConfig {
    const missingSecrets = requiredSecrets(raw.keycloakMode)
        .filter((k) => !secretsSet.includes(k))
        .map(missingSecret);
    const result = rawConfig.safeParse(raw);
    const issues = result.success
        ? []
        : result.error.issues.map((i) => {
              // Nested keys (images.core) are named by their path, as `pulumi config set --path` takes them.
              const key = i.path.length ? `${PROJECT}:${i.path.map(String).join(".")}` : PROJECT;
              const given = i.path.reduce<unknown>(
                  (v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[String(k)] : undefined),
                  raw,
              );
              const shown = given === undefined ? "is not set" : `= ${JSON.stringify(given)}`;
              return `${key} ${shown}: ${i.message}`;
          });
    if (!result.success || missingSecrets.length > 0) throw new ConfigError([...issues, ...missingSecrets]);
    const c = result.data;
    const publicUrl = c.publicUrl.replace(/\/+$/, "");
    const kc = new URL(c.keycloakMode === "namespace" ? `${publicUrl}/iam` : (c.keycloakUrl as string));
    const [gatewayNamespace, gatewayName] = c.gateway?.split("/") ?? [];
    return {
        tenant: c.tenant,
        target: c.target,
        publicUrl,
        localStack: c.localStack,
        renderDir: c.renderDir,
        kubernetes: {
            namespace: c.namespace ?? c.tenant,
            images: { ...DEFAULT_IMAGES, ...defined(c.images) },
            storage: { ...DEFAULT_STORAGE, ...defined(c.storage) },
            routing: c.routing,
            ingressClass: c.ingressClass,
            routerNamespace: c.routerNamespace,
            gateway: gatewayName ? { namespace: gatewayNamespace, name: gatewayName } : undefined,
            tlsSecret: c.tlsSecret,
        },
        keycloak: {
            mode: c.keycloakMode,
            origin: kc.origin,
            basePath: kc.pathname.replace(/\/+$/, ""),
            adminUser: c.keycloakAdminUser,
        },
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

/** The entries of a partial record that are set. */
function defined<T>(record: Partial<Record<string, T>>): Record<string, T> {
    return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as Record<string, T>;
}

export interface LoadedConfig {
    config: StackConfig;
    secrets: {
        /** Unset with keycloakMode namespace (a password is generated then). */
        keycloakAdminPassword?: pulumi.Output<string>;
        lsaaiClientSecret: pulumi.Output<string>;
    };
}

/** A secret the parsed config requires in this configuration (e.g. the external Keycloak's admin password). */
export function requireSecret(secrets: LoadedConfig["secrets"], key: SecretKey): pulumi.Output<string> {
    const value = secrets[key];
    if (value === undefined) throw new ConfigError([missingSecret(key)]);
    return value;
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
            images: config.getObject("images"),
            storage: config.getObject("storage"),
            routing: config.get("routing"),
            ingressClass: config.get("ingressClass"),
            routerNamespace: config.get("routerNamespace"),
            keycloakMode: config.get("keycloakMode"),
            // Pulumi.yaml gives optional keys a default of "" (a key without default is required).
            keycloakUrl: config.get("keycloakUrl") || undefined,
            namespace: config.get("namespace") || undefined,
            gateway: config.get("gateway") || undefined,
            tlsSecret: config.get("tlsSecret") || undefined,
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
            keycloakAdminPassword: secretsSet.includes("keycloakAdminPassword")
                ? config.requireSecret("keycloakAdminPassword")
                : undefined,
            lsaaiClientSecret: config.requireSecret("lsaaiClientSecret"),
        },
    };
}
