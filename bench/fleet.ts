// Fleet previews: the wall time of previewing 1, 5 and 20 tenants at parallelism 1 and 4, each
// tenant's own preview time, and the peak memory (RSS and PSS) of one worker (the CLI with its
// plugins, and in "process" mode its language host and program), beside the least ratio the
// machine's cores allow for the measured CPU time; for both places the programs can run (FleetOptions
// programs: each in its own process, or inline in this one, whose growth is then shared by the
// workers). Figures only, no assertions. Render-mode tenants (manifests written to files, nothing
// applied) on a temporary fleet with its own file:// backend, so nothing outside it is touched.
// Then the same previews as an operator runs them, the tenant CLI end to end (`npm run tenant --
// preview …`: its start, and inline the program's load, paid once per command), with the peak PSS of
// the whole command (CLI, program host, workers) per worker.
//   node --import tsx bench/fleet.ts [--rounds N]      (writes .local/bench/fleet.json)
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createRenderTenants, Fleet, type ProgramsMode } from "../apps/fleet";
import { descendants, processTable, pssBytes } from "../toolchain/processes";
import { repoRoot } from "../toolchain/index";
import { median } from "./support/stats";

const SIZES = [1, 5, 20];
const PARALLELISM = [1, 4];
/** "process" first: the inline rows' program host is measured from before it first loads the program. */
const MODES: ProgramsMode[] = ["process", "inline"];

/**
 * Peak memory of each process tree below this process, by its root (one per worker): resident (RSS,
 * what the worker would hold alone) and proportional (PSS: pages shared between workers, such as the
 * binaries' code, counted once across them, so the sum over workers is what they hold together).
 */
class MemorySampler {
    private readonly rssPeaks = new Map<number, number>();
    private readonly pssPeaks = new Map<number, number>();
    /** The largest single process of each kind (program name) seen inside a worker, RSS. */
    private readonly byCommand = new Map<string, number>();
    private peakTotal = 0;
    /** This process: the program host in "inline" mode. */
    private hostPss = 0;
    private readonly timer: NodeJS.Timeout;

    constructor(intervalMs = 250) {
        this.timer = setInterval(() => this.sample(), intervalMs);
    }

    private sample() {
        const table = processTable();
        this.hostPss = Math.max(this.hostPss, pssBytes(process.pid));
        const rss = new Map<number, number>();
        const pss = new Map<number, number>();
        for (const p of table.values()) {
            // The worker a process belongs to: its ancestor that is a direct child of this process.
            let root = p;
            while (root.ppid !== process.pid && table.has(root.ppid)) root = table.get(root.ppid)!;
            // Workers are the CLI's process trees (this process's own helpers, e.g. tsx's esbuild, are not).
            if (root.ppid !== process.pid || root.name !== "pulumi") continue;
            rss.set(root.pid, (rss.get(root.pid) ?? 0) + p.rssBytes);
            pss.set(root.pid, (pss.get(root.pid) ?? 0) + pssBytes(p.pid));
            this.byCommand.set(p.name, Math.max(this.byCommand.get(p.name) ?? 0, p.rssBytes));
        }
        let total = 0;
        for (const [root, bytes] of rss) {
            this.rssPeaks.set(root, Math.max(this.rssPeaks.get(root) ?? 0, bytes));
            this.pssPeaks.set(root, Math.max(this.pssPeaks.get(root) ?? 0, pss.get(root) ?? 0));
            total += bytes;
        }
        this.peakTotal = Math.max(this.peakTotal, total);
    }

    stop(): {
        perWorker: number[];
        perWorkerPss: number[];
        total: number;
        hostPss: number;
        byCommand: Record<string, number>;
    } {
        clearInterval(this.timer);
        return {
            hostPss: this.hostPss,
            perWorker: [...this.rssPeaks.values()],
            perWorkerPss: [...this.pssPeaks.values()],
            total: this.peakTotal,
            byCommand: Object.fromEntries(this.byCommand),
        };
    }
}

/** USER_HZ: /proc/stat counts in 1/100 s on Linux (proc(5)). */
const TICKS_PER_SECOND = 100;

/** Busy and total CPU time of the whole machine so far (/proc/stat, clock ticks). */
function cpuTicks(): { busy: number; total: number } {
    const [, ...values] = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = values.map(Number);
    const busy = user + nice + system + irq + softirq + steal;
    return { busy, total: busy + idle + iowait };
}

const mib = (b: number) => b / 2 ** 20;

interface Row {
    programs: ProgramsMode;
    tenants: number;
    parallel: number;
    wallS: number[];
    tenantS: number[];
    workerPeakMiB: number[];
    workerPeakPssMiB: number[];
    totalPeakMiB: number[];
    /** inline: what this process (the program host) grew by since before it loaded the program, PSS. */
    hostGrowthMiB: number[];
    /** Share of the machine's CPU time that was busy during the run (1 = every core, all the time). */
    cpuBusy: number[];
    /** The machine's busy CPU seconds during the run, per tenant. */
    cpuPerTenantS: number[];
    /** Peak of the largest process of each kind within a worker, MiB. */
    processPeakMiB: Record<string, number>;
    failed: number;
}

/** The rows of one place for the programs: 1, 5 and 20 tenants at each parallelism. */
async function measure(dir: string, programs: ProgramsMode, rounds: number): Promise<Row[]> {
    const fleet = new Fleet({ dir, programs });
    const names = fleet.ctx.tenantNames();
    const hostBefore = pssBytes(process.pid);
    // One untimed preview first: the first run of a program pays for cold caches (ts-node's compile
    // cache, the plugins' binaries, inline: loading the program), which would inflate the one-tenant
    // base of the ratios.
    await fleet.runOperation("preview", names.slice(0, 1), { parallel: 1 });
    const rows: Row[] = [];
    for (const tenants of SIZES)
        for (const parallel of PARALLELISM) {
            if (tenants === 1 && parallel > 1) continue; // the same run as parallelism 1
            const row: Row = {
                programs,
                tenants,
                parallel,
                wallS: [],
                tenantS: [],
                workerPeakMiB: [],
                workerPeakPssMiB: [],
                totalPeakMiB: [],
                hostGrowthMiB: [],
                cpuBusy: [],
                cpuPerTenantS: [],
                processPeakMiB: {},
                failed: 0,
            };
            for (let round = 0; round < rounds; round++) {
                const sampler = new MemorySampler();
                const cpu0 = cpuTicks();
                const report = await fleet.runOperation("preview", names.slice(0, tenants), { parallel });
                const cpu1 = cpuTicks();
                const memory = sampler.stop();
                row.cpuBusy.push((cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total));
                row.cpuPerTenantS.push((cpu1.busy - cpu0.busy) / TICKS_PER_SECOND / tenants);
                for (const [name, bytes] of Object.entries(memory.byCommand))
                    row.processPeakMiB[name] = Math.max(row.processPeakMiB[name] ?? 0, mib(bytes));
                row.wallS.push(report.durationMs / 1000);
                row.tenantS.push(...report.tenants.map((t) => t.durationMs / 1000));
                row.workerPeakMiB.push(...memory.perWorker.map(mib));
                row.workerPeakPssMiB.push(...memory.perWorkerPss.map(mib));
                row.totalPeakMiB.push(mib(memory.total));
                row.hostGrowthMiB.push(programs === "inline" ? mib(Math.max(0, memory.hostPss - hostBefore)) : 0);
                row.failed += report.tenants.filter((t) => t.result === "failed").length;
                console.error(
                    `  · ${programs}: ${tenants} tenant(s) at parallel ${parallel}: ${(report.durationMs / 1000).toFixed(1)} s`,
                );
            }
            rows.push(row);
        }
    return rows;
}

interface CommandRow {
    programs: ProgramsMode;
    tenants: number;
    parallel: number;
    wallS: number[];
    /** Peak PSS of the command's whole process tree, over `parallel`. */
    perWorkerPssMiB: number[];
}

/** A Markdown table, its columns padded to their widest cell. */
function markdownTable(head: string[], rows: string[][]): string {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
    return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Runs the tenant CLI; resolves with its wall time and the peak PSS of its process tree. */
function tenantCommand(args: string[]): Promise<{ wallS: number; peakPss: number }> {
    return new Promise((resolve, reject) => {
        const start = Date.now();
        const child = spawn(process.execPath, ["--import", "tsx", "cli/tenant.ts", ...args], {
            cwd: repoRoot,
            stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        let peakPss = 0;
        const timer = setInterval(() => {
            if (child.pid === undefined) return;
            const tree = [child.pid, ...descendants(child.pid)];
            peakPss = Math.max(
                peakPss,
                tree.reduce((sum, pid) => sum + pssBytes(pid), 0),
            );
        }, 250);
        child.on("error", reject);
        child.on("close", (code) => {
            clearInterval(timer);
            // 2: changes found, which a preview of tenants never deployed reports.
            if (code !== 2) reject(new Error(`tenant ${args.join(" ")} exited ${code}: ${stderr.slice(-2000)}`));
            else resolve({ wallS: (Date.now() - start) / 1000, peakPss });
        });
    });
}

/** One tenant, and all twenty at parallel 4, through the tenant CLI, for each place of the programs. */
async function measureCommands(dir: string, names: string[], rounds: number): Promise<CommandRow[]> {
    const rows: CommandRow[] = [];
    for (const programs of MODES)
        for (const [tenants, parallel] of [
            [1, 1],
            [names.length, 4],
        ]) {
            const row: CommandRow = { programs, tenants, parallel, wallS: [], perWorkerPssMiB: [] };
            const targets = tenants === names.length ? ["--all"] : names.slice(0, tenants);
            for (let round = 0; round < rounds; round++) {
                const run = await tenantCommand([
                    "preview",
                    ...targets,
                    "--parallel",
                    String(parallel),
                    "--programs",
                    programs,
                    "--fleet-dir",
                    dir,
                ]);
                row.wallS.push(run.wallS);
                row.perWorkerPssMiB.push(mib(run.peakPss) / parallel);
                console.error(
                    `  · tenant preview (${programs}): ${tenants} at parallel ${parallel}: ${run.wallS.toFixed(1)} s`,
                );
            }
            rows.push(row);
        }
    return rows;
}

async function main() {
    const roundsArg = process.argv.indexOf("--rounds");
    const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 1;
    if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds takes a whole number of at least 1");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-bench-"));
    try {
        const count = Math.max(...SIZES);
        const t0 = Date.now();
        await createRenderTenants(
            new Fleet({ dir }),
            Array.from({ length: count }, (_, i) => `bench-${String(i).padStart(2, "0")}`),
            dir,
        );
        const createS = (Date.now() - t0) / 1000;
        console.error(`  · created ${count} render-mode tenants in ${createS.toFixed(1)} s (${dir})`);
        const rows: Row[] = [];
        for (const programs of MODES) rows.push(...(await measure(dir, programs, rounds)));
        const commands = await measureCommands(dir, new Fleet({ dir }).ctx.tenantNames(), rounds);

        const cores = os.cpus().length;
        /** Each mode's ratios are to its own one-tenant row. */
        const oneOf = (r: Row) => median(rows.find((o) => o.programs === r.programs && o.tenants === 1)!.wallS);
        /**
         * The least wall time this machine allows a row, as a multiple of one tenant's: the tenants'
         * measured CPU seconds spread over every core, or one tenant's time per batch of `parallel`,
         * whichever is longer. A ratio near it means the fleet adds no waiting of its own.
         */
        const bound = (r: Row) =>
            Math.max((r.tenants * median(r.cpuPerTenantS)) / cores, Math.ceil(r.tenants / r.parallel) * oneOf(r)) /
            oneOf(r);
        /** A worker's PSS with its share of the program host's growth (inline: the host serves `parallel` workers). */
        const withHost = (r: Row) => median(r.workerPeakPssMiB) + Math.max(...r.hostGrowthMiB) / r.parallel;
        const head = [
            "programs",
            "tenants",
            "parallel",
            "wall s",
            "× one tenant",
            "× floor here",
            "CPU busy",
            "CPU s/tenant",
            "s/tenant (median)",
            "tenants/min",
            "worker peak RSS MiB (median, max)",
            "worker peak PSS MiB (median, max)",
            "program host growth MiB",
            "worker PSS + host share MiB",
            "all workers peak MiB",
            "failed",
        ];
        const table = rows.map((r) => [
            r.programs,
            String(r.tenants),
            String(r.parallel),
            median(r.wallS).toFixed(1),
            `${(median(r.wallS) / oneOf(r)).toFixed(2)}×`,
            `${bound(r).toFixed(2)}×`,
            `${(100 * median(r.cpuBusy)).toFixed(0)} %`,
            median(r.cpuPerTenantS).toFixed(1),
            median(r.tenantS).toFixed(1),
            ((60 * r.tenants) / median(r.wallS)).toFixed(1),
            `${median(r.workerPeakMiB).toFixed(0)}, ${Math.max(...r.workerPeakMiB).toFixed(0)}`,
            `${median(r.workerPeakPssMiB).toFixed(0)}, ${Math.max(...r.workerPeakPssMiB).toFixed(0)}`,
            Math.max(...r.hostGrowthMiB).toFixed(0),
            withHost(r).toFixed(0),
            Math.max(...r.totalPeakMiB).toFixed(0),
            String(r.failed),
        ]);
        console.log(`\n== fleet: preview of render-mode tenants (${rounds} round(s), ${cores} cores)`);
        console.log(markdownTable(head, table));
        // What a worker is made of: the largest process of each kind seen in any worker, by mode.
        for (const programs of MODES) {
            const kinds: Record<string, number> = {};
            for (const r of rows.filter((o) => o.programs === programs))
                for (const [name, m] of Object.entries(r.processPeakMiB)) kinds[name] = Math.max(kinds[name] ?? 0, m);
            console.log(
                `${programs}: worker processes, peak RSS MiB: ${Object.entries(kinds)
                    .filter(([, m]) => m >= 5)
                    .sort((a, b) => b[1] - a[1])
                    .map(([name, m]) => `${name} ${m.toFixed(0)}`)
                    .join(" · ")}`,
            );
        }
        console.log(`\n== fleet: the same through the tenant CLI, end to end (${rounds} round(s))`);
        const commandHead = ["programs", "tenants", "parallel", "wall s", "× one tenant", "peak PSS per worker MiB"];
        const commandTable = commands.map((r) => {
            const one = median(commands.find((o) => o.programs === r.programs && o.tenants === 1)!.wallS);
            return [
                r.programs,
                String(r.tenants),
                String(r.parallel),
                median(r.wallS).toFixed(1),
                `${(median(r.wallS) / one).toFixed(2)}×`,
                median(r.perWorkerPssMiB).toFixed(0),
            ];
        });
        console.log(markdownTable(commandHead, commandTable));
        const out = path.join(repoRoot, ".local", "bench", "fleet.json");
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.writeFileSync(
            out,
            `${JSON.stringify(
                {
                    when: new Date().toISOString(),
                    machine: { cpus: os.cpus().length, memGiB: os.totalmem() / 2 ** 30, load: os.loadavg() },
                    createS,
                    rows,
                    commands,
                },
                null,
                2,
            )}\n`,
        );
        console.log(`(${out})`);
    } finally {
        // Nothing was deployed: the fleet directory, with its backend, is all there is.
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exitCode = 1;
});
