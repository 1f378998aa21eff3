// The stack's configuration, parsed once into typed objects. Keys are declared once, by area
// (common, identity, kubernetes); the loader reads exactly the keys the schema declares, and a unit
// test holds Pulumi.yaml's `config:` block to the same keys, types and defaults. Every error names
// the key and the fix, and is raised while the program runs in `pulumi preview`, before any
// resource exists.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { OidcEndpoints } from "../../components/identity/endpoints";
import type { KeycloakEndpoint } from "../../components/identity/provider";
import type { KubernetesSettings } from "../../components/kubernetes/cytomine";
import type { KeycloakMode } from "../../components/model/services";
import { ReleaseTag, releaseImages } from "../../components/model/release";
import { DEFAULT_IMAGES, DEFAULT_STORAGE, Images } from "../../components/model/settings";
import { setEntries } from "./checks";
import { commonKeys, Target } from "./common";
import { identityKeys, requiredSecrets, SECRET_KEYS, SecretKey } from "./identity";
import { kubernetesKeys } from "./kubernetes";
import { vmKeys } from "./vm";
import { crossFieldIssues } from "./rules";
import { DATASET_SECRET_KEYS, DatasetSecretKey, datasetIssues, datasetKeys, DatasetsConfig } from "./datasets";
import { backupKeys, kubernetesBackupProblem } from "./backups";
import { mlKeys } from "./ml";
import type { MlSettings } from "../../components/model/ml";
import type { BackupSettings } from "../../components/model/backups";

export { SECRET_KEYS, type SecretKey, type Target, DATASET_SECRET_KEYS, type DatasetSecretKey };

export const PROJECT = "cytomine-fallback";

/** Every key of the project's config namespace, by name (secrets excepted: see SECRET_KEYS). */
export const CONFIG_KEYS = {
    ...commonKeys,
    ...identityKeys,
    ...kubernetesKeys,
    ...vmKeys,
    ...datasetKeys,
    ...backupKeys,
    ...mlKeys,
};
export type ConfigKey = keyof typeof CONFIG_KEYS;

const schema = z.object(CONFIG_KEYS).superRefine((c, ctx) => {
    for (const { key, sub, message } of crossFieldIssues(c))
        ctx.addIssue({ code: "custom", path: [key, ...(sub ?? [])], message });
});
export type RawConfig = z.infer<typeof schema>;

export interface StackConfig {
    tenant: string;
    target: Target;
    /** Normalised: no trailing slash. */
    publicUrl: string;
    localStack: boolean;
    /** Empty when manifests are applied to a cluster. */
    renderDir: string;
    /** The Cytomine release the images are (config key release). */
    release: ReleaseTag;
    /** The image of each service, whichever target runs them. */
    images: Images;
    kubernetes: KubernetesSettings;
    keycloak: KeycloakEndpoint & {
        /** external: an existing Keycloak; namespace: deployed with Cytomine at <publicUrl>/iam. */
        mode: KeycloakMode;
        /** An external Keycloak's origin as the tenant's services reach it, when it is not the public one. */
        internalOrigin?: string;
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
        /** Bumped by hand to re-send the client secret, which refresh cannot read back. */
        secretsRevision: number;
    };
    orthanc: { enabled: boolean; realm: string };
    /** The user page's public URL (no trailing slash), when the realm declares its client. */
    portalUrl?: string;
    /** Targets ssh and aws: the host and where the tenant's files go on it. */
    vm: RawConfig["vm"];
    /** Target aws: the instance and its network. */
    aws?: NonNullable<RawConfig["aws"]>;
    /** Bigpicture datasets mounted into PIMS and imported (program/config/datasets.ts). */
    datasets: DatasetsConfig;
    /** The registry the images are pulled from with credentials (password: the secret imageRegistryPassword). */
    imageRegistry?: ImageRegistry;
    /**
     * Scheduled encrypted backups (program/config/backups.ts); unset: backups.enabled is false, or
     * target kubernetes without the key (it declares none yet).
     */
    backups?: BackupSettings;
    /** The machine-learning services (program/config/ml.ts); unset: ml.enabled is false. */
    ml?: MlSettings;
    /** The operator's CPU and memory by component (config key resources). */
    resources: RawConfig["resources"];
}

/** A registry login: host[:port] and user name; the password is the secret imageRegistryPassword. */
export interface ImageRegistry {
    server: string;
    username: string;
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

/** Secrets that are set but mean nothing in this configuration, each with the fix (none would be used silently). */
function straySecrets(raw: Record<string, unknown>, secretsSet: readonly SecretKey[]): string[] {
    const s3 = String((raw.backups as { repository?: unknown } | undefined)?.repository ?? "").startsWith("s3:");
    return [
        ...(secretsSet.includes("backupS3SecretAccessKey") && !s3
            ? [
                  `${PROJECT}:backupS3SecretAccessKey is set but backups.repository is not an s3: repository: set ` +
                      `backups.repository (pulumi config set --path backups.repository s3:<endpoint>/<bucket>), or remove ` +
                      `the secret (pulumi config rm ${PROJECT}:backupS3SecretAccessKey)`,
              ]
            : []),
        ...imageRegistryStray(raw, secretsSet),
    ];
}

function imageRegistryStray(raw: Record<string, unknown>, secretsSet: readonly SecretKey[]): string[] {
    return secretsSet.includes("imageRegistryPassword") && raw.imageRegistry === undefined
        ? [
              `${PROJECT}:imageRegistryPassword is set but imageRegistry is not: set imageRegistry ` +
                  `(pulumi config set --path imageRegistry.server registry.cytomine.org; ` +
                  `pulumi config set --path imageRegistry.username <user>), or remove the secret ` +
                  `(pulumi config rm ${PROJECT}:imageRegistryPassword)`,
          ]
        : [];
}

/** `<project>:<key>` followed by the value given (or "is not set"), as issues name keys. */
function describeKey(path: readonly PropertyKey[], raw: Record<string, unknown>): string {
    // Nested keys (images.core) are named by their path, as `pulumi config set --path` takes them.
    // List items as `--path` writes them: datasets.list[0].id.
    // Label keys (cytomine.dev/real-node) in brackets, as `--path` needs them.
    const part = (k: PropertyKey, i: number) => {
        const name = String(k);
        if (typeof k === "number" || /^\d+$/.test(name)) return `[${name}]`;
        if (!/^[A-Za-z_][\w-]*$/.test(name)) return `[${JSON.stringify(name)}]`;
        return i === 0 ? name : `.${name}`;
    };
    const key = path.length ? `${PROJECT}:${path.map(part).join("")}` : PROJECT;
    const given = path.reduce<unknown>(
        (v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[String(k)] : undefined),
        raw,
    );
    return `${key} ${given === undefined ? "is not set" : `= ${JSON.stringify(given)}`}`;
}

/**
 * Parses raw values (as read from Pulumi config) into a StackConfig, or throws ConfigError.
 * `secretsSet` lists the secret keys that have a value (default: those this config requires); their
 * values are never seen here. A secret set where nothing uses it is an error too.
 */
export function parseConfig(
    raw: Record<string, unknown>,
    secretsSet: readonly SecretKey[] = requiredSecrets(raw),
    datasetSecretsSet: readonly DatasetSecretKey[] = DATASET_SECRET_KEYS,
): StackConfig {
    const missingSecrets = [
        ...requiredSecrets(raw)
            .filter((k) => !secretsSet.includes(k))
            .map(missingSecret),
        ...straySecrets(raw, secretsSet),
    ];
    const result = schema.safeParse(raw);
    const issues = result.success ? [] : result.error.issues.map((i) => `${describeKey(i.path, raw)}: ${i.message}`);
    const datasets = datasetIssues(
        raw.target ?? "kubernetes",
        raw.datasets,
        datasetSecretsSet.includes("sdafsCredentials"),
    ).map((i) => `${describeKey(["datasets", ...i.path], raw)}: ${i.message}`);
    issues.push(...datasets);
    const kubernetesBackups = kubernetesBackupProblem(raw);
    if (kubernetesBackups) issues.push(`${PROJECT}:${kubernetesBackups}`);
    if (issues.length > 0 || missingSecrets.length > 0) throw new ConfigError([...issues, ...missingSecrets]);
    if (!result.success) throw new ConfigError(issues);
    return toStackConfig(result.data, raw.backups !== undefined);
}

/** The parsed keys as the typed objects the program wires (defaults merged, URLs split). */
function toStackConfig(c: RawConfig, backupsGiven: boolean): StackConfig {
    const publicUrl = c.publicUrl.replace(/\/+$/, "");
    const kc = new URL(c.keycloakMode === "namespace" ? `${publicUrl}/iam` : (c.keycloakUrl as string));
    const [gatewayNamespace, gatewayName] = c.gateway?.split("/") ?? [];
    return {
        tenant: c.tenant,
        target: c.target,
        publicUrl,
        localStack: c.localStack,
        renderDir: c.renderDir,
        release: c.release,
        images: { ...DEFAULT_IMAGES, ...releaseImages(c.release), ...setEntries(c.images) },
        kubernetes: {
            namespace: c.namespace ?? c.tenant,
            storage: { ...DEFAULT_STORAGE, ...setEntries(c.storage) },
            routing: c.routing,
            ingressClass: c.ingressClass,
            routerNamespace: c.routerNamespace,
            gateway: gatewayName ? { namespace: gatewayNamespace, name: gatewayName } : undefined,
            tlsSecret: c.tlsSecret,
            storageClass: c.storageClass || undefined,
            nodeSelector: c.nodeSelector,
            tolerations: c.tolerations,
        },
        keycloak: {
            mode: c.keycloakMode,
            origin: kc.origin,
            basePath: kc.pathname.replace(/\/+$/, ""),
            adminUser: c.keycloakAdminUser,
            ...(c.keycloakInternalUrl ? { internalOrigin: new URL(c.keycloakInternalUrl).origin } : {}),
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
            secretsRevision: Number(c.secretsRevision),
        },
        orthanc: { enabled: c.orthanc, realm: c.orthancRealm },
        portalUrl: c.portalUrl?.replace(/\/+$/, ""),
        vm: c.vm,
        aws: c.aws,
        datasets: c.datasets,
        resources: c.resources,
        ...(c.imageRegistry ? { imageRegistry: c.imageRegistry } : {}),
        // On by default on the VM targets; on Kubernetes when the key is set (there is no bucket to
        // default to), to an S3-compatible bucket (kubernetesBackupProblem).
        ...(c.backups.enabled && (c.target !== "kubernetes" || backupsGiven)
            ? {
                  backups: {
                      schedule: c.backups.schedule,
                      keepDaily: c.backups.keepDaily,
                      keepWeekly: c.backups.keepWeekly,
                      repository: c.backups.repository,
                      ...(c.backups.s3AccessKeyId ? { s3AccessKeyId: c.backups.s3AccessKeyId } : {}),
                  },
              }
            : {}),
        ...(c.ml.enabled
            ? { ml: { services: c.ml.services, ...(c.ml.weights ? { weights: c.ml.weights } : {}), tasks: c.ml.tasks } }
            : {}),
    };
}

/** How a key's value is stored in Pulumi config: its schema's base type, under defaults and optionals. */
export type KeyKind = "string" | "boolean" | "object" | "array";

export function keyKind(schema: z.ZodType): KeyKind {
    const def = (schema as unknown as { _zod: { def: { type: string; innerType?: z.ZodType } } })._zod.def;
    if (def.innerType) return keyKind(def.innerType);
    if (def.type === "boolean") return "boolean";
    if (def.type === "array") return "array";
    if (def.type === "object" || def.type === "record") return "object";
    return "string";
}

/** The default Pulumi.yaml declares for an optional key without a value of its own, by kind. */
export const EMPTY_DEFAULT: Record<KeyKind, string> = { string: "", boolean: "", object: "{}", array: "[]" };

/** True when a key may be left out (it has a default, or is optional). */
export function keyOptional(schema: z.ZodType): boolean {
    return schema.safeParse(undefined).success;
}

/**
 * The raw value of every declared key from Pulumi config strings. Booleans and structured values are
 * decoded here; a value that does not decode is passed on as given, so the schema names the key.
 * Pulumi.yaml gives optional keys an empty default (a key without default is required): "" or {}
 * (EMPTY_DEFAULT) means unset.
 */
export function readKeys(get: (key: string) => string | undefined): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(CONFIG_KEYS) as [ConfigKey, z.ZodType][]) {
        const value = get(key);
        const kind = keyKind(schema);
        if (value === undefined || (value === EMPTY_DEFAULT[kind] && keyOptional(schema))) continue;
        raw[key] = decode(kind, value);
    }
    return raw;
}

function decode(kind: KeyKind, value: string): unknown {
    if (kind === "string") return value;
    if (kind === "boolean") return value === "true" ? true : value === "false" ? false : value;
    try {
        return JSON.parse(value);
    } catch {
        return value;
    }
}

export interface LoadedConfig {
    config: StackConfig;
    secrets: {
        /** Unset with keycloakMode namespace (a password is generated then). */
        keycloakAdminPassword?: pulumi.Output<string>;
        lsaaiClientSecret: pulumi.Output<string>;
        /** Set for targets ssh and aws. */
        vmPrivateKey?: pulumi.Output<string>;
        /** Set for target aws: the host key installed on the instance. */
        vmHostPrivateKey?: pulumi.Output<string>;
        /** The s3cmd-style sdafs credentials file (sdafs dataset sources). */
        sdafsCredentials?: pulumi.Output<string>;
        /** The image registry's password (with imageRegistry). */
        imageRegistryPassword?: pulumi.Output<string>;
        /** The backup bucket's secret access key (with an s3: backups.repository). */
        backupS3SecretAccessKey?: pulumi.Output<string>;
        /** An existing backup repository's key, adopted instead of a generated one. */
        backupKey?: pulumi.Output<string>;
    };
}

/** A secret the parsed config requires in this configuration (e.g. the external Keycloak's admin password). */
export function requireSecret(secrets: LoadedConfig["secrets"], key: SecretKey): pulumi.Output<string> {
    const value = secrets[key];
    if (value === undefined) throw new ConfigError([missingSecret(key)]);
    return value;
}

/** A secret's value, for the program's own checks when it starts (never logged, never exported). */
export function plaintext(secret: pulumi.Output<string>): Promise<string> {
    return new Promise<string>((resolve) => secret.apply(resolve));
}

/** Reads this project's config namespace, parses it, and reads the secrets as secret Outputs. */
export function loadConfig(config = new pulumi.Config(PROJECT)): LoadedConfig {
    const secretsSet = SECRET_KEYS.filter((k) => config.getSecret(k) !== undefined);
    const optionalSecret = (k: SecretKey) => (secretsSet.includes(k) ? config.requireSecret(k) : undefined);
    const datasetSecretsSet = DATASET_SECRET_KEYS.filter((k) => config.getSecret(k) !== undefined);
    const parsed = parseConfig(
        readKeys((k) => config.get(k)),
        secretsSet,
        datasetSecretsSet,
    );
    return {
        config: parsed,
        secrets: {
            keycloakAdminPassword: optionalSecret("keycloakAdminPassword"),
            lsaaiClientSecret: config.requireSecret("lsaaiClientSecret"),
            vmPrivateKey: optionalSecret("vmPrivateKey"),
            vmHostPrivateKey: optionalSecret("vmHostPrivateKey"),
            imageRegistryPassword: optionalSecret("imageRegistryPassword"),
            backupS3SecretAccessKey: optionalSecret("backupS3SecretAccessKey"),
            backupKey: optionalSecret("backupKey"),
            sdafsCredentials: datasetSecretsSet.length > 0 ? config.requireSecret("sdafsCredentials") : undefined,
        },
    };
}
