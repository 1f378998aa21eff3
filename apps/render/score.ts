// kube-score (built by the toolchain, pinned) on rendered manifests: CRITICAL findings fail review
// unless listed here, each with the reason it does not apply. One place, read by `npm run score` and
// the tests.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { binDir } from "../../toolchain/index";

/** kube-score check id → why its CRITICAL finding is accepted for Cytomine's manifests. */
export const KUBE_SCORE_EXCEPTIONS: Record<string, string> = {
    "container-image-pull-policy":
        "images are pinned to a version (policy pinned-images), so a cached image is the one asked for; " +
        "Always would make every restart depend on the registry",
    "container-resources":
        "its one CRITICAL is the missing CPU limit, left out on purpose: CPU limits throttle start-up " +
        "(core's JVM, Keycloak) and image conversion; CPU requests reserve capacity and memory limits bound memory",
};

export interface Finding {
    object: string;
    check: string;
    comment: string;
}

/** kube-score's JSON output (`-o json`): one entry per object, each with its checks. */
interface ScoredObject {
    object_name: string;
    type_meta: { kind: string };
    checks: { check: { id: string }; grade: number; skipped: boolean; comments: { summary: string }[] | null }[];
}

/** kube-score grades: 1 is CRITICAL (5 WARNING, 10 ALL OK). */
const CRITICAL = 1;

function criticalFindings(json: string): Finding[] {
    const scored = JSON.parse(json) as ScoredObject[];
    return scored.flatMap((o) =>
        o.checks
            .filter((c) => !c.skipped && c.grade === CRITICAL)
            .map((c) => ({
                object: `${o.type_meta.kind}/${o.object_name}`,
                check: c.check.id,
                comment: (c.comments ?? []).map((m) => m.summary).join("; "),
            })),
    );
}

/** The findings no exception covers. */
export function unexcused(findings: Finding[], exceptions = KUBE_SCORE_EXCEPTIONS): Finding[] {
    return findings.filter((f) => exceptions[f.check] === undefined);
}

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
