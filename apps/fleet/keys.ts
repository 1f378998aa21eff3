// The program's config keys as `--set key=value` addresses them: top-level keys of CONFIG_KEYS and
// nested keys (images.core, vm.host), each value decoded by the kind its schema declares. Unknown
// top-level keys are refused here with the nearest key; nested keys are left to the schema, which
// knows the allowed ones (strict objects and records).
import type { z } from "zod";
import { CONFIG_KEYS, DATASET_SECRET_KEYS, SECRET_KEYS } from "../../program/config";

const SECRETS: readonly string[] = [...SECRET_KEYS, ...DATASET_SECRET_KEYS];

export type Kind = "string" | "boolean" | "number" | "object" | "array";

interface Def {
    type: string;
    innerType?: z.ZodType;
    shape?: Record<string, z.ZodType>;
    valueType?: z.ZodType;
    element?: z.ZodType;
}

const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schema under defaults, optionals and nullables. */
function unwrap(s: z.ZodType): z.ZodType {
    let def = defOf(s);
    while (def.innerType) {
        s = def.innerType;
        def = defOf(s);
    }
    return s;
}

export function kindOf(s: z.ZodType): Kind {
    const type = defOf(unwrap(s)).type;
    if (type === "boolean") return "boolean";
    if (type === "number" || type === "int") return "number";
    if (type === "array") return "array";
    if (type === "object" || type === "record") return "object";
    return "string";
}

/** The schema of a nested key (`vm.port` → vm's `port`), or undefined where the schema has none. */
export function schemaAt(path: readonly string[]): z.ZodType | undefined {
    let s: z.ZodType | undefined = (CONFIG_KEYS as Record<string, z.ZodType>)[path[0]];
    for (const key of path.slice(1)) {
        if (!s) return undefined;
        const def = defOf(unwrap(s));
        s = def.type === "object" ? def.shape?.[key] : def.type === "record" ? def.valueType : undefined;
    }
    return s;
}

/** Decodes a --set value by the kind of its key; a value that does not decode is kept, so the schema names it. */
export function decodeValue(kind: Kind | undefined, value: string): unknown {
    switch (kind) {
        case "boolean":
            return value === "true" ? true : value === "false" ? false : value;
        case "number":
            return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
        case "array":
            if (value.trim().startsWith("[")) return parseJson(value);
            return value === "" ? [] : value.split(",").map((v) => v.trim());
        case "object":
            return parseJson(value);
        default:
            return value;
    }
}

function parseJson(value: string): unknown {
    try {
        return JSON.parse(value);
    } catch {
        return value;
    }
}

/** Keys `--set` may not address: the tenant (the command's argument) and secrets (read from files or the environment). */
export function reservedKeyProblem(key: string): string | undefined {
    if (key === "tenant") return "the tenant name is the command's argument, not a --set value";
    if (SECRETS.includes(key))
        return "is a secret: it is read from a file or an environment variable, never from --set (see `tenant new --help`)";
    return undefined;
}

/** The key of CONFIG_KEYS closest to a mistyped one, if it is close. */
export function nearestKey(key: string): string | undefined {
    let best: { key: string; d: number } | undefined;
    for (const k of [...Object.keys(CONFIG_KEYS), ...SECRETS]) {
        const d = distance(key.toLowerCase(), k.toLowerCase());
        if (!best || d < best.d) best = { key: k, d };
    }
    return best && best.d <= Math.max(2, Math.floor(key.length / 4)) ? best.key : undefined;
}

function distance(a: string, b: string): number {
    let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
        const row = [i];
        for (let j = 1; j <= b.length; j++)
            row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = row;
    }
    return prev[b.length];
}

/** Sets `value` at a dotted path of `target`, creating objects on the way (replacing non-objects). */
export function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
    let node = target;
    for (const key of path.slice(0, -1)) {
        const next = node[key];
        if (!next || typeof next !== "object" || Array.isArray(next)) node[key] = {};
        node = node[key] as Record<string, unknown>;
    }
    const last = path[path.length - 1];
    if (value === undefined) delete node[last];
    else node[last] = value;
}
