// The operations on one tenant's stack through the Automation API, each in a workspace of its own:
// preview, up, refresh, drift (a refresh in preview mode: what differs between the live resources
// and the stack's state) and destroy (protected data kept unless asked). Engine events become
// progress; errors are reduced to the engine's diagnostics.
import { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { PROFILE_TYPE } from "../../components/identity/profile";
import { PROJECT } from "../../program/config";
import { keepBackupKey, purgeBackups } from "./backups";
import type { FleetContext } from "./context";
import type { DriftedResource, Executor, ExecutorContext, TenantOutcome } from "./runner";

export interface PulumiExecutorOptions {
    /** destroy: delete the protected data too (realms, volumes), lifting the protection first. */
    withData?: boolean;
    /** destroy --with-data: delete the tenant's backups too (kept otherwise, with their key). */
    purgeBackups?: boolean;
    /** Resource counts of the stacks before the run, for progress totals. */
    totals?: Record<string, number | undefined>;
}

/** Counts of planned or done operations other than "same". */
export function changesOf(summary: Record<string, number | undefined> | undefined): Record<string, number> {
    return Object.fromEntries(
        Object.entries(summary ?? {}).filter(([op, n]) => op !== "same" && (n ?? 0) > 0),
    ) as Record<string, number>;
}

// The Automation API reads the engine's events by tailing a file and stops at the command's exit, so
// under load the last events, the summary among them, can be lost (pulumi/pulumi#9269, #6768). The
// summary is the last event: when it is missing, the counts and drifted resources come from the
// CLI's output instead, which is complete.

const OUTPUT_OPS: Record<string, string> = {
    create: "create",
    created: "create",
    update: "update",
    updated: "update",
    delete: "delete",
    deleted: "delete",
    replace: "replace",
    replaced: "replace",
    import: "import",
    imported: "import",
};

/** The changes the CLI's "Resources:" block lists (`+ 3 to create`, `~ 1 to update`, `+-1 to replace`, …). */
export function changesFromOutput(stdout: string): Record<string, number> {
    const at = stdout.lastIndexOf("\nResources:\n");
    const changes: Record<string, number> = {};
    if (at < 0) return changes;
    for (const line of stdout.slice(at + "\nResources:\n".length).split("\n")) {
        if (!line.trim()) break;
        const m = /^\s*(?:\+-|-\+|[+~-])?\s*(\d+) (?:to )?(\w+)/.exec(line);
        const op = m && OUTPUT_OPS[m[2]];
        if (op && m) changes[op] = (changes[op] ?? 0) + Number(m[1]);
    }
    return changes;
}

/** The resources a refresh preview's output shows changing (`~  keycloak:index:Realm cytomine-realm update [diff: ~displayName]`). */
export function driftFromOutput(stdout: string): DriftedResource[] {
    const drifted: DriftedResource[] = [];
    const steps = stdout.split("\nResources:\n")[0];
    for (const line of steps.split("\n")) {
        const m =
            /^\s*(?:\+-|-\+|[+~-])\s+(\S+:\S+)\s+(\S+)\s+(update|delete|replace)(?:\s+\[diff: ([^\]]*)\])?\s*$/.exec(
                line,
            );
        if (!m) continue;
        const properties = m[4]
            ?.split(/,\s*/)
            .map((p) => p.replace(/^[-+~]+/, "").trim())
            .filter(Boolean);
        drifted.push({ urn: "", type: m[1], name: m[2], op: m[3], ...(properties?.length ? { properties } : {}) });
    }
    return drifted;
}

/** Follows a run's engine events: progress, drifted resources, error diagnostics. */
export class EventTracker {
    private readonly started = new Set<string>();
    private readonly finished = new Set<string>();
    readonly errors: string[] = [];
    /** What the program warned about (an upgrade, a setting to review): said in the run's summary. */
    readonly warnings: string[] = [];
    readonly drifted: DriftedResource[] = [];
    summary?: Record<string, number | undefined>;

    constructor(
        private readonly ctx: Pick<ExecutorContext, "progress" | "operation">,
        private readonly total?: number,
    ) {}

    on = (e: EngineEvent): void => {
        if (e.preludeEvent) this.ctx.progress({ phase: "running", total: this.total || undefined });
        const pre = e.resourcePreEvent?.metadata;
        if (pre) {
            this.started.add(pre.urn);
            this.report();
        }
        const out = e.resOutputsEvent?.metadata ?? e.resOpFailedEvent?.metadata;
        if (out) {
            this.finished.add(out.urn);
            if (this.ctx.operation === "drift" && e.resOutputsEvent && isDrift(out.op, out.diffs)) {
                this.drifted.push({
                    urn: out.urn,
                    type: out.type,
                    name: out.urn.split("::").pop() ?? out.urn,
                    op: out.op === "refresh" ? "update" : out.op,
                    ...(out.diffs?.length ? { properties: [...out.diffs] } : {}),
                });
            }
            this.report();
        }
        const diag = e.diagnosticEvent;
        if (diag && (diag.severity === "error" || diag.severity === "warning") && !diag.ephemeral) {
            // Colour codes, should a provider print them despite --color never.
            // eslint-disable-next-line no-control-regex
            const text = diag.message.replace(/\u001b\[[0-9;]*m/g, "").trim();
            if (text) (diag.severity === "error" ? this.errors : this.warnings).push(text);
        }
        if (e.summaryEvent) this.summary = e.summaryEvent.resourceChanges as Record<string, number>;
    };

    private report() {
        this.ctx.progress({
            done: this.finished.size,
            total: Math.max(this.total ?? 0, this.started.size) || undefined,
        });
    }

    /** The error to report: the engine's diagnostics, else the CLI's message. */
    failure(e: unknown): Error {
        if (this.errors.length > 0) return new Error(this.errors.join("\n"));
        const message = e instanceof Error ? e.message : String(e);
        const stderr = /stderr: ([\s\S]*?)(\nerr\?:|$)/.exec(message)?.[1]?.trim();
        return new Error(stderr || message);
    }
}

/** A refresh step whose outputs differ from the state (or whose resource is gone). */
function isDrift(op: string, diffs: readonly string[] | undefined): boolean {
    if (op === "same" || op === "read") return false;
    if (op === "refresh") return (diffs?.length ?? 0) > 0;
    return true;
}

export function pulumiExecutor(fleet: FleetContext, opts: PulumiExecutorOptions = {}): Executor {
    return (ctx) =>
        fleet.withWorkspace(async (ws) => {
            const stack = await Stack.select(ctx.tenant, ws);
            const events = new EventTracker(ctx, opts.totals?.[ctx.tenant]);
            const common = {
                color: "never" as const,
                onOutput: ctx.log,
                onError: ctx.log,
                onEvent: events.on,
                signal: ctx.signal,
            };
            try {
                const outcome = await operate(stack, ctx, common, events, opts, fleet);
                return events.warnings.length > 0 ? { ...outcome, warnings: [...new Set(events.warnings)] } : outcome;
            } catch (e) {
                throw events.failure(e);
            }
        });
}

async function operate(
    stack: Stack,
    ctx: ExecutorContext,
    common: {
        color: "never";
        onOutput: (s: string) => void;
        onError: (s: string) => void;
        onEvent: (e: EngineEvent) => void;
        signal: AbortSignal;
    },
    events: EventTracker,
    opts: PulumiExecutorOptions,
    fleet: FleetContext,
): Promise<TenantOutcome> {
    switch (ctx.operation) {
        case "preview": {
            const result = await stack.preview(common);
            return { changes: events.summary ? changesOf(events.summary) : changesFromOutput(result.stdout) };
        }
        case "up":
            return { changes: changesOf((await stack.up(common)).summary.resourceChanges) };
        case "refresh":
            return { changes: changesOf((await stack.refresh(common)).summary.resourceChanges) };
        case "drift": {
            const result = await stack.previewRefresh(common);
            return events.summary
                ? { changes: changesOf(events.summary), drifted: events.drifted }
                : { changes: changesFromOutput(result.stdout), drifted: driftFromOutput(result.stdout) };
        }
        case "destroy": {
            if (!opts.withData)
                return {
                    changes: changesOf(
                        (await stack.destroy({ ...common, excludeProtected: true })).summary.resourceChanges,
                    ),
                };
            // Deleting the data on purpose: both switches set (so a later `up` keeps it deletable), and
            // the held resources released in the state: protect cleared, as `pulumi state unprotect`
            // does, and retainOnDelete (which has no such command), except a realm's user profile's,
            // which goes with its realm. No `up`: a tenant destroyed before (its data kept) is not
            // rebuilt only to be destroyed, and an up targeting the held resources runs the whole
            // program around parents that are gone.
            // The backups outlive the tenant unless purged on purpose: their key moves into its config.
            if (opts.purgeBackups) {
                ctx.progress({ message: "deleting its backups" });
                ctx.log(`== ${await purgeBackups(fleet, ctx.tenant)}\n`);
            } else if (await keepBackupKey(stack))
                ctx.log(
                    `== the backups are kept, and their repository's key in the tenant's config (backupKey): ` +
                        `npm run tenant -- restore <tenant> --from ${ctx.tenant} reads them; --purge-backups deletes them\n`,
                );
            const held = await releaseHeldResources(stack);
            if (held > 0) {
                ctx.log(`== released ${held} protected or retained resource(s) for deletion\n`);
                await stack.setAllConfig({
                    [`${PROJECT}:allowRealmReplacement`]: { value: "true" },
                    [`${PROJECT}:allowVolumeDeletion`]: { value: "true" },
                });
                ctx.progress({ message: "destroying everything" });
            }
            return { changes: changesOf((await stack.destroy(common)).summary.resourceChanges) };
        }
    }
}

type HeldFlags = { urn: string; type: string; protect?: boolean; retainOnDelete?: boolean };

/** Resources destroy would refuse (protect) or leave behind (retainOnDelete) because of the data switches. */
const isHeld = (r: HeldFlags) => Boolean(r.protect || (r.retainOnDelete && r.type !== PROFILE_TYPE));

/** Clears protect and retainOnDelete of the held resources in the stack's state; how many were released. */
async function releaseHeldResources(stack: Stack): Promise<number> {
    const state = await stack.exportStack();
    const held = ((state.deployment?.resources ?? []) as HeldFlags[]).filter(isHeld);
    if (held.length === 0) return 0;
    for (const r of held) {
        r.protect = false;
        r.retainOnDelete = false;
    }
    await stack.importStack(state);
    return held.length;
}
