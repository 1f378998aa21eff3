// Benchmarks that print figures (never assertions):
//   - local environment start: cold (empty state), restart (stopped cluster, augmented Keycloak), warm (running)
//   - one tenant on the local environment (identity + Cytomine on Kubernetes, the dev program): first
//     `pulumi up` and `pulumi preview` with no changes, against the engine's floor (an empty program)
// Uses its own state folder and ports, so a running dev environment is left alone.
//   npm run bench
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ensureEnvironment, stopEnvironment } from "../lib/localenv";
import { envSettings } from "../lib/localenv/settings";
import { repoRoot } from "../lib/toolchain";
import { ConfigValue, projectConfig } from "../lib/project-config";
import { createEphemeralStack, disposeEphemeralStack } from "../lib/automation";

interface Row {
    what: string;
    seconds: number[];
}

async function time(fn: () => Promise<unknown>): Promise<number> {
    const t0 = process.hrtime.bigint();
    await fn();
    return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function repeat(n: number, fn: () => Promise<unknown>): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(await time(fn));
    return out;
}

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
}

async function environmentRows(): Promise<Row[]> {
    const s = envSettings({
        CYTOMINE_ENV_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "bench-env-")),
        CYTOMINE_ENV_KEYCLOAK_PORT: "28080",
        CYTOMINE_ENV_KEYCLOAK_MANAGEMENT_PORT: "29000",
        CYTOMINE_ENV_KUBE_PORT: "26443",
        CYTOMINE_ENV_SSH_PORT: "22222",
    });
    try {
        const cold = await time(() => ensureEnvironment(s));
        const warm = await repeat(3, () => ensureEnvironment(s));
        await stopEnvironment(s);
        const restart = await time(() => ensureEnvironment(s));
        return [
            { what: "environment start, cold (empty state)", seconds: [cold] },
            { what: "environment start, after env:down", seconds: [restart] },
            { what: "environment start, already running", seconds: warm },
        ];
    } finally {
        await stopEnvironment(s, true);
        fs.rmSync(s.stateDir, { recursive: true, force: true });
    }
}

async function previewRows(): Promise<Row[]> {
    const env = await ensureEnvironment();
    const rows: Row[] = [];
    const programs: { what: string; workDir: string; config: Record<string, ConfigValue> }[] = [
        {
            what: "no-op preview, empty program (engine floor)",
            workDir: path.join(repoRoot, "test/fixtures/empty"),
            config: {},
        },
        {
            what: "no-op preview, one tenant (identity + Cytomine on Kubernetes)",
            workDir: repoRoot,
            config: projectConfig(env, "bench").config,
        },
    ];
    for (const p of programs) {
        const e = await createEphemeralStack({ ...p, env: { KUBECONFIG: env.kube.kubeconfig } });
        try {
            const up = await time(() => e.stack.up({ color: "never" }));
            rows.push({ what: p.what.replace("no-op preview", "first up"), seconds: [up] });
            rows.push({ what: p.what, seconds: await repeat(3, () => e.stack.preview({ color: "never" })) });
        } finally {
            await disposeEphemeralStack(e);
        }
    }
    return rows;
}

async function main(): Promise<void> {
    const only = process.argv[2];
    const rows = [
        ...(only !== "preview" ? await environmentRows() : []),
        ...(only !== "env" ? await previewRows() : []),
    ];
    const width = Math.max(...rows.map((r) => r.what.length));
    console.log(`${"benchmark".padEnd(width)}  median s  runs`);
    for (const r of rows) {
        console.log(
            `${r.what.padEnd(width)}  ${median(r.seconds).toFixed(1).padStart(8)}  ${r.seconds.map((x) => x.toFixed(1)).join(" ")}`,
        );
    }
    console.log(`(${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version})`);
}

main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
});
