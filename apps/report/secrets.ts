// Secrets in and out of the report: values are blinded where the events mark them, and the finished
// text is searched for every decrypted secret of the stack before anything is written, because
// provider errors echo inputs verbatim and nothing marks those as secret.

/** The signature key and value of a serialized secret (sdk/go/common/resource/sig). */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
/** What a preview shows for a value known only after the update. */
export const UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
export const BLINDED = "[secret]";

/**
 * Shorter values are not searched for. A secret of 1–3 characters ("0", "yes", "dev") occurs in any
 * report by chance (counts, words, names), so searching for it would refuse every report while
 * protecting a value that is guessable anyway.
 */
export const MIN_SECRET_LENGTH = 4;

export interface SecretValue {
    value: string;
    /** Where it comes from, for the error: "config key x:y" or "<urn> outputs.password". Never the value. */
    source: string;
}

export interface SecretHit {
    source: string;
    /** Names of the texts that contain it (report.md, stdout, ...). */
    foundIn: string[];
}

export class SecretLeakError extends Error {
    constructor(readonly hits: SecretHit[]) {
        super(
            "the report would reveal secret values, so nothing was written: " +
                hits.map((h) => `${h.source} (in ${h.foundIn.join(", ")})`).join("; ") +
                ". Find where the value is echoed (often a provider error in a diagnostic) and keep it out.",
        );
        this.name = "SecretLeakError";
    }
}

function isSecretObject(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** A copy of a property value with every secret replaced by "[secret]". */
export function blind(value: unknown): unknown {
    if (isSecretObject(value)) return BLINDED;
    if (Array.isArray(value)) return value.map(blind);
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, blind(v)]));
    }
    return value;
}

function leaves(value: unknown, out: string[] = []): string[] {
    if (typeof value === "string") out.push(value);
    else if (typeof value === "number" || typeof value === "bigint") out.push(String(value));
    else if (Array.isArray(value)) value.forEach((v) => leaves(v, out));
    else if (typeof value === "object" && value !== null) Object.values(value).forEach((v) => leaves(v, out));
    return out;
}

/** Structured secrets arrive as JSON text: the whole text and every leaf inside it count. */
function valuesOf(text: string): string[] {
    const out = [text];
    try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed === "object" && parsed !== null) out.push(...leaves(parsed));
        else if (typeof parsed === "string") out.push(parsed);
    } catch {
        // Plain text, not JSON.
    }
    return out;
}

/** Config entries as `pulumi config --show-secrets --json` (and `getAllConfig()`) give them. */
export type ConfigEntries = Record<string, { value?: string; secret?: boolean; objectValue?: unknown }>;

export function secretConfigKeys(config: ConfigEntries): string[] {
    return Object.entries(config)
        .filter(([, v]) => v.secret === true)
        .map(([k]) => k)
        .sort();
}

export function secretsFromConfig(config: ConfigEntries): SecretValue[] {
    const out: SecretValue[] = [];
    for (const [key, entry] of Object.entries(config)) {
        if (entry.secret !== true) continue;
        const values = entry.value !== undefined ? valuesOf(entry.value) : [];
        if (entry.objectValue !== undefined) values.push(...leaves(entry.objectValue));
        for (const value of values) out.push({ value, source: `config key ${key}` });
    }
    return out;
}

/**
 * Decrypted secrets in a deployment exported with `--show-secrets` (`stack.exportStack()`): objects
 * carrying the secret signature and a `plaintext` holding the value as JSON. Secrets still
 * encrypted (`ciphertext` only) cannot be read and are counted in `undecrypted`.
 *
 * A structured secret (an object or list made secret as a whole, such as an output bundling URLs
 * with passwords) counts leaf by leaf, except the leaves the deployment also holds in plain text
 * elsewhere (a URL that is a component's plain output): they are public already, and searching for
 * them would refuse every report that names them. A secret that is a single value always counts.
 */
export function secretsFromDeployment(exported: unknown): { secrets: SecretValue[]; undecrypted: number } {
    const found: (SecretValue & { structured: boolean })[] = [];
    const plain = new Set<string>();
    let undecrypted = 0;
    const walk = (v: unknown, owner: string, path: string): void => {
        if (isSecretObject(v)) {
            if (typeof v.plaintext !== "string") {
                undecrypted++;
                return;
            }
            let parsed: unknown;
            try {
                parsed = JSON.parse(v.plaintext) as unknown;
            } catch {
                parsed = v.plaintext;
            }
            const structured = typeof parsed === "object" && parsed !== null;
            for (const value of leaves(parsed)) found.push({ value, source: `${owner} ${path}`.trim(), structured });
            return;
        }
        if (Array.isArray(v)) {
            v.forEach((x, i) => walk(x, owner, `${path}[${i}]`));
        } else if (typeof v === "object" && v !== null) {
            const o = v as Record<string, unknown>;
            // A resource (or pending operation's resource) names itself by URN; paths restart there.
            const isResource = typeof o.urn === "string" && typeof o.type === "string";
            const nextOwner = isResource ? (o.urn as string) : owner;
            for (const [k, x] of Object.entries(o)) {
                walk(x, nextOwner, isResource ? k : path ? `${path}.${k}` : k);
            }
        } else {
            leaves(v).forEach((x) => plain.add(x));
        }
    };
    walk(exported, "stack state", "");
    const secrets = found
        .filter((s) => !(s.structured && plain.has(s.value)))
        .map(({ value, source }) => ({ value, source }));
    return { secrets, undecrypted };
}

function needles(value: string): string[] {
    const forms = new Set<string>([
        value,
        // As it appears inside JSON (report.json) and escaped in Markdown or HTML.
        JSON.stringify(value).slice(1, -1),
        value.replace(/\|/g, "\\|"),
        value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"),
    ]);
    // A multi-line secret (a key, a kubeconfig) leaks line by line in reflowed messages; armour
    // lines such as "-----BEGIN ...-----" are not secret.
    if (value.includes("\n")) {
        for (const line of value.split(/\r?\n/)) {
            const t = line.trim();
            if (t.length >= 8 && !t.startsWith("-----")) forms.add(t);
        }
    }
    return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH);
}

/** Every secret found in the texts, by source; values shorter than MIN_SECRET_LENGTH are skipped. */
export function findSecrets(texts: { name: string; text: string }[], secrets: SecretValue[]): SecretHit[] {
    const bySource = new Map<string, Set<string>>();
    const checked = new Map<string, string[]>();
    for (const s of secrets) {
        if (s.value.length < MIN_SECRET_LENGTH) continue;
        let foundIn = checked.get(s.value);
        if (foundIn === undefined) {
            const forms = needles(s.value);
            foundIn = texts.filter((t) => forms.some((f) => t.text.includes(f))).map((t) => t.name);
            checked.set(s.value, foundIn);
        }
        if (foundIn.length === 0) continue;
        const set = bySource.get(s.source) ?? new Set<string>();
        foundIn.forEach((n) => set.add(n));
        bySource.set(s.source, set);
    }
    return [...bySource.entries()].map(([source, set]) => ({ source, foundIn: [...set] }));
}

/** Throws SecretLeakError (naming sources, never values) when any text holds a secret. */
export function assertNoSecrets(texts: { name: string; text: string }[], secrets: SecretValue[]): void {
    const hits = findSecrets(texts, secrets);
    if (hits.length > 0) throw new SecretLeakError(hits);
}
