// Benchmarks that print figures, never assertions: each family runs several rounds, prints a table
// (median, min–max, ratio to its floor computed in this run) and writes .local/bench/<family>.json
// with the machine it ran on. What each family measures and its floor: bench/README.md.
//   npm run bench [-- --only identity,preview] [--rounds 5]
import * as path from "node:path";
import { repoRoot } from "../toolchain/index";
import { backups } from "./families/backups";
import { env } from "./families/env";
import { identity } from "./families/identity";
import { kubernetes } from "./families/kubernetes";
import { stopEngineEnvironment } from "./families/localenv";
import { preview } from "./families/preview";
import { program } from "./families/program";
import type { Family } from "./families/types";
import { vm } from "./families/vm";
import { formatBreakdown, formatTable, machine, writeJson } from "./support/stats";

export const FAMILIES: Family[] = [env, identity, preview, kubernetes, program, vm, backups];

export interface Options {
    only: string[];
    rounds: number;
}

export function parseArgs(argv: string[]): Options {
    const opts: Options = { only: [], rounds: 5 };
    for (let i = 0; i < argv.length; i++) {
        const [flag, inline] = argv[i].split("=", 2) as [string, string | undefined];
        const value = () => inline ?? argv[++i];
        if (flag === "--only") opts.only.push(...(value() ?? "").split(",").filter(Boolean));
        else if (flag === "--rounds") {
            const n = Number(value());
            if (!Number.isInteger(n) || n < 1) throw new Error("--rounds takes a whole number of at least 1");
            opts.rounds = n;
        } else if (flag === "--help" || flag === "-h") {
            throw new Error(usage());
        } else throw new Error(`unknown argument ${argv[i]}\n${usage()}`);
    }
    const unknown = opts.only.filter((n) => !FAMILIES.some((f) => f.name === n));
    if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(", ")}\n${usage()}`);
    return opts;
}

function usage(): string {
    return [
        "usage: npm run bench -- [--only <name>[,<name>…]] [--rounds N]   (default: every family, 5 rounds)",
        ...FAMILIES.map((f) => `  ${f.name.padEnd(11)} ${f.summary}`),
    ].join("\n");
}

async function main(): Promise<number> {
    const opts = parseArgs(process.argv.slice(2));
    const selected = FAMILIES.filter((f) => opts.only.length === 0 || opts.only.includes(f.name));
    const outDir = path.join(repoRoot, ".local", "bench");
    let failed = 0;
    for (const family of selected) {
        console.log(`\n== ${family.name}: ${family.summary} (${opts.rounds} rounds)`);
        try {
            const result = await family.run({ rounds: opts.rounds, log: (msg) => console.error(`  · ${msg}`) });
            console.log(formatTable(result.rows));
            for (const [scenario, b] of Object.entries(result.breakdown ?? {}))
                console.log(formatBreakdown(scenario, b));
            for (const note of result.notes ?? []) console.log(`note: ${note}`);
            const file = writeJson(outDir, result, opts.rounds);
            console.log(`wrote ${path.relative(process.cwd(), file)}`);
        } catch (e) {
            failed++;
            console.error(`${family.name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        }
    }
    await stopEngineEnvironment();
    const m = machine();
    console.log(
        `\n(${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}, load average ${m.loadAverage.join(" ")}, ${new Date().toISOString()})`,
    );
    return failed ? 1 : 0;
}

if (require.main === module) {
    main().then(
        (code) => process.exit(code),
        (e: unknown) => {
            console.error(e instanceof Error ? e.message : String(e));
            process.exit(2);
        },
    );
}
