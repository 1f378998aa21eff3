// A tenant planned from a template, --set values and secrets, validated by the program's own config
// schema (parseConfig) before anything is created: every problem is reported at once, each naming
// the key and the fix.
import * as fs from "node:fs";
import {
    CONFIG_KEYS,
    ConfigError,
    DATASET_SECRET_KEYS,
    DatasetSecretKey,
    parseConfig,
    PROJECT,
    readKeys,
    SECRET_KEYS,
    SecretKey,
    StackConfig,
} from "../../program/config";
import { requiredSecrets } from "../../program/config/identity";
import { brokerRedirectUri, keycloakBaseUrl } from "../../components/identity/names";
import { decodeValue, kindOf, nearestKey, reservedKeyProblem, schemaAt, setPath } from "./keys";
import { loadTemplate, substitute, Template, TemplateError, TEMPLATES_DIR } from "./templates";

/** Every secret config key of the program. */
export type FleetSecretKey = SecretKey | DatasetSecretKey;
export const FLEET_SECRET_KEYS: readonly FleetSecretKey[] = [...SECRET_KEYS, ...DATASET_SECRET_KEYS];

/** Where a secret the fleet cannot generate comes from: a file (flag) or an environment variable. */
export const SECRET_SOURCES: Record<FleetSecretKey, { flag: string; env: string; what: string }> = {
    lsaaiClientSecret: {
        flag: "--lsaai-client-secret-file",
        env: "LSAAI_CLIENT_SECRET",
        what: "the client secret LS Login issued with lsaaiClientId",
    },
    keycloakAdminPassword: {
        flag: "--keycloak-admin-password-file",
        env: "KEYCLOAK_ADMIN_PASSWORD",
        what: "the master admin password of the external Keycloak (keycloakMode external)",
    },
    vmPrivateKey: {
        flag: "--vm-private-key-file",
        env: "VM_PRIVATE_KEY",
        what: "the SSH private key that logs in to the tenant's host as vm.user",
    },
    vmHostPrivateKey: {
        flag: "--vm-host-private-key-file",
        env: "VM_HOST_PRIVATE_KEY",
        what: "the host key the stack installs on the EC2 instance it creates (target aws)",
    },
    imageRegistryPassword: {
        flag: "--image-registry-password-file",
        env: "IMAGE_REGISTRY_PASSWORD",
        what: "the password (or token) of imageRegistry.username at imageRegistry.server, the registry the images are pulled from",
    },
    backupS3SecretAccessKey: {
        flag: "--backup-s3-secret-access-key-file",
        env: "BACKUP_S3_SECRET_ACCESS_KEY",
        what: "the secret access key of backups.s3AccessKeyId, for an s3: backups.repository",
    },
    backupKey: {
        flag: "--backup-key-file",
        env: "BACKUP_KEY",
        what: "the key of an existing backup repository the tenant adopts (unset: the stack generates one)",
    },
    sdafsCredentials: {
        flag: "--sdafs-credentials-file",
        env: "SDAFS_CREDENTIALS",
        what: "the sdafs download credentials (s3cmd-download.conf from login.bp.nbis.se), for datasets of source sdafs",
    },
};

export type Secrets = Partial<Record<FleetSecretKey, string>>;

/**
 * The secrets given by files (by key) or, failing that, by environment variables. A file is read
 * whole, without its trailing newline; an empty one is refused.
 */
export function readSecrets(files: Secrets, env: NodeJS.ProcessEnv = process.env): Secrets {
    const secrets: Secrets = {};
    for (const key of FLEET_SECRET_KEYS) {
        const file = files[key];
        if (file) {
            let value: string;
            try {
                value = fs.readFileSync(file, "utf8").replace(/\r?\n$/, "");
            } catch (e) {
                throw new FleetInputError(undefined, [
                    `${SECRET_SOURCES[key].flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
                ]);
            }
            if (!value.trim()) throw new FleetInputError(undefined, [`${SECRET_SOURCES[key].flag} ${file} is empty`]);
            secrets[key] = value;
        } else if (env[SECRET_SOURCES[key].env]) {
            secrets[key] = env[SECRET_SOURCES[key].env];
        }
    }
    return secrets;
}

/** Input that cannot make a tenant: every issue names the key (or the input) and the fix. */
export class FleetInputError extends Error {
    constructor(
        readonly tenant: string | undefined,
        readonly issues: string[],
    ) {
        super(
            `${tenant ? `tenant ${tenant}: ` : ""}${issues.length === 1 ? issues[0] : `\n  - ${issues.join("\n  - ")}`}`,
        );
        this.name = "FleetInputError";
    }
}

export interface TenantInput {
    name: string;
    template: string;
    /** `key=value`, nested keys dotted (images.core=…); `{tenant}` is replaced by the name. */
    set?: readonly string[];
    secrets?: Secrets;
}

export interface TenantPlan {
    tenant: string;
    template: string;
    /** The config keys to write (without the project prefix): the template's, the --set values and the tenant. */
    config: Record<string, unknown>;
    parsed: StackConfig;
    secrets: Secrets;
    /** Keycloak's base URL and the redirect URI to register with LS Login. */
    keycloakUrl: string;
    redirectUri: string;
}

/** Why `name` cannot be a tenant (and a stack, a namespace, a file name), or undefined. */
export function tenantNameProblem(name: string): string | undefined {
    const result = CONFIG_KEYS.tenant.safeParse(name);
    if (result.success) return undefined;
    return `tenant name ${JSON.stringify(name)}: ${result.error.issues.map((i) => i.message).join("; ")}; choose another name`;
}

/** Plans a tenant, or throws FleetInputError listing every problem. Reads only the template. */
export function planTenant(input: TenantInput, templatesDir = TEMPLATES_DIR): TenantPlan {
    const { name } = input;
    const nameProblem = tenantNameProblem(name);
    if (nameProblem) throw new FleetInputError(undefined, [nameProblem]);
    let template: Template;
    try {
        template = loadTemplate(input.template, templatesDir);
    } catch (e) {
        if (e instanceof TemplateError) throw new FleetInputError(name, [`--template: ${e.message}`]);
        throw e;
    }

    const issues: string[] = [];
    // The template's keys are the program's keys: one the program does not declare would be ignored.
    for (const key of [...Object.keys(template.config), ...Object.keys(template.ask).map((k) => k.split(".")[0])]) {
        const problem =
            reservedKeyProblem(key) ?? (key in CONFIG_KEYS ? undefined : "is not a config key of the program");
        if (problem)
            issues.push(
                `template ${template.file}: ${key} ${problem}${nearestKey(key) ? ` (did you mean ${nearestKey(key)}?)` : ""}`,
            );
    }
    const raw: Record<string, unknown> = substitute(structuredClone(template.config), name);
    for (const entry of input.set ?? []) {
        const at = entry.indexOf("=");
        if (at <= 0) {
            issues.push(
                `--set ${JSON.stringify(entry)}: write key=value, e.g. --set publicUrl=https://lab.example.org`,
            );
            continue;
        }
        const key = entry.slice(0, at);
        const keyPath = key.split(".");
        const top = keyPath[0];
        const reserved = reservedKeyProblem(top);
        if (reserved) {
            issues.push(`--set ${key}: ${top} ${reserved}`);
            continue;
        }
        if (!(top in CONFIG_KEYS)) {
            const near = nearestKey(top);
            issues.push(
                `--set ${key}: the program has no config key ${top}${near ? `; did you mean ${near}?` : ""} (the keys are documented in Pulumi.yaml)`,
            );
            continue;
        }
        const schema = schemaAt(keyPath);
        const text = substitute(entry.slice(at + 1), name);
        const kind = schema ? kindOf(schema) : undefined;
        // An empty value unsets a string key (the program's default applies).
        setPath(
            raw,
            keyPath,
            text === "" && (kind === "string" || kind === undefined) ? undefined : decodeValue(kind, text),
        );
    }
    raw.tenant = name;
    const config = compact(raw);

    const missing = Object.entries(template.ask).filter(([key]) => valueAt(config, key.split(".")) === undefined);
    for (const [key, ask] of missing)
        issues.push(
            `${PROJECT}:${key} is not set: ${ask.description} (template ${template.name} asks for it): --set ${key}=${shellQuote(substitute(ask.example, name))}`,
        );
    const mentionsMissing = (issue: string) =>
        missing.some(([key]) => new RegExp(`(^|[^\\w.])${key.replace(/\./g, "\\.")}(?![\\w.])`).test(issue));

    const secrets = input.secrets ?? {};
    let parsed: StackConfig | undefined;
    try {
        // The program's secrets are checked below, with the fleet's sources as the fix; the datasets'
        // (needed only by some entries) by the program's rule.
        const keys = readKeys(configGetter(config));
        parsed = parseConfig(
            keys,
            requiredSecrets(keys),
            DATASET_SECRET_KEYS.filter((k) => secrets[k]),
        );
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        for (const issue of e.issues) if (!mentionsMissing(issue)) issues.push(withFix(issue));
    }

    for (const key of requiredSecrets(config)) {
        if (secrets[key]) continue;
        const source = SECRET_SOURCES[key];
        issues.push(
            `${PROJECT}:${key} is not set: ${source.what}, a secret: give it with ${source.flag} <file> or the environment variable ${source.env}`,
        );
    }
    if (issues.length > 0 || !parsed) throw new FleetInputError(name, issues);

    const keycloakUrl = keycloakBaseUrl(parsed.keycloak.origin, parsed.keycloak.basePath);
    const pullsWithCredentials = parsed.imageRegistry !== undefined;
    return {
        tenant: name,
        template: template.name,
        config,
        parsed,
        // A registry password without imageRegistry would stop the program (it would go unused): it is
        // stored only for a tenant that pulls with credentials.
        secrets: Object.fromEntries(
            Object.entries(secrets).filter(([k, v]) => v && (k !== "imageRegistryPassword" || pullsWithCredentials)),
        ) as Secrets,
        keycloakUrl,
        redirectUri: brokerRedirectUri(keycloakUrl, parsed.realm, parsed.lsaai.alias),
    };
}

/** A config issue of the schema (`cytomine-fallback:<key> …: message`) with the --set that fixes it. */
function withFix(issue: string): string {
    const secret = FLEET_SECRET_KEYS.find((k) => new RegExp(`\\b${k}\\b`).test(issue));
    if (secret) {
        const source = SECRET_SOURCES[secret];
        return `${issue} (with the fleet: ${source.flag} <file> or the environment variable ${source.env})`;
    }
    const key = /^[\w-]+:([\w.]+)/.exec(issue)?.[1];
    if (!key) return issue;
    if (key === "tenant") return `${issue}; choose another tenant name`;
    return `${issue} (fix: --set ${key}=…)`;
}

function shellQuote(v: string): string {
    return /^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, "'\\''")}'`;
}

function valueAt(obj: Record<string, unknown>, keyPath: readonly string[]): unknown {
    let node: unknown = obj;
    for (const key of keyPath)
        node = node && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined;
    return node;
}

/** Empty objects and lists mean "the program's default": they are left out of the stack's config, at any depth. */
function compact(config: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(config)) {
        const value = v && typeof v === "object" && !Array.isArray(v) ? compact(v as Record<string, unknown>) : v;
        if (value === undefined || (value && typeof value === "object" && Object.keys(value).length === 0)) continue;
        out[k] = value;
    }
    return out;
}

/** Config values as Pulumi hands them to the program (strings; structured values as JSON). */
export function configGetter(config: Record<string, unknown>): (key: string) => string | undefined {
    return (key) => {
        const v = config[key];
        if (v === undefined || v === null) return undefined;
        return typeof v === "string" ? v : JSON.stringify(v);
    };
}

/** Parses a tenant's stored config (Pulumi.<tenant>.yaml's values, secrets assumed set). */
export function parseStored(config: Record<string, unknown>): StackConfig {
    return parseConfig(readKeys(configGetter(config)));
}

export interface Conflict {
    key: string;
    message: string;
}

/**
 * Why a tenant cannot live beside the others of its fleet: the same public URL, a realm of the same
 * Keycloak, or the same namespace (the program checks the namespace against the cluster too).
 */
export function fleetConflicts(
    tenant: string,
    config: StackConfig,
    others: readonly { tenant: string; config: StackConfig }[],
): Conflict[] {
    const conflicts: Conflict[] = [];
    const realms = (c: StackConfig) => {
        const base = keycloakBaseUrl(c.keycloak.origin, c.keycloak.basePath);
        return [
            { key: "realm", base, realm: c.realm },
            ...(c.orthanc.enabled ? [{ key: "orthancRealm", base, realm: c.orthanc.realm }] : []),
        ];
    };
    for (const other of others) {
        if (other.tenant === tenant) continue;
        const o = other.config;
        if (o.publicUrl === config.publicUrl)
            conflicts.push({
                key: "publicUrl",
                message: `${PROJECT}:publicUrl = "${config.publicUrl}" is tenant ${other.tenant}'s public URL; choose another (--set publicUrl=…)`,
            });
        for (const mine of realms(config))
            for (const theirs of realms(o))
                if (mine.base === theirs.base && mine.realm === theirs.realm)
                    conflicts.push({
                        key: mine.key,
                        message: `${PROJECT}:${mine.key} = "${mine.realm}" at Keycloak ${mine.base} is managed by tenant ${other.tenant}; give each tenant its own Keycloak (keycloakMode namespace) or another ${mine.key} (--set ${mine.key}=…)`,
                    });
        if (
            config.target === "kubernetes" &&
            o.target === "kubernetes" &&
            !config.renderDir &&
            !o.renderDir &&
            config.kubernetes.namespace === o.kubernetes.namespace
        )
            conflicts.push({
                key: "namespace",
                message: `${PROJECT}:namespace = "${config.kubernetes.namespace}" is tenant ${other.tenant}'s namespace; choose another (--set namespace=…)`,
            });
    }
    return conflicts;
}
