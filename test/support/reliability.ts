// The reliability record: tests note each case they tried (family, case, pass or fail) as one JSON line
// under .local/reliability/, and `npm run reliability` (test/support/reliability-table.ts) turns the latest
// result of every case into the table of docs/measurements.md. Tests write it, so the table is never typed by hand.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "../../toolchain/index";

export interface CaseRecord {
    family: string;
    case: string;
    pass: boolean;
    /** ISO time the case finished. */
    at: string;
    ms: number;
    /** The first line of the failure, when it failed. */
    error?: string;
}

/** CYTOMINE_RELIABILITY_DIR moves it (e.g. for a test of the recorder itself). */
export const reliabilityDir = () =>
    process.env.CYTOMINE_RELIABILITY_DIR ?? path.join(repoRoot, ".local", "reliability");

const casesFile = () => path.join(reliabilityDir(), "cases.jsonl");

export function recordCase(r: CaseRecord): void {
    fs.mkdirSync(reliabilityDir(), { recursive: true });
    // One appendFileSync per line: lines from concurrent test files do not interleave (O_APPEND).
    fs.appendFileSync(casesFile(), JSON.stringify(r) + "\n");
}

/**
 * Wraps a test function so that its outcome is recorded under FAMILY, the case named by the test
 * itself (node:test passes a context with `name`); the outcome is passed on unchanged.
 */
export function recorded<T extends { name: string }>(family: string, fn: (t: T) => unknown): (t: T) => Promise<void> {
    return async (t: T) => {
        const started = Date.now();
        const done = (pass: boolean, error?: string) =>
            recordCase({ family, case: t.name, pass, at: new Date().toISOString(), ms: Date.now() - started, error });
        try {
            await fn(t);
        } catch (e) {
            done(false, String((e as Error).message ?? e).split("\n")[0]);
            throw e;
        }
        done(true);
    };
}

/** Every record, oldest first; lines that do not parse are skipped and counted. */
export function readCases(): { records: CaseRecord[]; unreadable: number } {
    if (!fs.existsSync(casesFile())) return { records: [], unreadable: 0 };
    const records: CaseRecord[] = [];
    let unreadable = 0;
    for (const line of fs.readFileSync(casesFile(), "utf8").split("\n")) {
        if (!line.trim()) continue;
        try {
            records.push(JSON.parse(line) as CaseRecord);
        } catch {
            unreadable++;
        }
    }
    return { records, unreadable };
}

export interface FamilySummary {
    family: string;
    cases: number;
    passed: number;
    /** Cases whose latest result is a failure. */
    failing: string[];
    /** Cases that failed at least once before their latest pass. */
    flaky: string[];
    last: string;
}

/** Per family: the latest result of each case, and the cases that failed on the way. */
export function summarize(records: CaseRecord[]): FamilySummary[] {
    const byCase = new Map<string, CaseRecord[]>();
    for (const r of records) {
        const key = `${r.family}\u0000${r.case}`;
        byCase.set(key, [...(byCase.get(key) ?? []), r]);
    }
    const families = new Map<string, FamilySummary>();
    for (const runs of byCase.values()) {
        const latest = runs[runs.length - 1];
        const f = families.get(latest.family) ?? {
            family: latest.family,
            cases: 0,
            passed: 0,
            failing: [],
            flaky: [],
            last: "",
        };
        f.cases++;
        if (latest.pass) f.passed++;
        else f.failing.push(latest.case);
        if (latest.pass && runs.some((r) => !r.pass)) f.flaky.push(latest.case);
        if (latest.at > f.last) f.last = latest.at;
        families.set(latest.family, f);
    }
    return [...families.values()].sort((a, b) => a.family.localeCompare(b.family));
}

/** The machine a table came from: kernel, cores, memory. */
export function machine(): string {
    const gib = (os.totalmem() / 2 ** 30).toFixed(0);
    return `${os.type()} ${os.release()} ${os.machine()}, ${os.cpus().length} cores, ${gib} GiB memory`;
}
