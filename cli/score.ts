// npm run score -- <dir>: kube-score on rendered manifests; fails on a CRITICAL finding that
// apps/render/score.ts does not list with a reason.
import { KUBE_SCORE_EXCEPTIONS, score, unexcused } from "../apps/render/score";

function main(): number {
    const dir = process.argv[2];
    if (!dir) {
        console.error("usage: npm run score -- <directory of rendered manifests>");
        return 2;
    }
    const findings = score(dir);
    for (const f of findings) {
        const reason = KUBE_SCORE_EXCEPTIONS[f.check];
        console.log(`${reason ? "accepted" : "CRITICAL"}  ${f.object}  ${f.check}: ${reason ?? f.comment}`);
    }
    const open = unexcused(findings);
    console.log(`${findings.length} critical findings, ${open.length} not accepted`);
    return open.length ? 1 : 0;
}

process.exitCode = main();
