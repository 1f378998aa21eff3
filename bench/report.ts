// Preview report generation for a 5,000-resource preview (the synthetic stream the tests use), next
// to the floor: reading the same JSONL events without rendering (parse and count). Prints figures,
// asserts nothing; the JSON beside it goes to .local/bench/report.json.
//   node --import tsx bench/report.ts [rounds]
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { buildReport, parseEventLines, secretsFromConfig, toJsonl } from "../apps/report";
import { SECRET_CONFIG, large } from "../test/fixtures/report/synthetic";

const ROUNDS = Number(process.argv[2] ?? 9);
const RESOURCES = 5000;

function ms(fn: () => unknown): number {
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0) / 1e6;
}

function stats(xs: number[]) {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    return { median: q(0.5), min: s[0], max: s[s.length - 1], p25: q(0.25), p75: q(0.75) };
}

function countKinds(events: EngineEvent[]): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const e of events) {
        const kind = Object.keys(e).find((k) => k !== "sequence" && k !== "timestamp") ?? "?";
        counts[kind] = (counts[kind] ?? 0) + 1;
    }
    return counts;
}

function main(): void {
    const events = large(RESOURCES);
    const jsonl = toJsonl(events);
    const secrets = secretsFromConfig(SECRET_CONFIG);
    const cases: { what: string; run: () => unknown }[] = [
        { what: "floor: parse JSONL + count events", run: () => countKinds(parseEventLines(jsonl)) },
        { what: "report: parse JSONL + build + scan", run: () => buildReport(parseEventLines(jsonl), { secrets }) },
        { what: "report from parsed events (build + scan)", run: () => buildReport(events, { secrets }) },
    ];
    // One warm-up round each: the first run pays for JIT compilation.
    for (const c of cases) c.run();
    const rows = cases.map((c) => ({ what: c.what, ms: Array.from({ length: ROUNDS }, () => ms(c.run)) }));
    const floor = stats(rows[0].ms).median;
    const sample = buildReport(events, { secrets });

    const fmt = (n: number) => n.toFixed(1).padStart(8);
    console.log(
        `Preview report, ${RESOURCES.toLocaleString("en-US")} changed resources, ${events.length.toLocaleString("en-US")} events ` +
            `(${(jsonl.length / 1e6).toFixed(1)} MB JSONL), ${ROUNDS} rounds, ${os.cpus().length} cores, Node ${process.version}`,
    );
    console.log(
        `comment ${sample.markdown.length.toLocaleString("en-US")} chars, full report ${sample.full.length.toLocaleString("en-US")} chars\n`,
    );
    console.log(`| ${"what".padEnd(42)} | median ms |   min ms |   max ms | p25–p75 ms        | × floor |`);
    console.log(`| ${"-".repeat(42)} | --------: | -------: | -------: | ----------------- | ------: |`);
    const out = rows.map((r) => {
        const s = stats(r.ms);
        const ratio = s.median / floor;
        console.log(
            `| ${r.what.padEnd(42)} | ${fmt(s.median)}  | ${fmt(s.min)} | ${fmt(s.max)} | ${`${s.p25.toFixed(1)}–${s.p75.toFixed(1)}`.padEnd(17)} | ${ratio.toFixed(1).padStart(7)} |`,
        );
        return { ...r, ...s, ratio };
    });

    const file = path.join(__dirname, "..", ".local", "bench", "report.json");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(
        file,
        JSON.stringify(
            {
                date: new Date().toISOString(),
                node: process.version,
                cores: os.cpus().length,
                resources: RESOURCES,
                events: events.length,
                jsonlBytes: jsonl.length,
                commentChars: sample.markdown.length,
                fullChars: sample.full.length,
                rounds: ROUNDS,
                rows: out,
            },
            null,
            2,
        ) + "\n",
    );
    console.log(`\n(JSON: ${path.relative(process.cwd(), file)})`);
}

main();
