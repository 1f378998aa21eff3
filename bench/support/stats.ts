// Figures of a benchmark family: samples per row, median and spread (min–max), the ratio of a row's
// median to its floor's median (computed in the same run), a printed table, and the JSON written to
// .local/bench/<family>.json with the machine it ran on.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Breakdown } from "./engine";

export type Unit = "s" | "ms" | "MiB";

export interface Row {
    /** Stable id, referenced by other rows' `floor`. */
    key: string;
    what: string;
    unit: Unit;
    samples: number[];
    /** Key of the row this one is divided by (its floor). */
    floor?: string;
}

/** A resource's time between the engine's resourcePreEvent and its resOutputsEvent, over rounds. */
export interface SlowResource {
    /** type::name */
    resource: string;
    op: string;
    /** Median over the rounds that touched it, in seconds (times the events were received). */
    medianS: number;
    maxS: number;
    /** The same, from the engine's own event timestamps (whole seconds). */
    engineMedianS: number;
    rounds: number;
}

export interface FamilyResult {
    family: string;
    rows: Row[];
    /** Where the engine's time went, by scenario (e.g. "first up, Cytomine component"). */
    breakdown?: Record<string, Breakdown>;
    notes?: string[];
}

export function median(xs: readonly number[]): number {
    if (xs.length === 0) return NaN;
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function spread(xs: readonly number[]): { min: number; max: number } {
    return { min: Math.min(...xs), max: Math.max(...xs) };
}

/** median(row) / median(floor), or undefined when the row has no floor (or it is missing or zero). */
export function ratioOf(row: Row, rows: readonly Row[]): number | undefined {
    if (!row.floor) return undefined;
    const floor = rows.find((r) => r.key === row.floor);
    if (!floor || floor.samples.length === 0 || row.samples.length === 0) return undefined;
    const f = median(floor.samples);
    return f > 0 ? median(row.samples) / f : undefined;
}

/** Seconds since t0 (process.hrtime.bigint()). */
export function secondsSince(t0: bigint): number {
    return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Runs fn and returns its wall time in seconds. */
export async function time(fn: () => Promise<unknown>): Promise<number> {
    const t0 = process.hrtime.bigint();
    await fn();
    return secondsSince(t0);
}

const digits: Record<Unit, (x: number) => string> = {
    s: (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1)),
    ms: (x) => (x < 100 ? x.toFixed(1) : x.toFixed(0)),
    MiB: (x) => x.toFixed(0),
};

const pad = (cells: string[], widths: number[], right: boolean[]) =>
    cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ");

/** The family's rows as a text table: key, median, spread, runs, ratio to the floor and the floor's key. */
export function formatTable(rows: readonly Row[]): string {
    const header = ["key", "benchmark", "median", "min–max", "n", "× floor", "floor"];
    const right = [false, false, true, true, true, true, false];
    const body = rows.map((r) => {
        const f = digits[r.unit];
        const { min, max } = spread(r.samples);
        const ratio = ratioOf(r, rows);
        return [
            r.key,
            r.what,
            `${f(median(r.samples))} ${r.unit}`,
            r.samples.length > 1 ? `${f(min)}–${f(max)}` : "",
            String(r.samples.length),
            ratio === undefined ? "" : `${ratio.toFixed(2)}×`,
            r.floor ?? "",
        ];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const lines = [pad(header, widths, right).trimEnd(), widths.map((w) => "-".repeat(w)).join("  ")];
    for (const b of body) lines.push(pad(b, widths, right).trimEnd());
    return lines.join("\n");
}

/** A scenario's slowest resource operations and its phases. */
export function formatBreakdown(scenario: string, b: Breakdown): string {
    const lines = [`${scenario}:`];
    const phases = Object.entries(b.phases).map(([p, x]) => `${p} ${x.toFixed(2)}`);
    lines.push(`  phases (median s): ${phases.length ? phases.join(" · ") : "(no events)"}`);
    lines.push("  slowest resources (median s from resourcePreEvent to resOutputsEvent; engine clock in whole s):");
    if (b.slowest.length === 0) lines.push("    (no resource events)");
    for (const s of b.slowest) {
        lines.push(
            `    ${s.medianS.toFixed(2).padStart(6)} s  (max ${s.maxS.toFixed(2)}, engine ${s.engineMedianS.toFixed(0)})  ${s.op.padEnd(7)} ${s.resource}`,
        );
    }
    return lines.join("\n");
}

export function machine() {
    const cpus = os.cpus();
    return {
        cores: cpus.length,
        cpu: cpus[0]?.model ?? "unknown",
        memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
        node: process.version,
        platform: `${os.platform()} ${os.release()}`,
        /** 1, 5 and 15 minute load averages when the figures were written: other work skews them. */
        loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    };
}

/** The family's figures as JSON (rows with their samples, medians, spreads and ratios). */
export function toJson(result: FamilyResult, rounds: number, date = new Date()) {
    return {
        family: result.family,
        date: date.toISOString(),
        machine: machine(),
        rounds,
        rows: result.rows.map((r) => {
            const { min, max } = spread(r.samples);
            return {
                key: r.key,
                what: r.what,
                unit: r.unit,
                median: median(r.samples),
                min,
                max,
                floor: r.floor ?? null,
                ratio: ratioOf(r, result.rows) ?? null,
                samples: r.samples,
            };
        }),
        breakdown: result.breakdown ?? {},
        notes: result.notes ?? [],
    };
}

export function writeJson(dir: string, result: FamilyResult, rounds: number): string {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${result.family}.json`);
    fs.writeFileSync(file, `${JSON.stringify(toJson(result, rounds), null, 2)}\n`);
    return file;
}
