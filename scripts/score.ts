// npm run score -- <dir>: kube-score (built by the toolchain, pinned) on rendered manifests. Fails on a
// CRITICAL finding that policies/kube-score.ts does not list with a reason.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { criticalFindings, Finding, KUBE_SCORE_EXCEPTIONS, unexcused } from "../lib/kube-score";
import { binDir } from "./lib/toolchain";

/** Every YAML file under dir (renderYamlToDirectory writes 0-crd/ and 1-manifest/). */
export function manifestFiles(dir: string): string[] {
    return fs
        .readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => path.join(dir, f))
        .sort();
}

export function score(dir: string): Finding[] {
    const files = manifestFiles(dir);
    if (files.length === 0) throw new Error(`no manifests under ${dir}: render them first (config renderDir)`);
    // kube-score exits 1 when it finds anything CRITICAL; its JSON report is what counts here.
    const args = ["score", "-o", "json", ...files];
    try {
        return criticalFindings(execFileSync(path.join(binDir, "kube-score"), args, { encoding: "utf8" }));
    } catch (e) {
        const out = (e as { stdout?: string }).stdout;
        if (!out) throw e;
        return criticalFindings(out);
    }
}

if (require.main === module) {
    const dir = process.argv[2];
    if (!dir) {
        console.error("usage: npm run score -- <directory of rendered manifests>");
        process.exit(2);
    }
    const findings = score(dir);
    for (const f of findings) {
        const reason = KUBE_SCORE_EXCEPTIONS[f.check];
        console.log(`${reason ? "accepted" : "CRITICAL"}  ${f.object}  ${f.check}: ${reason ?? f.comment}`);
    }
    const open = unexcused(findings);
    console.log(`${findings.length} critical findings, ${open.length} not accepted`);
    process.exit(open.length ? 1 : 0);
}
