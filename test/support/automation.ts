// Ephemeral stacks for integration tests: a temporary file:// backend, a generated passphrase, the
// real engine and plugins through the Automation API; always destroyed and removed afterwards.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigMap, EngineEvent, LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { fileBackendUrl, pulumiCommand, pulumiEnv } from "../../toolchain/index";
import type { ConfigValue } from "./project-config";

export interface EphemeralStack {
    stack: Stack;
    /** The backend directory (file:// state), for tests that inspect raw state. */
    backendDir: string;
    /** Environment the stack's CLI runs with (for tests that call the CLI directly). */
    env: Record<string, string>;
}

export interface EphemeralOptions {
    /** A directory holding a Pulumi.yaml: the program under test. */
    workDir: string;
    config?: Record<string, ConfigValue>;
    /** Extra environment for the CLI and the program (e.g. KUBECONFIG). */
    env?: Record<string, string>;
}

export async function createEphemeralStack(opts: EphemeralOptions): Promise<EphemeralStack> {
    const pulumi = await pulumiCommand();
    const backendDir = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-backend-"));
    const env = pulumiEnv({
        PULUMI_BACKEND_URL: fileBackendUrl(backendDir),
        PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(24).toString("base64url"),
        ...opts.env,
    });
    const stackName = `test-${crypto.randomBytes(4).toString("hex")}`;
    const stack = await LocalWorkspace.createStack(
        { stackName, workDir: opts.workDir },
        { envVars: env, pulumiHome: env.PULUMI_HOME, pulumiCommand: pulumi },
    );
    await setStackConfig(stack, opts.config ?? {});
    return { stack, backendDir, env };
}

/**
 * Sets config values; a plain value holding a JSON object or list is set key by key with `--path`, as
 * an operator would, so that Pulumi.yaml's `type: object` / `type: array` declarations accept it.
 */
export async function setStackConfig(stack: Stack, values: Record<string, ConfigValue>): Promise<void> {
    const flat: ConfigMap = {};
    const nested: ConfigMap = {};
    for (const [key, v] of Object.entries(values)) {
        const structured = typeof v === "string" && /^[[{]/.test(v) ? (JSON.parse(v) as unknown) : undefined;
        if (structured === undefined) flat[key] = typeof v === "string" ? { value: v } : v;
        else for (const [p, leaf] of pathEntries(key, structured)) nested[p] = { value: leaf };
    }
    await stack.setAllConfig(flat);
    if (Object.keys(nested).length > 0) await stack.setAllConfig(nested, true);
}

/** `key.a.b` / `key.list[0]` paths of every leaf, with the leaf as Pulumi parses a --path value. */
export function pathEntries(key: string, value: unknown): [string, string][] {
    if (Array.isArray(value)) return value.flatMap((v, i) => pathEntries(`${key}[${i}]`, v));
    if (value !== null && typeof value === "object")
        // Keys that are not plain names (label keys such as cytomine.dev/real-node) in brackets.
        return Object.entries(value).flatMap(([k, v]) =>
            pathEntries(/^[A-Za-z_][\w-]*$/.test(k) ? `${key}.${k}` : `${key}[${JSON.stringify(k)}]`, v),
        );
    return [[key, String(value)]];
}

/** Destroys the stack, removes it and its settings file, and deletes the backend. */
export async function disposeEphemeralStack(e: EphemeralStack): Promise<void> {
    try {
        await e.stack.destroy({ color: "never" });
    } finally {
        await e.stack.workspace.removeStack(e.stack.name).catch(() => undefined);
        fs.rmSync(path.join(e.stack.workspace.workDir, `Pulumi.${e.stack.name}.yaml`), { force: true });
        fs.rmSync(e.backendDir, { recursive: true, force: true });
    }
}

/** Counts of a preview's planned operations other than "same". */
export function changesOf(summary: Record<string, number | undefined>): Record<string, number> {
    return Object.fromEntries(Object.entries(summary).filter(([op, n]) => op !== "same" && (n ?? 0) > 0)) as Record<
        string,
        number
    >;
}

/**
 * Where secrets sit in plaintext on disk: the backend's state (with its backups and history) and the
 * stack's settings file. `secrets` maps a label to each value; the answer names the file, the label
 * and, inside a state file, the resource and property, never the value. Fails when no state file
 * exists, so an empty search cannot pass for a clean one.
 */
export function plaintextLeaks(e: EphemeralStack, secrets: Record<string, string>): string[] {
    const onDisk = [
        ...fs.readdirSync(e.backendDir, { recursive: true }).map((f) => path.join(e.backendDir, String(f))),
        path.join(e.stack.workspace.workDir, `Pulumi.${e.stack.name}.yaml`),
    ].filter((f) => fs.existsSync(f) && fs.statSync(f).isFile());
    if (!onDisk.some((f) => f.endsWith(".json"))) throw new Error(`no state file under ${e.backendDir}`);
    const labelled = Object.entries(secrets);
    return onDisk.flatMap((file) => {
        const text = fs.readFileSync(file, "utf8");
        return labelled
            .filter(([, value]) => text.includes(value))
            .map(([label, value]) => `${path.relative(e.backendDir, file)}: ${label}${stateLocation(text, value)}`);
    });
}

/** " in <urn> <inputs|outputs>.<key>" for the first resource of a state file that holds VALUE. */
function stateLocation(text: string, value: string): string {
    type Resource = { urn: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> };
    let resources: Resource[] = [];
    try {
        const parsed = JSON.parse(text) as { checkpoint?: { latest?: { resources?: Resource[] } } };
        resources = parsed.checkpoint?.latest?.resources ?? [];
    } catch {
        return "";
    }
    for (const r of resources) {
        for (const side of ["inputs", "outputs"] as const) {
            const key = Object.keys(r[side] ?? {}).find((k) => JSON.stringify(r[side]?.[k]).includes(value));
            if (key !== undefined) return ` in ${r.urn} ${side}.${key}`;
        }
    }
    return "";
}

/**
 * Where secrets appear in an operation's engine events (what `pulumi up` prints and a CI log keeps):
 * "<label> in <event kind> <resource URN or ''>", never the value.
 */
export function eventLeaks(events: EngineEvent[], secrets: Record<string, string>): string[] {
    return events.flatMap((event) => {
        const text = JSON.stringify(event);
        const kind = Object.keys(event).find((k) => k.endsWith("Event")) ?? "event";
        const body = (event as unknown as Record<string, { urn?: string; metadata?: { urn?: string } }>)[kind];
        const urn = body?.metadata?.urn ?? body?.urn ?? "";
        const found = Object.entries(secrets).filter(([, value]) => text.includes(value));
        // A diagnostic without a resource says where it came from only in its text: show it, masked.
        const message = (event.diagnosticEvent?.message ?? "").trim();
        const masked = Object.entries(secrets).reduce(
            (m, [label, value]) => m.replaceAll(value, `<${label}>`),
            message,
        );
        const context = message && !urn ? `: ${masked.slice(0, 300)}` : "";
        return found.map(([label]) => `${label} in ${kind} ${urn}${context}`.trim());
    });
}

/** The remote commands an operation ran (created, updated or replaced), by resource name, from its events. */
export function commandsRun(events: EngineEvent[]): string[] {
    return events
        .flatMap((e) => (e.resourcePreEvent ? [e.resourcePreEvent.metadata] : []))
        .filter(
            (m) =>
                m.type === "command:remote:Command" &&
                ["create", "update", "replace", "create-replacement"].includes(m.op),
        )
        .map((m) => m.urn.split("::").pop() as string)
        .sort();
}

/**
 * The steps an operation planned or took other than "same" and refreshes, as "<op> <resource name>",
 * sorted; a replacement counts once, as "replace" (its create-replacement and delete-replaced parts left out).
 */
export function stepsOf(events: EngineEvent[]): string[] {
    const changing = ["create", "update", "replace", "delete"];
    return events
        .flatMap((e) => (e.resourcePreEvent ? [e.resourcePreEvent.metadata] : []))
        .filter((m) => changing.includes(m.op) && m.type !== "pulumi:pulumi:Stack")
        .map((m) => `${m.op} ${m.urn.split("::").pop()}`)
        .sort();
}
