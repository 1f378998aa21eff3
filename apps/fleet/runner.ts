// Runs one operation over many tenants with bounded parallelism. Each tenant's work is isolated: its
// failure (or exception) becomes its own result and never stops or touches the others. Progress is
// streamed per tenant; the run ends with one report (and an exit code) for all of them.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export const OPERATIONS = ["preview", "up", "refresh", "drift", "destroy"] as const;
export type Operation = (typeof OPERATIONS)[number];

/** Operations whose changes are a finding (exit code 2), not work done. */
export const DRY_RUNS: readonly Operation[] = ["preview", "drift"];

export type Phase = "queued" | "starting" | "running" | "done" | "changes" | "failed" | "cancelled";
export type Result = "ok" | "changes" | "failed" | "cancelled";

export interface ProgressEvent {
    tenant: string;
    operation: Operation;
    phase: Phase;
    /** Resources whose step finished. */
    done: number;
    /** Resources expected (the stack's last count until the program declared more), if known. */
    total?: number;
    elapsedMs: number;
    message?: string;
}

/** A resource whose live state differs from the stack's state (drift). */
export interface DriftedResource {
    /** Empty when read from the CLI's output (see operations.ts), which shows type and name only. */
    urn: string;
    type: string;
    name: string;
    /** What refreshing would do to the state: update, delete (gone), … */
    op: string;
    /** The properties that differ, when the provider says. */
    properties?: string[];
}

export interface TenantOutcome {
    /** Planned or done operations other than "same", by kind. */
    changes: Record<string, number>;
    drifted?: DriftedResource[];
    /** The program's warnings (e.g. an upgrade of the release, said at preview). */
    warnings?: string[];
}

export interface TenantResult extends TenantOutcome {
    tenant: string;
    operation: Operation;
    result: Result;
    error?: string;
    startedAt?: string;
    durationMs: number;
    logFile?: string;
}

export interface RunReport {
    runId: string;
    operation: Operation;
    startedAt: string;
    durationMs: number;
    parallel: number;
    exitCode: 0 | 1 | 2;
    tenants: TenantResult[];
}

export interface ExecutorContext {
    tenant: string;
    operation: Operation;
    /** Aborted when the running tenants are to stop: stop the tenant's CLI (it cancels gracefully on SIGINT). */
    signal: AbortSignal;
    /** Appends to the tenant's log. */
    log(text: string): void;
    progress(p: { phase?: Phase; done?: number; total?: number; message?: string }): void;
}

/** Does one tenant's part; throws to fail it (the message becomes the tenant's error). */
export type Executor = (ctx: ExecutorContext) => Promise<TenantOutcome>;

export interface RunOptions {
    /** Tenants at once (default 1, at most the number of tenants). */
    parallel?: number;
    onEvent?: (e: ProgressEvent) => void;
    /** Stops the run: queued tenants are not started (cancelled); running ones go on. */
    signal?: AbortSignal;
    /** Tells the running tenants to stop (through their executor's signal). */
    abortRunning?: AbortSignal;
    /** Where each tenant's log goes (none when undefined). */
    logFile?: (tenant: string, runId: string) => string | undefined;
    runId?: string;
}

export function newRunId(operation: Operation, now = new Date()): string {
    return `${now
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d+Z$/, "Z")}-${operation}-${crypto.randomBytes(2).toString("hex")}`;
}

const MAX_ERROR = 4000;

export async function runTenants(
    operation: Operation,
    tenants: readonly string[],
    execute: Executor,
    opts: RunOptions = {},
): Promise<RunReport> {
    const unique = [...new Set(tenants)];
    const parallel = Math.max(1, Math.min(Math.floor(opts.parallel ?? 1), unique.length || 1));
    const runId = opts.runId ?? newRunId(operation);
    const started = Date.now();
    const emit = (e: ProgressEvent) => {
        try {
            opts.onEvent?.(e);
        } catch {
            // A display that fails must not fail a tenant.
        }
    };
    for (const tenant of unique) emit({ tenant, operation, phase: "queued", done: 0, elapsedMs: 0 });

    const results: TenantResult[] = new Array(unique.length);
    let next = 0;
    const worker = async () => {
        for (let i = next++; i < unique.length; i = next++) {
            results[i] = await runOne(operation, unique[i], execute, opts, runId, emit);
        }
    };
    await Promise.all(Array.from({ length: parallel }, worker));

    return {
        runId,
        operation,
        startedAt: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        parallel,
        exitCode: exitCodeOf(operation, results),
        tenants: results,
    };
}

async function runOne(
    operation: Operation,
    tenant: string,
    execute: Executor,
    opts: RunOptions,
    runId: string,
    emit: (e: ProgressEvent) => void,
): Promise<TenantResult> {
    const start = Date.now();
    if (opts.signal?.aborted) {
        emit({ tenant, operation, phase: "cancelled", done: 0, elapsedMs: 0 });
        return {
            tenant,
            operation,
            result: "cancelled",
            changes: {},
            durationMs: 0,
            error: "the run was cancelled before it started",
        };
    }
    let logFile = opts.logFile?.(tenant, runId);
    let log: fs.WriteStream | undefined;
    if (logFile) {
        try {
            fs.mkdirSync(path.dirname(logFile), { recursive: true });
            log = fs.createWriteStream(logFile, { flags: "a", mode: 0o600 });
            log.on("error", () => undefined); // a log that cannot be written must not fail the tenant
        } catch {
            logFile = undefined;
        }
    }
    const state = { phase: "starting" as Phase, done: 0, total: undefined as number | undefined };
    const progress: ExecutorContext["progress"] = (p) => {
        if (p.phase) state.phase = p.phase;
        if (p.done !== undefined) state.done = p.done;
        if (p.total !== undefined) state.total = p.total;
        emit({ tenant, operation, ...state, elapsedMs: Date.now() - start, message: p.message });
    };
    const signal = opts.abortRunning ?? new AbortController().signal;
    progress({ phase: "starting" });
    let result: TenantResult;
    try {
        const outcome = await execute({ tenant, operation, signal, log: (t) => log?.write(t), progress });
        const found =
            DRY_RUNS.includes(operation) &&
            (operation === "drift" ? (outcome.drifted?.length ?? 0) > 0 : Object.keys(outcome.changes).length > 0);
        result = { tenant, operation, result: found ? "changes" : "ok", ...outcome, durationMs: 0 };
    } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        log?.write(`\n== ${operation} failed: ${message}\n`);
        result = {
            tenant,
            operation,
            result: signal.aborted ? "cancelled" : "failed",
            changes: {},
            error: message.length > MAX_ERROR ? `${message.slice(0, MAX_ERROR)}…` : message,
            durationMs: 0,
        };
    }
    if (log) await new Promise<void>((r) => log.end(r));
    result.startedAt = new Date(start).toISOString();
    result.durationMs = Date.now() - start;
    if (logFile) result.logFile = logFile;
    progress({ phase: result.result === "ok" ? "done" : result.result, message: result.error?.split("\n")[0] });
    return result;
}

/** 1 when a tenant failed or was cancelled, else 2 when a dry run found changes, else 0. */
export function exitCodeOf(operation: Operation, results: readonly TenantResult[]): 0 | 1 | 2 {
    if (results.some((r) => r.result === "failed" || r.result === "cancelled")) return 1;
    if (DRY_RUNS.includes(operation) && results.some((r) => r.result === "changes")) return 2;
    return 0;
}

/** The tenants a report says did not complete: what --retry-failed runs again. */
export function failedTenants(report: Pick<RunReport, "tenants">): string[] {
    return report.tenants.filter((t) => t.result === "failed" || t.result === "cancelled").map((t) => t.tenant);
}

/** Writes the report as <dir>/<runId>.json and <dir>/last-<operation>.json; returns the first. */
export function writeReport(dir: string, report: RunReport): string {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${report.runId}.json`);
    const text = `${JSON.stringify(report, null, 2)}\n`;
    fs.writeFileSync(file, text);
    const last = path.join(dir, `last-${report.operation}.json`);
    const tmp = `${last}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, last);
    return file;
}

export function readLastReport(dir: string, operation: Operation): RunReport | undefined {
    const file = path.join(dir, `last-${operation}.json`);
    return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as RunReport) : undefined;
}

/**
 * A failure's first lines, and after them the project's own messages further down (a step's
 * `cytomine-fallback: …` line naming the fix, such as an upgrade's rollback), which the engine's
 * output of the step would otherwise push out of sight.
 */
export function errorLines(error: string, head = 6): string[] {
    const lines = error.split("\n");
    return [...lines.slice(0, head), ...lines.slice(head).filter((l) => l.trim().startsWith("cytomine-fallback: "))];
}
