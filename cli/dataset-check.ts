// Checks a Bigpicture dataset tree before Cytomine's PIMS imports it (the folder mounted as PIMS's
// DATASET_PATH, e.g. an sdafs mount):
//   npm run dataset:check -- <dir> [--json] [--archive]
// Exit codes: 0 no errors (warnings allowed), 1 errors, 2 usage.
import { type Problem, type Progress, type Report, validateTree } from "../domain/datasets";

const USAGE = "usage: npm run dataset:check -- <dir> [--json] [--archive]";
/** Below this many files a run takes a fraction of a second: no progress line. */
const PROGRESS_MIN_FILES = 2000;
/** Without a terminal (CI logs), one progress line per this many files. */
const PROGRESS_LOG_EVERY = 5000;

interface Args {
    dir: string;
    json: boolean;
    archive: boolean;
}

function parseArgs(argv: string[]): Args | string {
    const positional: string[] = [];
    let json = false;
    let archive = false;
    for (const a of argv) {
        if (a === "--json") json = true;
        else if (a === "--archive") archive = true;
        else if (a === "--") continue;
        else if (a.startsWith("-")) return `unknown option ${a}`;
        else positional.push(a);
    }
    if (positional.length === 0) return "missing <dir>: the folder that holds the {DATASET_UUID} folders";
    if (positional.length > 1) return `one <dir> expected, got ${positional.length}`;
    return { dir: positional[0], json, archive };
}

function formatBytes(n: number): string {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
    }
    return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

function line(p: Problem): string {
    return `${p.path}: ${p.message} (fix: ${p.fix}) [${p.code}]`;
}

function formatReport(r: Report): string {
    const out: string[] = [];
    for (const severity of ["error", "warning"] as const) {
        const ps = r.problems.filter((p) => p.severity === severity);
        if (ps.length === 0) continue;
        out.push(`${severity === "error" ? "Errors" : "Warnings"} (${ps.length}):`);
        for (const p of ps) out.push(`  ${line(p)}`);
        out.push("");
    }
    const s = r.summary;
    out.push(
        `${r.root}: ${plural(s.datasets, "dataset")}, ${plural(s.images, "image")}, ${plural(s.files, "file")}, ` +
            `${formatBytes(s.bytes)}; ${plural(s.errors, "error")}, ${plural(s.warnings, "warning")} ` +
            `(${(s.durationMs / 1000).toFixed(2)} s)`,
    );
    out.push(r.ok ? "OK: ready for import" : "NOT OK: fix the errors above before importing");
    return out.join("\n");
}

function progressReporter(): (p: Progress) => void {
    const tty = process.stderr.isTTY === true;
    let lastDraw = 0;
    let lastLogged = 0;
    return (p) => {
        if (p.filesTotal < PROGRESS_MIN_FILES) return;
        const done = p.filesDone === p.filesTotal;
        const text = `checked ${p.filesDone}/${p.filesTotal} files (${formatBytes(p.bytes)})`;
        if (tty) {
            const now = Date.now();
            if (!done && now - lastDraw < 100) return;
            lastDraw = now;
            process.stderr.write(`\r${text}${done ? "\n" : ""}`);
        } else if (done || p.filesDone - lastLogged >= PROGRESS_LOG_EVERY) {
            lastLogged = p.filesDone;
            process.stderr.write(`${text}\n`);
        }
    };
}

async function main(): Promise<number> {
    const args = parseArgs(process.argv.slice(2));
    if (typeof args === "string") {
        process.stderr.write(`${args}\n${USAGE}\n`);
        return 2;
    }
    const report = await validateTree(args.dir, {
        mode: args.archive ? "archive" : "import",
        onProgress: progressReporter(),
    });
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    return report.ok ? 0 : 1;
}

if (require.main === module) {
    main().then(
        (code) => {
            process.exitCode = code;
        },
        (e: unknown) => {
            process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
            process.exitCode = 1;
        },
    );
}
