// npm run reliability: writes the reliability table in docs/measurements.md from what the tests recorded
// (test/support/reliability.ts, .local/reliability/cases.jsonl), between the markers
// <!-- reliability:begin --> and <!-- reliability:end -->, with the machine it ran on.
//   npm run reliability [-- --print]   (--print: show the table, leave docs/measurements.md as it is)
import * as fs from "node:fs";
import * as path from "node:path";
import * as prettier from "prettier";
import { type FamilySummary, machine, readCases, reliabilityDir, summarize } from "./reliability";
import { repoRoot } from "../../toolchain/index";

const BEGIN = "<!-- reliability:begin -->";
const END = "<!-- reliability:end -->";
/** The file holding the markers, relative to the repository's root. */
const TARGET = "docs/measurements.md";

function table(families: FamilySummary[], unreadable: number): string {
    const failing = families.flatMap((f) => f.failing.map((c) => `${f.family}: ${c}`));
    const total = (k: "cases" | "passed") => families.reduce((n, f) => n + f[k], 0);
    return [
        `Written by \`npm run reliability\` from the tests' own records (latest result of each case) on ` +
            `${machine()}, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.`,
        "",
        "| family | cases | passed | failing now | failed before passing (cases) | last run (UTC) |",
        "| --- | --- | --- | --- | --- | --- |",
        ...families.map(
            (f) =>
                `| ${f.family} | ${f.cases} | ${f.passed} | ${f.failing.length} | ${f.flaky.length} | ${f.last.slice(0, 16).replace("T", " ")} |`,
        ),
        `| **all** | **${total("cases")}** | **${total("passed")}** | | | |`,
        "",
        ...(failing.length ? ["Failing now:", "", ...failing.map((c) => `- ${c}`), ""] : []),
        ...(unreadable ? [`(${unreadable} unreadable record lines skipped)`, ""] : []),
    ].join("\n");
}

async function main(): Promise<number> {
    const { records, unreadable } = readCases();
    if (records.length === 0) {
        console.error(
            `no records in ${reliabilityDir()}: run the tests first (npm test, or one test file), then npm run reliability`,
        );
        return 1;
    }
    const text = table(summarize(records), unreadable);
    if (process.argv.includes("--print")) {
        console.log(text);
        return 0;
    }
    const target = path.join(repoRoot, TARGET);
    const current = fs.readFileSync(target, "utf8");
    const begin = current.indexOf(BEGIN);
    const end = current.indexOf(END);
    if (begin < 0 || end < begin) {
        console.error(`${TARGET} has no ${BEGIN} … ${END} markers: add them where the table belongs`);
        return 1;
    }
    const updated = `${current.slice(0, begin + BEGIN.length)}\n\n${text}\n${current.slice(end)}`;
    // Formatted as `npm run lint` checks it (prettier), so that writing the table keeps lint clean.
    const options = { ...(await prettier.resolveConfig(target)), filepath: target };
    fs.writeFileSync(target, await prettier.format(updated, options));
    console.log(`${TARGET}: reliability table written (${records.length} records)`);
    return 0;
}

void main().then((code) => (process.exitCode = code));
