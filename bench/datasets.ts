// Dataset validation against its floor, on a generated tree of 10,000 DICOM files (prints figures,
// never assertions):
//   - floor: a bare walk of the same tree that lists every folder, opens each file and reads its
//     header bytes (same prefix size, same concurrency), with no parsing or checks;
//   - the validator with its defaults (what `npm run dataset:check` runs);
//   - the validator with other concurrency and prefix sizes, the figures behind the defaults.
// Several rounds each (after one warm-up round), alternating floor and validator; median and spread.
// The page cache is warm (the tree was just written): this measures the validator's own cost, not
// the disk or an sdafs mount. The JSON lands in .local/bench/datasets.json.
//   npm run bench:datasets [-- --files 10000 --rounds 9 --sweep-rounds 5]
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DEFAULTS, validateTree, type ValidateOptions } from "../domain/datasets";
import { writeLargeTree } from "../test/support/dataset-fixtures";
import { readHeadBare } from "../domain/datasets/io";
import { forEachLimit, Limiter } from "../domain/datasets/pool";

interface Row {
    /** Stable id; `floor` names the row a ratio is taken against. */
    key: string;
    what: string;
    unit: "ms";
    /** Wall-clock time per round. */
    samples: number[];
    /** CPU time of the process per round (main thread and libuv's pool): steadier than wall time on a busy machine. */
    cpu: number[];
    floor?: string;
}

function arg(name: string, fallback: number): number {
    const i = process.argv.indexOf(`--${name}`);
    const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
    return Number.isFinite(v) && v > 0 ? v : fallback;
}

async function measure(row: Row, fn: () => Promise<unknown>): Promise<void> {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await fn();
    row.samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const cpu = process.cpuUsage(cpu0);
    row.cpu.push((cpu.user + cpu.system) / 1000);
}

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The floor: list every folder, then open + read the first `headerBytes` of every file + close. */
async function bareWalk(root: string, concurrency: number, headerBytes: number): Promise<number> {
    const limiter = new Limiter(concurrency);
    const files: string[] = [];
    const walk = async (dir: string): Promise<void> => {
        const entries = await limiter.run(() => fs.promises.readdir(dir, { withFileTypes: true }));
        await Promise.all(
            entries.map((e) =>
                e.isDirectory() ? walk(path.join(dir, e.name)) : void files.push(path.join(dir, e.name)),
            ),
        );
    };
    await walk(root);
    let bytes = 0;
    await forEachLimit(
        files,
        concurrency,
        () => new Uint8Array(headerBytes),
        async (f, buf) => {
            bytes += await readHeadBare(f, buf);
        },
    );
    return bytes;
}

async function main(): Promise<void> {
    const files = arg("files", 10_000);
    const rounds = arg("rounds", 9);
    const sweepRounds = arg("sweep-rounds", 5);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-datasets-"));
    try {
        const t0 = process.hrtime.bigint();
        await writeLargeTree(dir, files);
        const tGen = Number(process.hrtime.bigint() - t0) / 1e9;
        const check = await validateTree(dir);
        if (!check.ok) throw new Error(`generated tree is not valid: ${check.problems[0]?.message}`);
        const { summary } = check;
        console.log(
            `tree: ${summary.files} files (${summary.images} images in ${summary.datasets} datasets), ` +
                `${(summary.bytes / 2 ** 20).toFixed(1)} MiB, generated in ${tGen.toFixed(1)} s`,
        );

        const row = (key: string, what: string, floor?: string): Row => ({
            key,
            what,
            unit: "ms",
            samples: [],
            cpu: [],
            ...(floor ? { floor } : {}),
        });
        const floor = row("floor", "floor: walk + open/read header/close each file");
        const validator = row(
            "validate",
            `validateTree, defaults (concurrency ${DEFAULTS.concurrency}, header ${DEFAULTS.headerBytes / 1024} KiB)`,
            "floor",
        );
        const floorRun = () => bareWalk(dir, DEFAULTS.concurrency, DEFAULTS.headerBytes);
        // One warm-up round each (JIT, page cache, dentry cache), not recorded.
        await floorRun();
        await validateTree(dir);
        for (let r = 0; r < rounds; r++) {
            // Alternate which goes first, so neither always runs right after the other.
            if (r % 2 === 0) {
                await measure(floor, floorRun);
                await measure(validator, () => validateTree(dir));
            } else {
                await measure(validator, () => validateTree(dir));
                await measure(floor, floorRun);
            }
        }

        // The figures behind the defaults: other concurrency limits and prefix sizes.
        const variants: { key: string; what: string; opts: ValidateOptions }[] = [
            { key: "concurrency-1", what: "validateTree, concurrency 1", opts: { concurrency: 1 } },
            { key: "concurrency-4", what: "validateTree, concurrency 4", opts: { concurrency: 4 } },
            { key: "concurrency-64", what: "validateTree, concurrency 64", opts: { concurrency: 64 } },
            {
                key: "header-4k",
                what: "validateTree, header 4 KiB (smaller than the files: + fstat)",
                opts: { headerBytes: 4096 },
            },
            {
                key: "header-1m",
                what: "validateTree, header 1 MiB (the whole file here)",
                opts: { headerBytes: 2 ** 20 },
            },
        ];
        const sweep: Row[] = [];
        for (const v of variants) {
            const r = row(v.key, v.what, "floor");
            for (let i = 0; i < sweepRounds; i++) await measure(r, () => validateTree(dir, v.opts));
            sweep.push(r);
        }

        const rows = [floor, validator, ...sweep];
        const floorMs = median(floor.samples);
        const floorCpu = median(floor.cpu);
        const width = Math.max(...rows.map((r) => r.what.length));
        console.log(`${"benchmark".padEnd(width)}  median ms  min–max ms    ratio  cpu ms  cpu ratio  runs`);
        for (const r of rows) {
            const m = median(r.samples);
            const spread = `${Math.min(...r.samples).toFixed(0)}–${Math.max(...r.samples).toFixed(0)}`;
            console.log(
                [
                    r.what.padEnd(width),
                    m.toFixed(0).padStart(9),
                    spread.padStart(10),
                    `${(m / floorMs).toFixed(2)}×`.padStart(7),
                    median(r.cpu).toFixed(0).padStart(6),
                    `${(median(r.cpu) / floorCpu).toFixed(2)}×`.padStart(9),
                    String(r.samples.length).padStart(4),
                ].join("  "),
            );
        }
        const ratio = median(validator.samples) / floorMs;
        // Fastest against fastest: the least disturbed rounds, when other work shares the cores.
        const bestRatio = Math.min(...validator.samples) / Math.min(...floor.samples);
        const load = os.loadavg().map((l) => l.toFixed(1));
        console.log(
            `validator / floor: ${ratio.toFixed(2)}× wall (fastest rounds ${bestRatio.toFixed(2)}×), ` +
                `${(median(validator.cpu) / floorCpu).toFixed(2)}× cpu ` +
                `(target ≤ 2×); ${os.cpus().length} cores, load ${load.join(" ")}, node ${process.version}, warm page cache`,
        );

        const out = path.join(__dirname, "..", ".local", "bench", "datasets.json");
        fs.mkdirSync(path.dirname(out), { recursive: true });
        const result = {
            family: "datasets",
            date: new Date().toISOString(),
            machine: {
                cores: os.cpus().length,
                memGiB: Math.round(os.totalmem() / 2 ** 30),
                node: process.version,
                loadavg: os.loadavg(),
            },
            tree: { files: summary.files, images: summary.images, datasets: summary.datasets, bytes: summary.bytes },
            defaults: DEFAULTS,
            ratio,
            bestRatio,
            rows: rows.map((r) => ({
                ...r,
                median: median(r.samples),
                min: Math.min(...r.samples),
                max: Math.max(...r.samples),
                ratio: median(r.samples) / floorMs,
                cpuMedian: median(r.cpu),
                cpuRatio: median(r.cpu) / floorCpu,
            })),
        };
        fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
        console.log(`wrote ${path.relative(process.cwd(), out)}`);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
});
