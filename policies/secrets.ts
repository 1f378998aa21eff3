// Secrets: which inputs carry one, whether they are Pulumi secrets, and default passwords.
//
// What @pulumi/policy 1.15 lets a policy observe (server.js, deserialize.js): the engine sends
// secret markers to every analyzer call, but the SDK strips them before validateResource and
// validateStack (deserializeProperties(..., false)): there a secret is a plain string, and
// `opts.additionalSecretOutputs` only says which *outputs* the engine will encrypt (inputs stay as
// they are). Only remediateResource gets secrets as `Secret` objects, and the engine always runs a
// resource's remediations before its validations, in the same analyzer process. So the
// no-plaintext-secrets policy runs at level "remediate": its remediation records which
// secret-bearing inputs arrive as plain text (and changes nothing); its validation, run next for the
// same resource, reports them (the SDK reports a remediate-level violation as mandatory).
import { ResourceValidationPolicy, Secret } from "@pulumi/policy";
import { configOf, configSchema } from "./config";
import { kindOf, TYPES } from "./types";
import { Leaf, leaves, listOf, known, Path, pathText, Props, stringAt, UNKNOWN, unwrap } from "./values";
import { containerName, containersOf } from "./workloads";

/** Name endings that make a property, map key or variable a secret (compared without - _ . and case). */
const SECRET_NAME_ENDINGS = [
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "secretkey",
    "signingkey",
    "secretaccesskey",
    "credential",
    "credentials",
];

/** Whether a property, attribute or variable with this name holds a secret (e.g. api-key, PGPASSWORD). */
export function isSecretName(name: string): boolean {
    const n = name.toLowerCase().replace(/[^a-z0-9]/g, "");
    return SECRET_NAME_ENDINGS.some((ending) => n.endsWith(ending));
}

const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** Whether the text holds PEM private key material (an SSH or TLS key). */
export function hasPrivateKey(text: string): boolean {
    return PRIVATE_KEY.test(text);
}

/** Assignments to secret-named keys in a text: env file (NAME=v), YAML (name: v) or JSON ("name": v). */
export function secretAssignments(text: string): { name: string; value: string }[] {
    const found: { name: string; value: string }[] = [];
    for (const line of text.split("\n")) {
        const m = /^\s*(?:export\s+)?["']?([A-Za-z0-9_.-]+)["']?\s*[:=]\s*["']?([^"'\s,]*)/.exec(line);
        // A value that names a variable ($X, ${X}) is not the secret itself.
        if (m && isSecretName(m[1]) && m[2] !== "" && !m[2].startsWith("$")) found.push({ name: m[1], value: m[2] });
    }
    return found;
}

/** Whether a text (a command's stdin, say) carries a secret: private key material or a secret assignment. */
export function carriesSecret(text: string): boolean {
    return hasPrivateKey(text) || secretAssignments(text).length > 0;
}

const isCommand = (type: string) => type === TYPES.remoteCommand || type === TYPES.localCommand;

/** The value at `path` under an unwrapped root, looking through Secret wrappers. */
function rawAt(root: unknown, path: Path): unknown {
    let v = root;
    for (const p of path) {
        v = unwrapSecret(v);
        if (!(v instanceof Object)) return undefined;
        v = (v as Props)[p];
    }
    return unwrapSecret(v);
}

function unwrapSecret(v: unknown): unknown {
    const u = unwrap(v);
    return u instanceof Secret ? u.value : u;
}

/**
 * Why the scalar at `path` of a resource of `type` is a secret, or undefined when it is not one.
 * `root` is the resource's unwrapped properties (for the name of an environment variable).
 */
export function secretReason(type: string, path: Path, value: unknown, root: unknown): string | undefined {
    const keys = path.filter((p): p is string => typeof p === "string");
    const own = keys.at(-1);
    const parent = keys.at(-2);
    if (type === TYPES.secret && (path[0] === "data" || path[0] === "stringData")) return "Kubernetes Secret data";
    if (isCommand(type) && path[0] === "stdin") {
        return typeof value === "string" && carriesSecret(value) ? "command stdin carrying a secret" : undefined;
    }
    if (own !== undefined && isSecretName(own)) return "named like a secret";
    // { initialPassword: { value } }, { name: "DB_PASSWORD", value } (container env)
    if (own === "value" && parent !== undefined && isSecretName(parent)) return "named like a secret";
    if (own === "value" && typeof path.at(-2) === "number" && parent === "env") {
        const name = rawAt(root, [...path.slice(0, -1), "name"]);
        if (typeof name === "string" && isSecretName(name)) return `environment variable ${name}`;
    }
    if (typeof value === "string" && hasPrivateKey(value)) return "private key material";
    return undefined;
}

/** Secret-bearing scalars of a resource: known, non-empty strings whose path or content is a secret. */
export function secretLeaves(type: string, props: unknown): (Leaf & { reason: string })[] {
    const root = unwrap(props);
    return leaves(root).flatMap((leaf) => {
        if (leaf.value === UNKNOWN || typeof leaf.value !== "string" || leaf.value === "") return [];
        const reason = secretReason(type, leaf.path, leaf.value, root);
        return reason ? [{ ...leaf, reason }] : [];
    });
}

/** Plain-text secret inputs seen by the remediation, by URN, until the validation reports them. */
const plaintextSeen = new Map<string, string[]>();

export const noPlaintextSecrets: ResourceValidationPolicy = {
    name: "no-plaintext-secrets",
    description:
        "Secret-bearing inputs (passwords, client secrets, tokens, api-key attributes, private keys, command stdin or " +
        "environment carrying secrets, " +
        "Kubernetes Secret data) are Pulumi secrets, and secrets never sit where Kubernetes or EC2 store them in clear " +
        "(container env values, ConfigMaps, user data). Level remediate: only a remediation sees secret markers; it " +
        "changes nothing and the validation reports what it saw, as mandatory. Values unknown at preview are not judged.",
    enforcementLevel: "remediate",
    remediateResource: (args) => {
        const plain = secretLeaves(args.type, args.props).filter(
            (leaf) => !leaf.secret && !clearTextDestination(args.type, leaf.path),
        );
        plaintextSeen.set(
            args.urn,
            plain.map((leaf) => `${pathText(leaf.path)} (${leaf.reason}) is not a Pulumi secret`),
        );
        return undefined;
    },
    validateResource: (args, reportViolation) => {
        // Set by this policy's remediation, which the engine runs first (absent when the policy is
        // configured at another level: then secretness cannot be seen and is not judged).
        const seen = plaintextSeen.get(args.urn) ?? [];
        plaintextSeen.delete(args.urn);
        for (const message of seen) {
            reportViolation(`${message}: use pulumi.secret(), config.requireSecret() or a generated secret`);
        }
        for (const problem of clearTextDestinations(args.type, args.props)) reportViolation(problem);
    },
};

/** Inputs the platform stores in clear whatever their Pulumi secretness (reported as such instead). */
function clearTextDestination(type: string, path: Path): boolean {
    if (type === TYPES.configMap) return path[0] === "data" || path[0] === "binaryData";
    if (type === TYPES.ec2Instance || type === TYPES.ec2LaunchTemplate) {
        return path[0] === "userData" || path[0] === "userDataBase64";
    }
    return path.at(-1) === "value" && path.at(-3) === "env";
}

/** Secrets placed where the platform keeps them in clear, whatever their Pulumi secretness. */
function clearTextDestinations(type: string, props: Props): string[] {
    const problems: string[] = [];
    for (const c of containersOf(type, props)) {
        const env = listOf(() => c.env);
        if (env === UNKNOWN) continue;
        for (const e of env) {
            const name = stringAt(() => e.name);
            const value = stringAt(() => e.value);
            if (typeof name === "string" && isSecretName(name) && typeof value === "string" && value !== "") {
                problems.push(
                    `container ${containerName(c)}: env ${name} has a literal value, readable by anyone who can read the ${kindOf(type)}: use valueFrom.secretKeyRef`,
                );
            }
        }
    }
    if (type === TYPES.configMap) {
        for (const field of ["data", "binaryData"]) {
            const data = known(() => props[field]);
            if (data === UNKNOWN || !(data instanceof Object)) continue;
            for (const key of Object.keys(data).filter(isSecretName)) {
                problems.push(
                    `ConfigMap ${field}.${key} is named like a secret: ConfigMaps are not secret, use a Secret`,
                );
            }
        }
    }
    if (type === TYPES.ec2Instance || type === TYPES.ec2LaunchTemplate) {
        for (const field of ["userData", "userDataBase64"]) {
            const data = stringAt(() => props[field]);
            if (typeof data !== "string") continue;
            const text = type === TYPES.ec2LaunchTemplate || field === "userDataBase64" ? decodeBase64(data) : data;
            if (hasPrivateKey(text)) {
                problems.push(`${field} holds a private key: user data is readable from the instance metadata service`);
            }
        }
    }
    return problems;
}

function decodeBase64(text: string): string {
    return /^[A-Za-z0-9+/=\s]*$/.test(text) ? Buffer.from(text, "base64").toString("utf8") : text;
}

export const noDefaultPasswords: ResourceValidationPolicy = {
    name: "no-default-passwords",
    description:
        "No input contains a placeholder such as change-me, and no secret-bearing input is a well-known default " +
        "password (password, admin, changeme, ...). Secret values are visible to the check (the SDK unwraps them); " +
        "values unknown at preview, such as generated passwords, are not judged.",
    enforcementLevel: "mandatory",
    configSchema: configSchema("placeholders", "defaultPasswords"),
    validateResource: (args, reportViolation) => {
        const cfg = configOf(args);
        const placeholders = cfg.placeholders.map((p) => p.toLowerCase());
        const defaults = new Set(cfg.defaultPasswords.map((p) => p.toLowerCase()));
        const root = unwrap(args.props);
        for (const leaf of leaves(root)) {
            if (typeof leaf.value !== "string") continue;
            // Secret data is base64: judge what the pod will read.
            const value = args.type === TYPES.secret && leaf.path[0] === "data" ? decodeBase64(leaf.value) : leaf.value;
            const text = value.toLowerCase();
            const placeholder = placeholders.find((p) => text.includes(p));
            if (placeholder) {
                reportViolation(`${pathText(leaf.path)} contains the placeholder "${placeholder}": set the real value`);
                continue;
            }
            // Command stdin: the whole of it (a password piped to a command) and any assignments in it.
            const candidates =
                isCommand(args.type) && leaf.path[0] === "stdin"
                    ? [value, ...secretAssignments(value).map((a) => a.value)]
                    : secretReason(args.type, leaf.path, leaf.value, root)
                      ? [value]
                      : [];
            if (candidates.some((c) => defaults.has(c.trim().toLowerCase()))) {
                // The value itself is not repeated: it is a secret, however weak.
                reportViolation(`${pathText(leaf.path)} is a well-known default password: generate one`);
            }
        }
    },
};
