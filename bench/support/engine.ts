// Where an engine run's time goes, from its events (Automation API onEvent):
//   - per resource: the time between its resourcePreEvent and its resOutputsEvent, by operation
//     (create, refresh, same…). In a preview a "same" step's events come back to back: its Check
//     and Diff happen before them, so no-op previews show ≈0 per resource and the phases below
//     say where the time goes;
//   - phases: CLI start until the prelude event, the refresh reads (preview --refresh), the
//     program's start until its first resource step (language host, TypeScript compile, provider
//     start-up), the resource steps (first to last), the rest until the CLI printed its last line
//     (`onOutput`), and what the Automation API does after the CLI exited (`up` reads the outputs
//     and the history with three more CLI runs; `pulumi up` itself does not).
// Two clocks: the time this process received each event (milliseconds, but late by up to the
// event-log poll interval of 200 ms) and the engine's own `timestamp` (whole seconds). Components
// and the stack are left out of the per-resource figures: their events span their children.
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { median, SlowResource, time } from "./stats";

export interface ResourceTiming {
    resource: string;
    op: string;
    seconds: number;
    engineSeconds: number;
}

export const PHASES = [
    "CLI start",
    "refresh reads",
    "until first step",
    "resource steps",
    "to the end",
    "Automation API after",
] as const;
export type Phase = (typeof PHASES)[number];

/** type::name of a URN (the last type of the chain), with the round's own names replaced. */
export function resourceKey(urn: string, normalize: (name: string) => string = (n) => n): string {
    const [, , typeChain = "", ...name] = urn.split("::");
    const type = typeChain.split("$").pop() ?? typeChain;
    return `${type}::${normalize(name.join("::"))}`;
}

const now = () => performance.now() / 1000;

/**
 * Records one engine run: create it right before the call, pass `onEvent` to up/preview, and call
 * `done()` when the call has returned.
 */
export class ResourceTimer {
    private readonly t0 = now();
    private readonly started = new Map<string, { at: number; ts: number; op: string }>();
    private readonly marks: Partial<
        Record<"prelude" | "firstRefresh" | "lastRefresh" | "firstStep" | "lastStep" | "cliEnd" | "end", number>
    > = {};
    /** By `<op> <resource>`. */
    readonly timings = new Map<string, ResourceTiming>();

    constructor(private readonly normalize: (name: string) => string = (n) => n) {}

    readonly onEvent = (e: EngineEvent): void => {
        const at = now();
        if (e.preludeEvent) this.marks.prelude ??= at;
        const pre = e.resourcePreEvent?.metadata;
        const done = e.resOutputsEvent?.metadata ?? e.resOpFailedEvent?.metadata;
        const step = pre ?? done;
        if (!step || !(step.new?.custom ?? step.old?.custom)) return;
        if (step.op === "refresh") {
            this.marks.firstRefresh ??= at;
            this.marks.lastRefresh = at;
        } else {
            this.marks.firstStep ??= at;
            this.marks.lastStep = at;
        }
        const id = `${step.op} ${step.urn}`;
        if (pre) {
            this.started.set(id, { at, ts: e.timestamp, op: pre.op });
            return;
        }
        const start = this.started.get(id);
        if (!start) return;
        this.started.delete(id);
        const resource = resourceKey(step.urn, this.normalize);
        this.timings.set(`${start.op} ${resource}`, {
            resource,
            op: start.op,
            seconds: at - start.at,
            engineSeconds: e.timestamp - start.ts,
        });
    };

    /** Pass as `onOutput`: the CLI's last line marks the end of the CLI run. */
    readonly onOutput = (): void => {
        this.marks.cliEnd = now();
    };

    done(): void {
        this.marks.end = now();
    }

    /** Seconds from the call until the CLI's last output (what `pulumi up` itself takes). */
    cliSeconds(): number | undefined {
        return this.marks.cliEnd === undefined ? undefined : this.marks.cliEnd - this.t0;
    }

    /** Seconds per phase (absent when the run had none, e.g. no refresh reads). */
    phases(): Partial<Record<Phase, number>> {
        const m = this.marks;
        const out: Partial<Record<Phase, number>> = {};
        if (m.prelude !== undefined) out["CLI start"] = m.prelude - this.t0;
        if (m.firstRefresh !== undefined && m.lastRefresh !== undefined)
            out["refresh reads"] = m.lastRefresh - m.firstRefresh;
        const programStart = m.lastRefresh ?? m.prelude;
        if (m.firstStep !== undefined && programStart !== undefined)
            out["until first step"] = m.firstStep - programStart;
        if (m.firstStep !== undefined && m.lastStep !== undefined) out["resource steps"] = m.lastStep - m.firstStep;
        const last = m.lastStep ?? m.lastRefresh;
        const cliEnd = m.cliEnd ?? m.end;
        if (cliEnd !== undefined && last !== undefined) out["to the end"] = cliEnd - last;
        if (m.cliEnd !== undefined && m.end !== undefined) out["Automation API after"] = m.end - m.cliEnd;
        return out;
    }
}

/**
 * One `up` of STACK, recorded by a new timer (resource names normalised by NORMALIZE): the call's
 * seconds, the CLI run's (the call less the Automation API's reads after it), and how many resources
 * it created.
 */
export async function timedUp(
    stack: Stack,
    normalize: (name: string) => string,
): Promise<{ seconds: number; cliSeconds: number; created: number; timer: ResourceTimer }> {
    const timer = new ResourceTimer(normalize);
    let created = 0;
    const seconds = await time(async () => {
        const r = await stack.up({ color: "never", onEvent: timer.onEvent, onOutput: timer.onOutput });
        timer.done();
        created = r.summary.resourceChanges?.create ?? 0;
    });
    return { seconds, cliSeconds: timer.cliSeconds() ?? seconds, created, timer };
}

/** The n resource operations with the longest median duration over the given runs. */
export function slowest(runs: readonly ResourceTimer[], n = 5): SlowResource[] {
    const byKey = new Map<string, { resource: string; op: string; s: number[]; engine: number[] }>();
    for (const run of runs) {
        for (const [key, t] of run.timings) {
            const entry = byKey.get(key) ?? { resource: t.resource, op: t.op, s: [], engine: [] };
            entry.s.push(t.seconds);
            entry.engine.push(t.engineSeconds);
            byKey.set(key, entry);
        }
    }
    return [...byKey.values()]
        .map((e) => ({
            resource: e.resource,
            op: e.op,
            medianS: median(e.s),
            maxS: Math.max(...e.s),
            engineMedianS: median(e.engine),
            rounds: e.s.length,
        }))
        .sort((a, b) => b.medianS - a.medianS)
        .slice(0, n);
}

/** One run's phases and slowest resource operation, for progress lines. */
export function runLine(run: ResourceTimer): string {
    const phases = Object.entries(run.phases()).map(([p, x]) => `${p} ${x.toFixed(1)}`);
    const [s] = slowest([run], 1);
    return `${phases.join(" · ")}; slowest ${s ? `${s.op} ${s.resource} ${s.medianS.toFixed(1)} s` : "none"}`;
}

/** Median seconds per phase over the given runs. */
export function medianPhases(runs: readonly ResourceTimer[]): Partial<Record<Phase, number>> {
    const out: Partial<Record<Phase, number>> = {};
    for (const phase of PHASES) {
        const xs = runs.map((r) => r.phases()[phase]).filter((x): x is number => x !== undefined);
        if (xs.length) out[phase] = median(xs);
    }
    return out;
}

/** Where a scenario's time went: its slowest resources and its phases. */
export interface Breakdown {
    slowest: SlowResource[];
    /** Median per phase (the medians need not add up to the median run). */
    phases: Partial<Record<Phase, number>>;
    /** Each run's phases. */
    runs: Partial<Record<Phase, number>>[];
}

export function breakdown(runs: readonly ResourceTimer[]): Breakdown {
    return { slowest: slowest(runs), phases: medianPhases(runs), runs: runs.map((r) => r.phases()) };
}
