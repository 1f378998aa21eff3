// The preview as a report sees it: built from the Automation API's engine events (what `onEvent`
// receives, or a recorded JSONL stream of them), keeping only what changes.
import type { EngineEvent, OpType, PropertyDiff, StepEventMetadata } from "@pulumi/pulumi/automation";

/** What happens to one resource, after folding a replacement's steps into one. */
export type ChangeOp = "create" | "update" | "replace" | "delete" | "import";

export interface DiffEntry {
    path: string;
    /** add, update, delete, or the same with "-replace" when the change forces a replacement. */
    kind: string;
}

export interface Component {
    /** A `cytomine:<module>:<Type>` token. */
    type: string;
    /** The instance name; undefined when the events did not reveal which instance it is. */
    name?: string;
}

export interface ChangedResource {
    urn: string;
    type: string;
    name: string;
    op: ChangeOp;
    /** The nearest `cytomine:` component around the resource (the resource itself if it is one). */
    component?: Component;
    /** Property paths that force the replacement (replace only; empty when the provider gave none). */
    replaceReasons: string[];
    diffs: DiffEntry[];
    protect: boolean;
    retainOnDelete: boolean;
    /** Why the resource counts as holding data: its type, or its protect flag. */
    stateful?: "type" | "protected";
    /** A replacement that deletes the old resource before creating the new one. */
    deleteFirst: boolean;
}

export interface PolicyViolation {
    pack: string;
    packVersion: string;
    policy: string;
    /** mandatory, advisory, remediate or disabled (the engine's names; typings say "warning"). */
    level: string;
    urn?: string;
    /** The policy's description (first line of the engine's message). */
    description: string;
    /** The violation itself (the rest of the message). */
    detail: string;
}

export interface Diagnostic {
    severity: "error" | "warning" | "info";
    urn?: string;
    message: string;
}

export interface PreviewModel {
    stack?: string;
    project?: string;
    /** The engine's own counts (summary event) or, without one, counts of `changes`. */
    counts: Partial<Record<OpType, number>>;
    /** False when the stream had no summary event (a preview that failed early). */
    complete: boolean;
    changes: ChangedResource[];
    policies: PolicyViolation[];
    diagnostics: Diagnostic[];
    /** Config as the prelude event gives it (secret values already "[secret]"). */
    config: Record<string, string>;
    /** Stack outputs as the root stack's last event gives them (raw: blind before showing). */
    outputs: Record<string, unknown>;
    policyPacks: Record<string, string>;
}

/** Types whose replacement or deletion loses data, protected or not. */
export const STATEFUL_TYPES: ReadonlySet<string> = new Set([
    "keycloak:index/realm:Realm",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "aws:ebs/volume:Volume",
]);

const COMPONENT_PREFIX = "cytomine:";
const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

export interface ParsedUrn {
    stack: string;
    project: string;
    /** The resource's own type (last `$` segment). */
    type: string;
    /** Parent types first, then the resource's own (`$`-separated in the URN). */
    typeChain: string[];
    name: string;
}

/** `urn:pulumi:<stack>::<project>::<parent$...$type>::<name>`; names may contain "::". */
export function parseUrn(urn: string): ParsedUrn {
    const parts = urn.replace(/^urn:pulumi:/, "").split("::");
    const typeChain = (parts[2] ?? "").split("$");
    return {
        stack: parts[0] ?? "",
        project: parts[1] ?? "",
        type: typeChain[typeChain.length - 1] ?? "",
        typeChain,
        name: parts.slice(3).join("::"),
    };
}

// ANSI colour codes (the engine strips them from diagnostics, but not from every event).
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[mK]`, "g");

/** The engine's colour directives (`<{%reset%}>`, `<{%fg 12%}>`), left in messages sent as "raw". */
export function stripColors(s: string): string {
    return s.replace(/<\{%[^%]*%\}>/g, "").replace(ANSI, "");
}

// Steps of one replacement (create-replacement, replace, delete-replaced, in either order) fold into
// "replace"; reads, refreshes and discards change nothing in the cloud.
const OP_OF: Partial<Record<OpType, ChangeOp>> = {
    create: "create",
    update: "update",
    delete: "delete",
    replace: "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    import: "import",
    "import-replacement": "replace",
};

// Default providers are internal steps: the engine leaves them out of its own summary.
function isDefaultProvider(type: string, name: string): boolean {
    return type.startsWith("pulumi:providers:") && name.startsWith("default");
}

interface Pending {
    urn: string;
    ops: OpType[];
    meta: StepEventMetadata[];
}

/** Reads the engine events of one preview into the report's model. */
export function collectPreview(events: Iterable<EngineEvent>): PreviewModel {
    const parents = new Map<string, string>();
    const steps = new Map<string, Pending>();
    const policies: PolicyViolation[] = [];
    const diagnostics: Diagnostic[] = [];
    const seenDiag = new Set<string>();
    let config: Record<string, string> = {};
    let outputs: Record<string, unknown> = {};
    let counts: Partial<Record<OpType, number>> | undefined;
    let policyPacks: Record<string, string> = {};
    let stack: string | undefined;
    let project: string | undefined;

    const noteState = (meta: StepEventMetadata) => {
        for (const s of [meta.old, meta.new]) if (s?.parent) parents.set(s.urn || meta.urn, s.parent);
        if (stack === undefined || meta.type === ROOT_STACK_TYPE) {
            const p = parseUrn(meta.urn);
            stack = p.stack;
            project = p.project;
        }
        if (meta.type === ROOT_STACK_TYPE) {
            if (meta.new?.outputs && Object.keys(meta.new.outputs).length > 0) outputs = meta.new.outputs;
        }
    };

    for (const e of events) {
        if (e.preludeEvent) {
            config = { ...e.preludeEvent.config };
        } else if (e.resourcePreEvent) {
            const meta = e.resourcePreEvent.metadata;
            noteState(meta);
            if (!OP_OF[meta.op]) continue;
            const { type, name } = parseUrn(meta.urn);
            if (isDefaultProvider(type, name)) continue;
            const p = steps.get(meta.urn) ?? { urn: meta.urn, ops: [], meta: [] };
            p.ops.push(meta.op);
            p.meta.push(meta);
            steps.set(meta.urn, p);
        } else if (e.resOutputsEvent) {
            noteState(e.resOutputsEvent.metadata);
        } else if (e.policyEvent) {
            const pe = e.policyEvent;
            const [description, ...rest] = stripColors(pe.message).trim().split("\n");
            policies.push({
                pack: pe.policyPackName,
                packVersion: pe.policyPackVersion,
                policy: pe.policyName,
                level: pe.enforcementLevel,
                urn: pe.resourceUrn || undefined,
                description: (description ?? "").trim(),
                detail: rest.join("\n").trim(),
            });
        } else if (e.diagnosticEvent) {
            const d = e.diagnosticEvent;
            // Ephemeral diagnostics are progress chatter the CLI overwrites. Debug ones (a severity the
            // typings omit) are the SDK's RPC log, which prints resource outputs with secrets decrypted.
            if (d.ephemeral || (d.severity as string) === "debug") continue;
            const severity = d.severity === "error" ? "error" : d.severity === "warning" ? "warning" : "info";
            const message = stripColors(d.message).trim();
            const key = `${severity}\0${d.urn ?? ""}\0${message}`;
            if (!message || seenDiag.has(key)) continue;
            seenDiag.add(key);
            diagnostics.push({ severity, urn: d.urn || undefined, message });
        } else if (e.summaryEvent) {
            counts = { ...e.summaryEvent.resourceChanges };
            // The Go struct has no JSON tag here: the wire name is PascalCase.
            const s = e.summaryEvent as unknown as { PolicyPacks?: Record<string, string>; policyPacks?: unknown };
            policyPacks = { ...(s.PolicyPacks ?? (s.policyPacks as Record<string, string> | undefined) ?? {}) };
        }
    }

    const changes = [...steps.values()].map((p) => toChange(p, parents));
    return {
        stack,
        project,
        counts: counts ?? countOps(changes),
        complete: counts !== undefined,
        changes,
        policies,
        diagnostics,
        config,
        outputs,
        policyPacks,
    };
}

function countOps(changes: ChangedResource[]): Partial<Record<OpType, number>> {
    const out: Partial<Record<OpType, number>> = {};
    for (const c of changes) out[c.op] = (out[c.op] ?? 0) + 1;
    return out;
}

function toChange(p: Pending, parents: Map<string, string>): ChangedResource {
    const { type, name } = parseUrn(p.urn);
    const folded = p.ops.map((o) => OP_OF[o] as ChangeOp);
    const op: ChangeOp = folded.includes("replace") ? "replace" : folded[folded.length - 1];

    // The logical step carries the diff; a replacement's "replace" step has the same keys as its
    // create-replacement, so the first step that has them wins.
    const withDiff = p.meta.find((m) => m.detailedDiff && Object.keys(m.detailedDiff).length > 0);
    const detailed: Record<string, PropertyDiff> = withDiff?.detailedDiff ?? {};
    let diffs: DiffEntry[] = Object.entries(detailed).map(([path, d]) => ({ path, kind: String(d.diffKind) }));
    if (diffs.length === 0) {
        // Providers without detailed diffs still name the changed top-level keys.
        const keys = new Set(p.meta.flatMap((m) => m.diffs ?? []));
        diffs = [...keys].map((path) => ({ path, kind: "update" }));
    }
    diffs.sort((a, b) => a.path.localeCompare(b.path));

    let replaceReasons: string[] = [];
    if (op === "replace") {
        replaceReasons = diffs.filter((d) => d.kind.endsWith("-replace")).map((d) => d.path);
        if (replaceReasons.length === 0) replaceReasons = [...new Set(p.meta.flatMap((m) => m.keys ?? []))].sort();
    }

    const states = p.meta.flatMap((m) => [m.old, m.new]).filter((s) => s !== undefined && s !== null);
    const protect = states.some((s) => s.protect === true);
    const retainOnDelete = states.some((s) => s.retainOnDelete === true);
    const stateful = STATEFUL_TYPES.has(type) ? "type" : protect ? "protected" : undefined;
    const parent = states.find((s) => s.parent)?.parent;

    return {
        urn: p.urn,
        type,
        name,
        op,
        component: componentOf(p.urn, type, name, parent, parents),
        replaceReasons,
        diffs,
        protect,
        retainOnDelete,
        stateful,
        deleteFirst: op === "replace" && p.ops[0] === "delete-replaced",
    };
}

function componentOf(
    urn: string,
    type: string,
    name: string,
    parent: string | undefined,
    parents: Map<string, string>,
): Component | undefined {
    if (type.startsWith(COMPONENT_PREFIX)) return { type, name };
    const seen = new Set<string>([urn]);
    for (let p = parent; p && !seen.has(p); p = parents.get(p)) {
        seen.add(p);
        const u = parseUrn(p);
        if (u.type.startsWith(COMPONENT_PREFIX)) return { type: u.type, name: u.name };
    }
    // The URN's type chain still names the component type when its instance is not in the events.
    const t = [...parseUrn(urn).typeChain].reverse().find((x) => x.startsWith(COMPONENT_PREFIX));
    return t ? { type: t } : undefined;
}
