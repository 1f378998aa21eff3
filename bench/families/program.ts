// program: the Node.js program alone (config parsing and resource registration) under
// pulumi.runtime.setMocks, no engine and no plugins: time and memory of one child process per run
// (bench/families/program-child.ts), against an empty mocked program (setMocks + one resource).
//   - the project's program (index.ts) for one tenant in render mode (config parsed by the schema);
//   - bench/fixtures/tenants' components (Cytomine + identity) for 0, 1 and 20 tenants.
// One warm-up round first (not kept). Time runs from before the Pulumi SDK is loaded (SDK and program modules load within it) to the
// last registration; TypeScript is compiled by tsx (esbuild), not type-checked as the engine's
// ts-node does.
import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { pulumiEnv, repoRoot } from "../../toolchain/index";
import { Row, Unit } from "../support/stats";
import type { ChildResult } from "./program-mocked";
import { Family, roundName, WARMUP } from "./types";

const run = promisify(execFile);

interface Subject {
    key: string;
    what: string;
    args: string[];
    floor?: string;
    resources?: number;
}

const SUBJECTS: Subject[] = [
    { key: "floor", what: "floor: empty mocked program, setMocks + one resource", args: ["floor"] },
    {
        key: "sdks",
        what: "SDKs and components loaded, providers only (0 tenants)",
        args: ["tenants", "0"],
        floor: "floor",
    },
    { key: "index", what: "project program (index.ts), 1 tenant, render mode", args: ["index"], floor: "floor" },
    { key: "tenants-1", what: "components, 1 tenant (Cytomine + identity)", args: ["tenants", "1"], floor: "floor" },
    { key: "tenants-20", what: "components, 20 tenants", args: ["tenants", "20"], floor: "tenants-1" },
];

const MEASURES: { suffix: string; label: string; unit: Unit; value: (r: ChildResult) => number }[] = [
    { suffix: "", label: "time", unit: "ms", value: (r) => r.seconds * 1000 },
    { suffix: "-rss", label: "peak RSS", unit: "MiB", value: (r) => r.maxRssMiB },
    { suffix: "-heap", label: "heap used at end", unit: "MiB", value: (r) => r.heapUsedMiB },
];

async function child(args: string[]): Promise<ChildResult> {
    const { stdout } = await run(
        process.execPath,
        ["--import", "tsx", path.join(repoRoot, "bench", "families", "program-child.ts"), ...args],
        // The plugin preflight of index.ts looks for the plugins where the toolchain put them.
        { cwd: repoRoot, env: { ...process.env, ...pulumiEnv() }, timeout: 300_000, maxBuffer: 2 ** 20 },
    );
    return JSON.parse(stdout.trim().split("\n").pop() ?? "") as ChildResult;
}

export const program: Family = {
    name: "program",
    summary: "the Node.js program alone under setMocks (time, peak RSS, heap) for 1 and 20 tenants vs an empty one",
    async run({ rounds, log }) {
        const rows = MEASURES.flatMap((m) =>
            SUBJECTS.map((s) => ({
                subject: s,
                measure: m,
                row: {
                    key: `${s.key}${m.suffix}`,
                    what: `${m.label}: ${s.what}`,
                    unit: m.unit,
                    samples: [] as number[],
                    floor: s.floor && `${s.floor}${m.suffix}`,
                } satisfies Row,
            })),
        );
        for (let r = WARMUP; r < rounds; r++) {
            const order = r % 2 === 0 ? SUBJECTS : [...SUBJECTS].reverse();
            for (const s of order) {
                const result = await child(s.args);
                s.resources = result.resources;
                if (r === WARMUP) continue;
                for (const x of rows.filter((x) => x.subject === s)) x.row.samples.push(x.measure.value(result));
            }
            log(`program: ${roundName(r)} done`);
        }
        const named = rows.map(({ subject, row }) => ({
            ...row,
            what: `${row.what} (${subject.resources} resources)`,
        }));
        return { family: "program", rows: named };
    },
};
